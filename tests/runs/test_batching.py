"""Short jobs go several to a Dask task; long ones one each, under their own keys."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import dask
import pandas as pd
import pytest
from distributed import get_task_stream

from deploy.clusters import open_executor
from forecasting.runs.batching import MIN_BATCH, MIN_OBSERVED, BatchPlan, batch_key, run_batch
from forecasting.runs.executors import DaskExecutor
from forecasting.runs.outcomes import RegionFailure


@dataclass(frozen=True)
class Job:
    region: str
    seconds: float = 0.0
    fails: str = ""  # "io": always an OSError; "exit": the worker process dies

    @property
    def key(self):
        return f"job-{self.region}"


def sleepy(job: Job):
    if job.fails == "exit":
        os._exit(1)
    if job.fails == "io":
        raise OSError(f"disk gone under {job.region}")
    if job.seconds:
        time.sleep(job.seconds)
    return ("done", job.region, os.getpid())


class FlakyOnce:
    """Raises a transient error on the first call for each region, then succeeds (one process)."""

    def __init__(self):
        self.seen = set()

    def __call__(self, job):
        if job.region not in self.seen:
            self.seen.add(job.region)
            raise OSError("hiccup")
        return ("done", job.region)


def test_no_batch_before_enough_jobs_finished_nor_for_long_jobs():
    plan = BatchPlan(target_s=0.5)
    for _ in range(MIN_OBSERVED - 1):
        plan.observe(0.001)
        assert plan.size(remaining=1000, threads=2) == 1
    plan.observe(0.001)
    assert plan.size(remaining=1000, threads=2) > 1
    slow = BatchPlan(target_s=0.5)
    for _ in range(10):
        slow.observe(0.13)  # a batch of the target's length would hold fewer than MIN_BATCH jobs
    assert 0.13 * MIN_BATCH > 0.5 and slow.size(remaining=1000, threads=2) == 1


@pytest.mark.parametrize("job_s", [0.0, 0.001, 0.02, 0.1])
def test_batches_take_about_the_target_and_shrink_towards_the_end(job_s):
    plan = BatchPlan(target_s=0.5, max_batch=64)
    for _ in range(10):
        plan.observe(job_s)
    big = plan.size(remaining=10_000, threads=2)
    assert MIN_BATCH <= big <= 64
    if job_s:
        assert big * job_s <= 0.5
    for remaining in (200, 40, 9, 3, 1):
        assert plan.size(remaining, threads=2) <= max(1, math.ceil(remaining / 8))
    assert plan.size(remaining=1, threads=2) == 1
    assert BatchPlan(max_batch=1).size(10_000, 2) == 1


def test_a_worker_first_slow_job_does_not_stop_batching():
    plan = BatchPlan(target_s=0.5)
    for seconds in (2.0, 0.001, 0.001):  # the first one imported the libraries
        plan.observe(seconds)
    assert plan.size(remaining=1000, threads=2) > 1


def test_a_batch_retries_transient_errors_in_place_and_records_what_still_fails():
    flaky = FlakyOnce()
    out = run_batch([Job("a"), Job("b")], flaky, in_place_retries=1)
    assert [o for o, _ in out] == [("done", "a"), ("done", "b")]
    out = run_batch([Job("c"), Job("d", fails="io")], sleepy, in_place_retries=2)
    (ok, _), (failure, seconds) = out
    assert ok[:2] == ("done", "c")
    assert isinstance(failure, RegionFailure) and failure.retryable and failure.region == "d"
    assert "disk gone" in failure.message and "sleepy" in failure.traceback and seconds >= 0


def test_short_jobs_share_dask_tasks_and_each_gets_its_own_outcome():
    jobs = [Job(f"r{i:04d}") for i in range(400)]
    with open_executor("local", workers=2) as executor, get_task_stream(executor.client) as stream:
        outcomes = list(executor.run(sleepy, jobs))
    assert sorted(o[1] for o in outcomes) == [j.region for j in jobs]  # one outcome per job, none lost or doubled
    keys = [rec["key"] for rec in stream.data]
    batches = [k for k in keys if str(k).startswith("batch-")]
    assert batches and len(keys) < len(jobs) / 4
    assert sum(int(str(k).split("-")[1]) for k in batches) + len(keys) - len(batches) == len(jobs)


def test_long_jobs_are_one_dask_task_each_under_their_own_key():
    jobs = [Job(f"r{i}", seconds=0.4) for i in range(8)]
    with open_executor("local", workers=2) as executor, get_task_stream(executor.client) as stream:
        outcomes = list(executor.run(sleepy, jobs))
    assert sorted(o[1] for o in outcomes) == [j.region for j in jobs]
    assert sorted(rec["key"] for rec in stream.data) == sorted(j.key for j in jobs)


def test_max_batch_one_keeps_a_dask_task_per_job():
    jobs = [Job(f"r{i:03d}") for i in range(60)]
    with open_executor("local", workers=2) as local, get_task_stream(local.client) as stream:
        outcomes = list(DaskExecutor(local.client, max_batch=1).run(sleepy, jobs))
    assert len(outcomes) == 60
    assert sorted(rec["key"] for rec in stream.data) == sorted(j.key for j in jobs)


def test_a_job_that_kills_its_worker_sinks_only_itself():
    jobs = [Job(f"r{i:03d}") for i in range(200)]
    jobs[120] = Job("r120", fails="exit")
    # Dask's default allowed-failures (3): the job is tried four times, and
    # kills a worker each time, before the scheduler gives up on it.  Dask
    # counts a death against every task sent to that worker, so a neighbour
    # queued behind the killer four times would fail too (RELIABILITY.md);
    # worker-saturation 1.0 sends a single-threaded worker one task at a
    # time, as the memory-leak test does, so only the killer is counted.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}), \
            open_executor("local", workers=2) as executor:
        outcomes = {(o.region if isinstance(o, RegionFailure) else o[1]): o for o in executor.run(sleepy, jobs)}
    assert sorted(outcomes) == sorted(j.region for j in jobs)
    failed = {r: o for r, o in outcomes.items() if isinstance(o, RegionFailure)}
    assert list(failed) == ["r120"] and failed["r120"].error_type == "KilledWorker"


def test_batch_keys_are_never_a_job_key():
    jobs = [Job("a"), Job("b")]
    assert batch_key(jobs) not in {j.key for j in jobs} and batch_key(jobs) == batch_key(list(jobs))


def test_batched_nightly_jobs_give_the_serial_forecasts_bit_for_bit(tmp_path):
    from forecasting.config.forecast import ForecastConfig
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
    from forecasting.runs.nightly import run_nightly
    from forecasting.store.runs import ResultsStore

    cache = tmp_path / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=40, days=28, freq="h", seed=5), cache)
    config = ForecastConfig.from_dict({"horizon": "2D", "models": {"seasonal_naive": {}}})  # jobs of milliseconds
    frames = {}
    for cluster in ("serial", "local"):
        with open_executor(cluster, workers=2) as executor:
            if cluster == "local":
                # Batches of up to 4 s: jobs of a few hundred ms on a loaded machine are still batched.
                executor = DaskExecutor(executor.client, batch_target_s=4.0)
                with get_task_stream(executor.client) as stream:
                    summary = run_nightly(cache, tmp_path / cluster, executor, config, cluster=cluster)
                assert any(str(rec["key"]).startswith("batch-") for rec in stream.data)  # jobs did share Dask tasks
            else:
                summary = run_nightly(cache, tmp_path / cluster, executor, config, cluster=cluster)
        assert summary.n_failed == 0 and summary.n_regions == 40
        store = ResultsStore(summary.store)
        try:
            frames[cluster] = store.forecasts(summary.run_id).drop(columns="run_id")
        finally:
            store.close()
    assert len(frames["serial"]) > 0
    pd.testing.assert_frame_equal(frames["serial"], frames["local"], check_exact=True)
