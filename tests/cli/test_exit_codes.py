"""The command's exit codes for what goes wrong outside a region: a bug (70), a cluster
that cannot be reached (4), a results store that cannot be written (5) or opened, or whose
run date another live run holds (2).

Each goes through ``main()`` and checks the code and the one line on standard error.
The faults are real (a port nothing listens on, a read-only database, a file that is no
database, a live process holding the lock), except the bug, which nothing real produces:
one of our own functions is made to raise.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import dask
import pytest

from forecasting import errors
from forecasting.cli.main import main
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"  # the day after the synthetic cache's last day
BUG_LINE = "forecasting: internal error (a bug): please report it with the traceback above"


def _run_args(cache, out, *extra, cluster="serial"):
    return ["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(out), "--cluster", cluster,
            "--regions", "r000,r001", "--run-date", RUN_DATE, "--horizon", "2D", "--models", "seasonal_naive", *extra]


def _error_line(capsys) -> str:
    """The one line on standard error (nothing else there)."""
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


def _runs(url):
    store = ResultsStore(url)
    try:
        return store.recent_runs(), store.engine.connect().exec_driver_sql("SELECT run_id FROM run_locks").scalars().all()
    finally:
        store.close()


def test_an_unexpected_exception_is_a_bug_with_its_traceback_then_one_line(monkeypatch, capsys, synthetic_cache, tmp_path):
    import forecasting.runs.nightly

    def broken_export(*args, **kwargs):
        raise RuntimeError("injected: export_run is broken")

    monkeypatch.setattr(forecasting.runs.nightly, "export_run", broken_export)
    assert main(_run_args(synthetic_cache, tmp_path)) == errors.EXIT_BUG
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == BUG_LINE  # the line last...
    assert "Traceback (most recent call last):" in err  # ...after the traceback, which ends with the exception
    assert err.index("Traceback (most recent call last):") < err.index("RuntimeError: injected: export_run is broken") == len(err) - 2
    assert any("broken_export" in line for line in err)  # the frame that raised
    # The run was closed as failed, naming the error and how to complete it, and its lock released.
    runs, locks = _runs(f"sqlite:///{tmp_path / 'results.sqlite'}")
    (run,) = runs.itertuples()
    assert run.status == "failed"
    assert run.message == f"RuntimeError: injected: export_run is broken; complete it with --resume {run.run_id}"
    assert locks == []


@pytest.fixture
def dask_config_restored():
    """Whatever main() or the test sets in Dask's global configuration is undone afterwards."""
    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


def test_a_scheduler_nobody_listens_at_exits_4(dask_config_restored, capsys, synthetic_cache, tmp_path):
    import distributed  # noqa: F401 - its defaults are in Dask's configuration from then on

    before = dask.config.get("distributed.comm.timeouts.connect")
    # Port 1 refuses connections: distributed retries until its connect timeout, Dask's own setting.
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(_run_args(synthetic_cache, tmp_path, cluster="tcp://127.0.0.1:1"))
    assert code == errors.EXIT_CLUSTER
    line = _error_line(capsys)
    assert line.startswith("forecasting: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 1s: "), line
    assert dask.config.get("distributed.comm.timeouts.connect") == before  # nothing leaks out of the block
    assert not (tmp_path / "results.sqlite").exists()  # refused before the run started


def test_a_store_that_cannot_be_written_exits_5(capsys, synthetic_cache, tmp_path):
    path = tmp_path / "results.sqlite"
    ResultsStore(f"sqlite:///{path}").close()  # a store with its tables...
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"  # ...opened read-only (works as root too)
    assert main(_run_args(synthetic_cache, tmp_path, "--store", read_only)) == errors.EXIT_STORE
    assert _error_line(capsys) == (
        f"forecasting: error: results store: cannot take the run lock for {RUN_DATE}: attempt to write a readonly database"
    )
    runs, locks = _runs(f"sqlite:///{path}")
    assert runs.empty and locks == []


def test_a_store_that_cannot_be_opened_is_a_usage_error(capsys, synthetic_cache, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("not a folder\n")
    url = f"sqlite:///{not_a_folder / 'results.sqlite'}"
    assert main(_run_args(synthetic_cache, tmp_path / "out", "--store", url)) == errors.EXIT_USAGE
    assert _error_line(capsys) == f"forecasting: error: --store: cannot open {url!r}: unable to open database file"

    corrupt = tmp_path / "corrupt" / "results.sqlite"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"these bytes are no SQLite database header" * 200)
    assert main(_run_args(synthetic_cache, corrupt.parent)) == errors.EXIT_USAGE
    assert _error_line(capsys) == f"forecasting: error: --store: cannot open 'sqlite:///{corrupt}': file is not a database"


HOLDER = textwrap.dedent("""
    import sys
    import sqlalchemy as sa
    from forecasting.store.lock import run_lock

    with run_lock(sa.create_engine(sys.argv[1]), "nightly", sys.argv[2], "run-held-elsewhere", heartbeat_every=0.2):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes our standard input
""")


def test_a_run_date_another_live_run_holds_is_refused_naming_it(capsys, synthetic_cache, tmp_path):
    url = f"sqlite:///{tmp_path / 'results.sqlite'}"
    ResultsStore(url).close()  # its tables, for the holder to lock
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, RUN_DATE], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(_run_args(synthetic_cache, tmp_path)) == errors.EXIT_USAGE
        line = _error_line(capsys)
        assert line.startswith(f"forecasting: error: another nightly run for {RUN_DATE} is in progress: "
                               f"run run-held-elsewhere (pid {holder.pid} on "), line
        assert line.endswith("wait for it, or check it with 'forecasting status run-held-elsewhere'")
        runs, locks = _runs(url)
        assert runs.empty and locks == ["run-held-elsewhere"]  # nothing started, the holder keeps its lock
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert _runs(url)[1] == []
