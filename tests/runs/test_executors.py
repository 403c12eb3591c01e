"""Executors: the same outcomes serially and on a real Dask LocalCluster."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from dask.utils import parse_timedelta

from deploy.clusters import open_executor
from deploy.dask_settings import CLUSTER_DASK_CONFIG
from forecasting.runs.executors import serial_requested
from forecasting.runs.outcomes import RegionFailure


@dataclass(frozen=True)
class FakeTask:
    region: str
    marker_dir: str
    run_date: str = "2024-01-01"

    @property
    def key(self):
        return f"test-{self.marker_dir}-{self.region}"

    def compute(self):
        return flaky_job(self)


def flaky_job(task: FakeTask):
    """Fails with an I/O error on its first attempt, then succeeds."""
    marker = Path(task.marker_dir) / task.region
    if task.region.startswith("flaky") and not marker.exists():
        marker.touch()
        raise OSError("transient: disk hiccup")
    if task.region.startswith("broken"):
        raise OSError("permanent: disk gone")
    return ("done", task.region, os.getpid())


@pytest.mark.parametrize("cluster", ["serial", "local"])
def test_transient_errors_are_retried_and_permanent_ones_recorded(cluster, tmp_path):
    tasks = [FakeTask(name, str(tmp_path)) for name in ("ok1", "flaky1", "broken1", "ok2")]
    with open_executor(cluster, workers=2, retries=1) as executor:
        outcomes = {}
        for outcome in executor.run(flaky_job, tasks):
            region = outcome.region if isinstance(outcome, RegionFailure) else outcome[1]
            outcomes[region] = outcome
    assert set(outcomes) == {"ok1", "flaky1", "broken1", "ok2"}
    assert outcomes["flaky1"][0] == "done"
    failure = outcomes["broken1"]
    assert isinstance(failure, RegionFailure)
    assert failure.error_type == "OSError" and "disk gone" in failure.message
    assert "flaky_job" in failure.traceback
    assert failure.retryable  # I/O that kept failing may not fail next time


def test_local_workers_are_single_threaded_processes(monkeypatch):
    # A nanny started earlier in this process may have left Dask's default in os.environ.
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with open_executor("local", workers=2) as executor:
        client = executor.client
        assert sorted(client.nthreads().values()) == [1, 1]
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        # The workers run under the project's Dask settings (deploy.dask_settings).
        settings = client.run(_dask_settings, list(CLUSTER_DASK_CONFIG))
        assert all(got == CLUSTER_DASK_CONFIG for got in settings.values())
        # glibc's adaptive malloc thresholds, not Dask's MALLOC_TRIM_THRESHOLD_ (deploy/dask_settings.py).
        assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
        tick_ms = client.run_on_scheduler(_tick_ms)
        assert tick_ms == 1000 * parse_timedelta(CLUSTER_DASK_CONFIG["distributed.admin.tick.interval"])


def _tick_ms(dask_scheduler):
    return dask_scheduler.periodic_callbacks["tick"].callback_time


def _dask_settings(keys):
    import dask

    return {key: dask.config.get(key) for key in keys}


def test_serial_switch(monkeypatch):
    monkeypatch.setenv("FORECASTING_SERIAL", "1")
    assert serial_requested()
    monkeypatch.setenv("FORECASTING_SERIAL", "0")
    assert not serial_requested()


@dataclass(frozen=True)
class InnerLoopTask:
    """A job whose model runs a joblib loop with n_jobs=-1, like many sklearn estimators."""

    region: str
    config: object
    key: str = "inner-loop"

    def compute(self):
        import time

        from joblib import Parallel, delayed
        from joblib.parallel import get_active_backend

        def where(i):
            time.sleep(0.05)
            return os.getpid()

        backend, _ = get_active_backend()
        pids = set(Parallel(n_jobs=-1)(delayed(where)(i) for i in range(16)))
        return os.getpid(), type(backend).__name__, pids


@pytest.mark.parametrize("cluster", ["serial", "local"])
def test_inner_joblib_loops_stay_in_the_task_by_default(cluster):
    from forecasting.config.forecast import ForecastConfig
    from forecasting.runs.tasks import run_task

    with open_executor(cluster, workers=2) as executor:
        (outcome,) = list(executor.run(run_task, [InnerLoopTask("r", ForecastConfig())]))
    task_pid, backend, inner_pids = outcome
    assert backend == "SequentialBackend"
    assert inner_pids == {task_pid}  # no loky processes behind the worker's back


def test_inner_joblib_loops_can_run_on_the_cluster():
    from forecasting.config.forecast import ForecastConfig
    from forecasting.runs.tasks import run_task

    with open_executor("local", workers=2) as executor:
        worker_pids = set(executor.client.run(os.getpid).values())
        (outcome,) = list(executor.run(run_task, [InnerLoopTask("r", ForecastConfig(inner_parallelism="dask"))]))
    task_pid, backend, inner_pids = outcome
    assert backend == "DaskDistributedBackend"
    # The task's worker seceded while it waited: every worker ran inner iterations, not only the task's own.
    assert inner_pids == worker_pids and task_pid in worker_pids
