"""The leads of issue 17, side by side: where the local cluster's scheduler and workers live, the profiler.

``python -m bench.experiments.clusters nightly REGIONS MODES`` runs the nightly
workload (a year hourly, ``specs/nightly.yaml``) through ``run_nightly`` in
each mode in turn; ``python -m bench.experiments.clusters digits MODES`` the
digits search through ``DaskExecutor.run``.  Modes: ``serial``; ``ppe``
(digits only: a ``ProcessPoolExecutor``); ``localN`` (this project's local
cluster of N workers); ``localNnoprof`` (the same with Dask's profiler off);
``subN`` (``distributed.deploy.subprocess.SubprocessCluster``: scheduler and
workers each in a process of their own, nothing in the driver).  Prints wall
time, CPU utilisation and, for the nightly run, the sum and mean of the
regions' job times as the workers measured them.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


@contextlib.contextmanager
def executor(mode: str):
    import dask

    from deploy.clusters import open_executor
    from deploy.dask_settings import CLUSTER_DASK_CONFIG
    from forecasting.runs.executors import DaskExecutor

    if mode == "serial":
        with open_executor("serial") as e:
            yield e
        return
    n = int("".join(c for c in mode if c.isdigit()))
    opts = {"distributed.worker.profile.enabled": False} if "noprof" in mode else {}
    if mode.startswith("sub"):
        from distributed import Client
        from distributed.deploy.subprocess import SubprocessCluster

        for k, v in {**CLUSTER_DASK_CONFIG, **opts}.items():  # the subprocesses read Dask's config from the environment
            if v is not None:
                os.environ["DASK_" + k.upper().replace(".", "__").replace("-", "_")] = str(v)
        with SubprocessCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            yield DaskExecutor(client)
        return
    with dask.config.set(opts), open_executor("local", workers=n) as e:
        yield e


def nightly(regions: int, modes: list[str]) -> None:
    from bench.measure import Stopwatch, wait_until_idle
    from bench.nightly import warm
    from forecasting.config.forecast import load_config
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
    from forecasting.runs.nightly import run_nightly

    config = load_config(Path("specs/nightly.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=365, freq="h", seed=0), cache)
        for i, mode in enumerate(modes):
            wait_until_idle()
            with executor(mode) as e:
                if mode == "serial":
                    warm()
                else:
                    e.client.wait_for_workers(int("".join(c for c in mode if c.isdigit())))
                    warm(e.client)
                times, run = [], e.run

                def timed_run(fn, tasks, run=run):
                    for outcome in run(fn, tasks):
                        times.append(outcome.timings.get("total", float("nan")))
                        yield outcome

                e.run = timed_run
                with Stopwatch() as sw:
                    run_nightly(cache, tmp / f"{mode}-{i}", e, config, cluster=mode)
            print(f"{mode}: wall {sw.wall:.2f} s, CPU {sw.util:.0%}, jobs {sum(times):.1f} s "
                  f"(mean {statistics.mean(times):.3f} s)", flush=True)


def digits(modes: list[str]) -> None:
    from bench import digits as d
    from bench.measure import Stopwatch, wait_until_idle
    from forecasting.runs.tasks import run_task

    params, splits, tasks = d.workload()
    for mode in modes:
        wait_until_idle()
        if mode == "ppe":
            _, sw, _ = d._processpool(params, splits, tasks, 2)
        else:
            with executor(mode) as e:
                e.client.wait_for_workers(2)
                e.client.run(d.warm)
                jobs = [d.DigitsTask(f"digits-{i // 3}-{i % 3}", p, s) for i, (p, s) in enumerate(tasks)]
                with Stopwatch() as sw:
                    list(e.run(run_task, jobs))
        print(f"{mode}: wall {sw.wall:.2f} s, CPU {sw.util:.0%}", flush=True)


def main(argv: list[str]) -> None:
    from bench.measure import pin_blas_threads

    pin_blas_threads()
    if argv[0] == "nightly":
        nightly(int(argv[1]), argv[2].split(","))
    else:
        digits(argv[1].split(","))


if __name__ == "__main__":
    main(sys.argv[1:])
