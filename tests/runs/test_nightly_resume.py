"""Resume, idempotence and the run lock, end to end on real SQLite and Dask.

The driver is killed with SIGKILL, the store is locked by another process or
fills its disk: each time the store stays consistent (a region is complete
or absent) and ``--resume`` completes the run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from deploy.clusters import open_executor
from forecasting.cli.main import main
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.runs.nightly import run_nightly
from forecasting.errors import EXIT_OK, EXIT_STORE, EXIT_USAGE, StoreError
from forecasting.runs.executors import SerialExecutor
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"


def _ledger(out: Path, run_id: str | None = None):
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        runs = store.recent_runs(100)
        run_id = run_id or runs.run_id.iloc[0]
        return runs, store.region_outcomes(run_id).set_index("region"), store.forecasts(run_id)
    finally:
        store.close()


def _all_forecasts(out: Path) -> pd.DataFrame:
    with sqlite3.connect(out / "results.sqlite") as conn:
        return pd.read_sql("SELECT f.run_id, f.region, f.ts, r.run_date FROM forecasts f JOIN runs r USING (run_id)", conn)


def _assert_one_complete_forecast_per_region(out: Path, regions, slots: int):
    frame = _all_forecasts(out)
    per_region = frame.groupby(["run_date", "region"]).agg(rows=("ts", "size"), runs=("run_id", "nunique"), slots=("ts", "nunique"))
    assert set(per_region.loc[RUN_DATE].index) == set(regions)
    assert (per_region.runs == 1).all() and (per_region.rows == slots).all() and (per_region.slots == slots).all()


def _assert_consistent(out: Path, run_id: str, slots: int):
    """A region is ok with a whole forecast, or not ok with none: never in between."""
    _, outcomes, frame = _ledger(out, run_id)
    counts = frame.groupby("region").size()
    for region, row in outcomes.iterrows():
        if row.status == "ok":
            assert counts.get(region) == slots, region
        else:
            assert region not in counts.index, region


# ----------------------------------------------------------- same date twice

def test_running_a_date_again_replaces_its_forecasts(synthetic_cache, fast_config, tmp_path):
    slots = 7 * 24
    first = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE)
    second = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r000", "r001"])
    frame = _all_forecasts(tmp_path)
    # r000 and r001 now come from the second run, the others still from the first: one set each.
    owner = frame.groupby("region").run_id.unique()
    assert list(owner["r000"]) == [second.run_id] and list(owner["r002"]) == [first.run_id]
    _assert_one_complete_forecast_per_region(tmp_path, [f"r{i:03d}" for i in range(6)], slots)
    # Another date is untouched by either.
    run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date="2024-03-03", regions=["r000"])
    assert set(_all_forecasts(tmp_path).run_date) == {RUN_DATE, "2024-03-03"}
    _assert_one_complete_forecast_per_region(tmp_path, [f"r{i:03d}" for i in range(6)], slots)


def test_a_failed_region_keeps_the_earlier_forecast_of_its_date(synthetic_cache, poisoned_cache, fast_config, tmp_path):
    first = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r001"])
    second = run_nightly(poisoned_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r001"])
    assert second.n_failed == 1
    assert set(_all_forecasts(tmp_path).run_id) == {first.run_id}


# ------------------------------------------------------------------- resume

def test_resume_recomputes_only_regions_that_are_not_ok(poisoned_cache, synthetic_cache, fast_config, tmp_path):
    first = run_nightly(poisoned_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE)
    assert first.n_failed == 2
    _, before, _ = _ledger(tmp_path, first.run_id)
    # The bad upstream load is fixed; complete the run on the repaired cache.
    resumed = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, resume=first.run_id)
    assert resumed.run_id == first.run_id and resumed.status == "succeeded" and resumed.n_ok == 6
    runs, after, _ = _ledger(tmp_path, first.run_id)
    assert len(runs) == 1 and runs.status.iloc[0] == "succeeded"
    for region in ("r001", "r004"):
        assert after.loc[region, "status"] == "ok" and after.loc[region, "attempts"] == 2
    done = before.index[before.status == "ok"]
    pd.testing.assert_series_equal(after.loc[done, "finished_at"], before.loc[done, "finished_at"])
    assert (after.loc[done, "attempts"] == 1).all()
    _assert_one_complete_forecast_per_region(tmp_path, after.index, 7 * 24)


def test_resume_refuses_a_run_that_a_later_run_of_its_date_replaced(synthetic_cache, fast_config, tmp_path):
    first = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r000"])
    run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r000"])
    from forecasting.errors import UsageError

    with pytest.raises(UsageError, match="resume that one instead"):
        run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, resume=first.run_id)


def test_resume_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["run", "--resume", "nope", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "no results store" in capsys.readouterr().err
    assert not (tmp_path / "results.sqlite").exists()
    assert main(["run", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "--cache is required" in capsys.readouterr().err


def _start_driver(cache: Path, out: Path, *extra) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "forecasting.cli.main", "run", "--cache", str(cache), "--out", str(out),
           "--run-date", RUN_DATE, *extra]
    # A session of its own, so the cluster processes it starts can be cleaned up too.
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for(predicate, proc, timeout=240.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) before {what}: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ok_regions(out: Path) -> set:
    path = out / "results.sqlite"
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            return {r for (r,) in conn.execute("SELECT region FROM region_runs WHERE status = 'ok'")}
    except sqlite3.OperationalError:  # tables not created yet, or busy
        return set()


@pytest.fixture(scope="module")
def slow_cache(tmp_path_factory):
    """16 regions of a year each: a local run takes long enough to be killed in the middle."""
    path = tmp_path_factory.mktemp("slow") / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=16, days=120, freq="h", seed=3), path)
    return path


@pytest.mark.slow
def test_driver_killed_with_sigkill_is_completed_by_resume(slow_cache, tmp_path, capsys):
    out = tmp_path / "out"
    driver = _start_driver(slow_cache, out, "--cluster", "local", "--workers", "2")
    try:
        _wait_for(lambda: len(_ok_regions(out)) >= 3, driver, what="three regions to finish")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        try:  # the local cluster's workers, orphaned by the kill
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        driver.stderr.close()
    runs, before, _ = _ledger(out)
    run_id = runs.run_id.iloc[0]
    assert runs.status.iloc[0] == "running"  # nobody could close it
    assert main(["status", run_id, "--out", str(out)]) == EXIT_OK
    assert "RUNNING (INTERRUPTED?)" in capsys.readouterr().out
    done = set(before.index[before.status == "ok"])
    assert 3 <= len(done) < 16
    slots = 28 * 24
    _assert_consistent(out, run_id, slots)

    assert main(["run", "--resume", run_id, "--out", str(out), "--cluster", "local", "--workers", "2"]) == EXIT_OK
    runs, after, _ = _ledger(out, run_id)
    assert len(runs) == 1 and runs.status.iloc[0] == "succeeded"
    assert (after.status == "ok").all()
    # Finished regions were not recomputed; every region has exactly one forecast.
    assert (after.loc[sorted(done), "attempts"] == 1).all()
    pd.testing.assert_series_equal(after.loc[sorted(done), "finished_at"], before.loc[sorted(done), "finished_at"])
    _assert_one_complete_forecast_per_region(out, after.index, slots)


@pytest.mark.slow
def test_two_drivers_for_one_date_one_wins_the_other_refuses(slow_cache, tmp_path, capsys):
    out = tmp_path / "out"
    first = _start_driver(slow_cache, out, "--cluster", "serial")
    try:
        _wait_for(lambda: len(_ok_regions(out)) >= 1, first, what="the first driver to get going")
        code = main(["run", "--cache", str(slow_cache), "--out", str(out), "--run-date", RUN_DATE, "--cluster", "serial"])
        err = capsys.readouterr().err
        assert code == EXIT_USAGE
        assert "another nightly run for 2024-03-04 is in progress" in err and "Traceback" not in err
        assert first.wait(timeout=600) == 0
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.stderr.close()
    runs, outcomes, _ = _ledger(out)
    assert len(runs) == 1  # the refused driver recorded nothing
    assert (outcomes.status == "ok").all()
    _assert_one_complete_forecast_per_region(out, outcomes.index, 28 * 24)


# --------------------------------------------------------------- store faults

class _AfterFirstOutcome(SerialExecutor):
    """Serial execution that calls ``hook`` once, after the first region is stored."""

    def __init__(self, hook):
        super().__init__()
        self.hook = hook

    def run(self, fn, tasks):
        for i, outcome in enumerate(super().run(fn, tasks)):
            if i == 1:  # the first outcome has been recorded by now
                self.hook()
            yield outcome


def test_a_store_locked_by_another_process_fails_the_run_cleanly_and_resume_completes_it(synthetic_cache, fast_config, tmp_path):
    blocker = sqlite3.connect(tmp_path / "results.sqlite", timeout=0, isolation_level=None, check_same_thread=False)

    def lock_the_store():
        blocker.execute("BEGIN EXCLUSIVE")

    with pytest.raises(StoreError, match="database is locked"):
        run_nightly(synthetic_cache, tmp_path, _AfterFirstOutcome(lock_the_store), fast_config, run_date=RUN_DATE,
                    store_timeout=0.5)
    # While it is locked nobody can read a half-written run; once released, nothing partial is there.
    blocker.execute("ROLLBACK")
    blocker.close()
    runs, outcomes, _ = _ledger(tmp_path)
    run_id = runs.run_id.iloc[0]
    assert (outcomes.status == "ok").sum() == 1
    _assert_consistent(tmp_path, run_id, 7 * 24)
    resumed = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, resume=run_id)
    assert resumed.status == "succeeded" and resumed.n_ok == 6
    _assert_one_complete_forecast_per_region(tmp_path, outcomes.index, 7 * 24)


#: Pages the full-disk test leaves the store past its empty tables: room for a
#: region or two of a 28-day hourly forecast, not for all six.
ROOM_PAGES = 60


@pytest.fixture
def small_disk(tmp_path):
    """An output folder whose results store fills up during the run, without privileges.

    SQLite's ``max_page_count`` caps the database file the way a full disk
    does: a write that needs a new page fails with SQLITE_FULL, "database or
    disk is full", rolled back like any failed write.  The cap is set on every
    connection that any engine opens to this store (the product's own, in the
    product's own code path) until the test frees the space with
    ``free_space()``; it is a per-connection setting, so the run after that
    opens an uncapped store.
    """
    out = tmp_path / "disk"
    out.mkdir()
    store = str((out / "results.sqlite").resolve())
    ResultsStore(f"sqlite:///{tmp_path / 'empty.sqlite'}").close()
    with sqlite3.connect(tmp_path / "empty.sqlite") as conn:  # the pages of the store's empty tables
        (empty,) = conn.execute("PRAGMA page_count").fetchone()
    conn.close()
    cap = {"pages": empty + ROOM_PAGES}

    def cap_the_store(dbapi_conn, _record):
        if cap["pages"] is not None and any(row[2] == store for row in dbapi_conn.execute("PRAGMA database_list")):
            dbapi_conn.execute(f"PRAGMA max_page_count = {cap['pages']}")

    def free_space():
        cap["pages"] = None

    sa.event.listen(sa.engine.Engine, "connect", cap_the_store)
    try:
        yield out, free_space
    finally:
        sa.event.remove(sa.engine.Engine, "connect", cap_the_store)


def test_a_full_disk_fails_the_run_cleanly_and_resume_completes_it_once_space_is_freed(synthetic_cache, tmp_path, small_disk, capsys):
    out, free_space = small_disk
    config = tmp_path / "config.yaml"
    config.write_text("forecasting:\n  horizon: 28D\n  models: [seasonal_naive]\n")
    code = main(["run", "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "serial",
                 "--run-date", RUN_DATE, "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_STORE
    assert err[-1].startswith("forecasting: error: results store") and "full" in err[-1]
    assert not any("Traceback" in line for line in err)
    runs, outcomes, _ = _ledger(out)
    run_id = runs.run_id.iloc[0]
    assert 0 < (outcomes.status == "ok").sum() < 6
    _assert_consistent(out, run_id, 28 * 24)
    free_space()
    assert main(["run", "--resume", run_id, "--out", str(out), "--cluster", "serial"]) == EXIT_OK
    runs, outcomes, _ = _ledger(out, run_id)
    assert runs.status.iloc[0] == "succeeded" and (outcomes.status == "ok").all()
    _assert_one_complete_forecast_per_region(out, outcomes.index, 28 * 24)


def test_resume_keeps_the_lock_of_a_killed_run_from_blocking_it(synthetic_cache, fast_config, tmp_path):
    """The lock row a SIGKILLed driver leaves is taken over by its resume (its pid is gone)."""
    import socket

    from forecasting.store.schema import run_locks

    first = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r000"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    with store.engine.begin() as conn:
        conn.execute(run_locks.insert(), [{"kind": "nightly", "run_date": RUN_DATE, "run_id": first.run_id,
                                           "host": socket.gethostname(), "pid": gone.pid,
                                           "acquired_at": time.time(), "heartbeat_at": time.time()}])
        conn.execute(sa.text("UPDATE runs SET status = 'running'"))
    store.close()
    resumed = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, resume=first.run_id)
    assert resumed.status == "succeeded"


def test_local_cluster_resume(tmp_path, synthetic_cache, fast_config):
    """--resume on a (new) local cluster: the task keys of a resumed run are fresh to it."""
    first = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, run_date=RUN_DATE, regions=["r000", "r002"])
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        conn.execute("UPDATE region_runs SET status = 'running' WHERE region = 'r002'")
        conn.execute("DELETE FROM forecasts WHERE region = 'r002'")
    conn.close()
    with open_executor("local", workers=1) as executor:
        resumed = run_nightly(synthetic_cache, tmp_path, executor, fast_config, resume=first.run_id)
    assert resumed.status == "succeeded"
    _, outcomes, _ = _ledger(tmp_path, first.run_id)
    assert outcomes.loc["r002", "attempts"] == 2
    assert outcomes.loc["r000", "attempts"] == 1


# ----------------------------------------------------------- scheduler death

class _DaskProcesses:
    """A ``dask scheduler`` and a ``dask worker`` process pair, as on a real cluster.

    The scheduler binds a free port itself (``--port 0``) and writes its
    address to a scheduler file, so no other program can take the port
    between choosing it and binding it.  If the pair does not come up, both
    processes are killed before the error goes on.
    """

    def __init__(self, tmp_path: Path, name: str):
        bindir = Path(sys.executable).parent
        scheduler_file = tmp_path / f"{name}-scheduler.json"
        self._log = open(tmp_path / f"{name}.log", "wb")
        self.scheduler = self.workers = None
        try:
            self.scheduler = subprocess.Popen(
                [bindir / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", scheduler_file],
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            self.workers = subprocess.Popen(
                [bindir / "dask", "worker", "--scheduler-file", scheduler_file, "--nworkers", "2", "--nthreads", "1",
                 "--no-dashboard"],
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 120
            while not scheduler_file.exists() and self.scheduler.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if not scheduler_file.exists():  # (a Client would wait for the file for good)
                raise RuntimeError(f"dask scheduler did not start (exit {self.scheduler.poll()}), see {self._log.name}")
            from distributed import Client

            with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
                client.wait_for_workers(2, timeout=60)
                self.address = client.scheduler.address
        except BaseException:
            self.close()
            raise

    def kill_scheduler(self):
        os.killpg(self.scheduler.pid, signal.SIGKILL)

    def close(self):
        for proc in (self.workers, self.scheduler):
            if proc is None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self._log.close()


@pytest.mark.slow
def test_scheduler_death_fails_the_run_clearly_and_resume_completes_it_on_a_new_cluster(slow_cache, tmp_path, capsys):
    out = tmp_path / "out"
    first = _DaskProcesses(tmp_path, "first")

    def kill_when_three_are_done():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(_ok_regions(out)) < 3:
            time.sleep(0.2)
        first.kill_scheduler()

    import threading

    killer = threading.Thread(target=kill_when_three_are_done, daemon=True)
    killer.start()
    try:
        code = main(["run", "--cache", str(slow_cache), "--out", str(out), "--run-date", RUN_DATE, "--cluster", first.address])
    finally:
        killer.join()
        first.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 4  # a cluster failure, not "too many regions failed"
    # Noticed, not hung: a run that waited on the dead scheduler for good would
    # meet pytest's --timeout instead of returning here.
    assert err[-1].startswith("forecasting: error: lost the Dask scheduler")
    runs, before, _ = _ledger(out)
    run_id = runs.run_id.iloc[0]
    assert runs.status.iloc[0] == "failed" and f"--resume {run_id}" in runs.message.iloc[0]
    done = sorted(before.index[before.status == "ok"])
    assert len(done) >= 3 and (before.status != "failed").all()  # no region was blamed for it
    _assert_consistent(out, run_id, 28 * 24)

    second = _DaskProcesses(tmp_path, "second")
    try:
        assert main(["run", "--resume", run_id, "--out", str(out), "--cluster", second.address]) == EXIT_OK
    finally:
        second.close()
    runs, after, _ = _ledger(out, run_id)
    assert runs.status.iloc[0] == "succeeded" and (after.status == "ok").all()
    assert (after.loc[done, "attempts"] == 1).all()
    _assert_one_complete_forecast_per_region(out, after.index, 28 * 24)
