"""Output folders that cannot be written: a one-line error with a stable exit code, never a traceback.

* ``--out`` (or ``--log-dir``) that cannot be created: refused before anything starts, exit 2;
  likewise a report's ``--out`` that cannot be written.
* The run's files (``runs/<id>/``) that cannot be written after every region was
  stored: exit 5, the store keeps the run and ``--resume`` writes the files; likewise a
  backtest's reports, which running the same backtest again writes.

Folder permissions do not stop root (these tests may run as root), so the
failure is made a way that stops everyone: a path under a regular file.  The
permission variant runs only when the tests do not run as root.
"""

from __future__ import annotations


import pytest

from forecasting import errors
from forecasting.cli.main import main
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"  # the day after the synthetic cache's last day


def _run_args(cache, out, *extra, command="run"):
    args = ["--log-level", "WARNING", command, "--cache", str(cache), "--out", str(out), "--cluster", "serial",
            "--regions", "r000,r001", "--horizon", "2D", "--models", "seasonal_naive", *extra]
    return args + (["--run-date", RUN_DATE] if command == "run" else ["--cutoffs", "1", "--no-plots"])


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("a regular file, no folder\n")
    return path


@pytest.mark.parametrize("command", ["run", "backtest"])
def test_an_out_folder_that_cannot_be_created_is_a_usage_error(command, capsys, synthetic_cache, a_file):
    out = a_file / "out"
    assert main(_run_args(synthetic_cache, out, command=command)) == errors.EXIT_USAGE
    assert _error_line(capsys) == f"forecasting: error: --out: cannot create the folder {out}: Not a directory"


def test_a_log_dir_that_cannot_be_created_names_its_flag(capsys, synthetic_cache, a_file, tmp_path):
    log_dir = a_file / "logs"
    assert main(_run_args(synthetic_cache, tmp_path / "out", "--log-dir", str(log_dir))) == errors.EXIT_USAGE
    assert _error_line(capsys) == f"forecasting: error: --log-dir: cannot create the folder {log_dir}: Not a directory"
    assert not (tmp_path / "out" / "results.sqlite").exists()  # refused before the run started


def test_run_files_that_cannot_be_written_exit_5_and_resume_writes_them(capsys, synthetic_cache, tmp_path):
    # A regular file where the run folders go: unwritable for root too (a
    # folder without write permission is not, and CI runs as root).
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs").write_text("a regular file where the run folders go\n")
    assert main(_run_args(synthetic_cache, out)) == errors.EXIT_STORE
    line = _error_line(capsys)

    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        (run_id,) = store.recent_runs().run_id
        run, rows = store.run(run_id), store.region_outcomes(run_id)
        locks = store.engine.connect().exec_driver_sql("SELECT run_id FROM run_locks").scalars().all()
    finally:
        store.close()
    folder = out / "runs" / run_id
    assert line == f"forecasting: error: writing the run's files to {folder} failed: [Errno 20] Not a directory: '{folder}'"
    # Every region is in the store; the run is closed as failed with the way to complete it, its lock released.
    assert (rows.status == "ok").all() and len(rows) == 2
    assert run["status"] == "failed" and run["message"].endswith(f"; complete it with --resume {run_id}")
    assert locks == []

    # Once the folder can be written, resuming recomputes nothing and writes the files.
    (out / "runs").unlink()
    assert main(["--log-level", "WARNING", "run", "--resume", run_id, "--out", str(out), "--cluster", "serial"]) == errors.EXIT_OK
    assert "SUCCEEDED" in capsys.readouterr().out
    assert {p.name for p in folder.iterdir()} == {"forecasts.csv", "failures.csv", "run.json"}


def test_a_report_that_cannot_be_written_is_a_usage_error(capsys, synthetic_cache, tmp_path, a_file):
    out = tmp_path / "out"
    assert main(_run_args(synthetic_cache, out)) == errors.EXIT_OK
    capsys.readouterr()
    html = a_file / "report.html"
    assert main(["report", "latest", "--results", str(out), "--out", str(html)]) == errors.EXIT_USAGE
    assert _error_line(capsys) == (
        f"forecasting: error: --out: cannot write the report to {html}: [Errno 17] File exists: '{a_file}'"
    )
    assert list(tmp_path.glob("**/.report.html.*.tmp")) == []  # nothing half-written left behind


def test_backtest_reports_that_cannot_be_written_exit_5_and_running_it_again_writes_them(capsys, synthetic_cache, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plots").write_text("a regular file where the plots go\n")
    args = _run_args(synthetic_cache, out, command="backtest")
    args.remove("--no-plots")
    assert main(args) == errors.EXIT_STORE
    assert _error_line(capsys) == (
        f"forecasting: error: writing the backtest's reports to {out} failed: [Errno 17] File exists: '{out / 'plots'}'; "
        "run the same backtest again to write them (its windows are not recomputed)"
    )
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        status, done = store.engine.connect().exec_driver_sql(
            "SELECT b.status, count(*) FROM backtests b JOIN backtest_tasks t USING (backtest_id) WHERE t.status = 'ok'"
        ).one()
    finally:
        store.close()
    assert status == "interrupted" and done == 2 * 3  # both regions' windows are stored (seasonal naive, zero, mean_week)

    (out / "plots").unlink()
    assert main(args) == errors.EXIT_OK
    assert f"{2 * 3} reused from before" in capsys.readouterr().out
    assert (out / "champions.csv").is_file() and (out / "plots" / "leaderboard.png").is_file()
