"""Faults on a real local Dask cluster: a region that leaks memory, a worker killed mid-run.

Nothing here is mocked: the cluster is a ``distributed.LocalCluster`` with
Nanny worker processes, the jobs are the project's own ``run_task`` over
``RegionTask`` descriptors read from a real SQLite cache, and the faults are
real (a job that allocates memory until its nanny kills the worker, a
``SIGKILL`` sent to a worker process).

The leak is injected the way bad data would arrive: one region's cache holds
a marker value, and a test-only model family (registered in the model
registry from this module, on the driver and, through a worker plugin, on
every worker and every restarted worker) keeps allocating memory when it
sees it.  Every other region is forecast by that same model exactly like
``seasonal_naive``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from deploy.clusters import open_executor
from forecasting.config.forecast import ForecastConfig
from forecasting.models.spec import ModelSpec
from forecasting.runs.nightly import run_nightly
from forecasting.runs.tasks import RegionTask, run_task
from forecasting.models import MODELS
from forecasting.models.naive import SeasonalNaive
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"  # the day after the synthetic fixture's last day of history
LEAKY_REGION = "r003"
#: An order count no synthetic region reaches: the leaky model's trigger.
MARKER = 7_777_777.0
WORKER_MEMORY = 600 * 2**20


class LeakOnMarker(SeasonalNaive, register=False):
    """``seasonal_naive``, except that a history containing ``marker`` makes it leak memory forever."""

    name = "test_leak_on_marker"

    def __init__(self, *, season: str = "7D", n_seasons: int = 8, marker: float = MARKER):
        super().__init__(season=season, n_seasons=n_seasons)
        self.marker = marker

    def fit(self, y, X, horizon):
        if (y == self.marker).any():
            hoard = []
            while True:  # until the nanny terminates this process
                hoard.append(np.ones(16 * 2**20 // 8))  # 16 MiB, touched
                time.sleep(0.02)
        return super().fit(y, X, horizon)


@pytest.fixture
def leak_model():
    """The test-only family, known to this process for one test only (other
    tests list the registry); workers learn it from the plugin below."""
    MODELS.setdefault(LeakOnMarker.name, LeakOnMarker)
    try:
        yield LeakOnMarker.name
    finally:
        MODELS.pop(LeakOnMarker.name, None)


class RegisterTestModels(WorkerPlugin):
    """Make the test-only model family known on every worker, restarted ones included."""

    name = "register-test-models"

    def setup(self, worker):
        MODELS.setdefault(LeakOnMarker.name, LeakOnMarker)


@pytest.fixture(scope="module")
def leaky_cache(tmp_path_factory, synthetic_cache):
    """The synthetic cache with the marker in one slot of one region's history."""
    path = tmp_path_factory.mktemp("leaky") / "cache.sqlite"
    shutil.copy(synthetic_cache, path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE orders SET orders = ? WHERE region = ? AND ts = (SELECT max(ts) FROM orders WHERE region = ?)",
            (MARKER, LEAKY_REGION, LEAKY_REGION),
        )
    conn.close()
    return path


@pytest.mark.slow
def test_a_region_leaking_memory_fails_alone_with_a_clear_reason(leaky_cache, tmp_path, leak_model):
    settings = {
        "distributed.scheduler.allowed-failures": 1,  # the region may kill two workers, then it is failed
        "distributed.worker.memory.terminate": 0.95,
        # One task per single-threaded worker at a time, so that a dying worker
        # takes no queued bystander down with it (each death counts against
        # every task the scheduler had assigned to that worker).
        "distributed.scheduler.worker-saturation": 1.0,
    }
    config = ForecastConfig(horizon="3D", models=(ModelSpec(LeakOnMarker.name),))
    with dask.config.set(settings):
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY, dashboard_address=":0"
        ) as cluster, Client(cluster) as client:
            client.register_plugin(RegisterTestModels())
            with open_executor(cluster.scheduler_address, retries=0) as executor:
                summary = run_nightly(leaky_cache, tmp_path / "out", executor, config, run_date=RUN_DATE, cluster="local")
            restarts = client.get_events("worker-restart-memory")

    assert summary.n_regions == 6 and summary.n_ok == 5 and summary.n_failed == 1
    (failure,) = summary.failures
    assert failure.region == LEAKY_REGION and failure.error_type == "KilledWorker"
    assert len(restarts) == 2  # the nanny restarted a worker for each of the two attempts
    assert "died 2 times: its job went over the worker's memory limit" in failure.message, failure.message

    store = ResultsStore(summary.store)
    try:
        rows = store.region_outcomes(summary.run_id).set_index("region")
        forecasts = store.forecasts(summary.run_id)
    finally:
        store.close()
    assert rows.loc[LEAKY_REGION, "status"] == "failed"
    assert rows.loc[LEAKY_REGION, "error_type"] == "KilledWorker"
    assert "memory limit" in rows.loc[LEAKY_REGION, "message"]
    assert (rows.drop(LEAKY_REGION)["status"] == "ok").all()
    assert set(forecasts.region) == set(rows.index) - {LEAKY_REGION}
    failures_csv = (summary.folder / "failures.csv").read_text()
    assert LEAKY_REGION in failures_csv and "memory limit" in failures_csv


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_gives_every_region_exactly_one_forecast(synthetic_cache, fast_config):
    tasks = [RegionTask(f"r{i:03d}", str(synthetic_cache), RUN_DATE, fast_config, "killtest") for i in range(6)]
    outcomes, killed = [], None
    with open_executor("local", workers=2, retries=fast_config.retries) as executor:
        client = executor.client
        pids = client.run(os.getpid)
        for outcome in executor.run(run_task, tasks):
            outcomes.append(outcome)
            if killed is None:
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    killed = busy[0]
                    os.kill(pids[killed], signal.SIGKILL)
        assert killed is not None, "no worker was busy to be killed"
        assert killed not in client.scheduler_info()["workers"]
        # The nanny replaced the killed worker.
        client.wait_for_workers(2, timeout=30)
    by_region = {o.region: o for o in outcomes}
    assert len(outcomes) == len(by_region) == 6  # exactly one outcome per region
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
