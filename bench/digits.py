"""The digits SVC search: this project's engine against the tools people would otherwise use.

Train scikit-learn's ``SVC`` on ``load_digits`` for ``n_params`` parameter
sets (``ParameterSampler`` over log-spaced ``C``, ``gamma`` and ``tol``)
crossed with ``n_splits`` stratified cross-validation splits: one task per
(parameter set, split), 60 x 3 = 180 by default.  Every tool runs the same
module-level :func:`evaluate` (pickled by reference), on the same number of
worker processes with one thread each and one BLAS/OpenMP thread:

* ``serial``: a plain loop in this process;
* ``ProcessPoolExecutor``: ``concurrent.futures``, ``spawn`` start method,
  ``map(evaluate, tasks)`` (one task per call);
* ``joblib (loky)``: ``Parallel(n_jobs=W)(delayed(evaluate)(t) for t in tasks)``,
  joblib's default automatic batching;
* ``dask.bag``: ``from_sequence(params).product(from_sequence(splits)).map(evaluate)``
  on a ``distributed.LocalCluster`` (W single-threaded worker processes);
* ``pyspark local[W]``: ``parallelize(params).cartesian(parallelize(splits)).map(evaluate)``,
  one partition per parameter set and per split (one Spark task per pair, the
  same granularity as the others); skipped, and said so, when pyspark or
  Java 17 is missing (``pip install .[bench]``);
* ``engine``: this project's own submission path, the one the nightly run
  uses: ``DaskExecutor.run(run_task, tasks)`` on the local cluster
  ``deploy.clusters.open_executor("local")`` starts.

Start-up (pool or cluster start, then a warm-up task on every worker that
imports scikit-learn and loads the data) is timed apart from the compute,
which runs on warm workers; both are reported.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.measure import Stopwatch, add_speedups, make_row, rotated, run_record, timed, verdict, wait_until_idle

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = "digits SVC search"
GRID = {"C": np.logspace(-2, 3, 11), "gamma": np.logspace(-5, -1, 9), "tol": np.logspace(-5, -1, 5)}
PEERS = ("serial", "processpool", "joblib", "dask.bag", "pyspark", "engine")
LABELS = {
    "serial": "serial loop",
    "processpool": "concurrent.futures ProcessPoolExecutor",
    "joblib": "joblib Parallel (loky)",
    "dask.bag": "dask.bag on a LocalCluster",
    "pyspark": "PySpark local[N]",
    "engine": "this engine (DaskExecutor.run, local cluster)",
}
WARM_DELAY = 0.1  # every warm-up task sleeps this long, so that each worker gets one


@lru_cache(maxsize=1)
def _data():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def evaluate(task) -> float:
    """Fit ``SVC(**params)`` on a split's training rows; accuracy on its test rows.

    ``task`` is a ``(params, (train_index, test_index))`` pair, as every tool's
    cross product of parameter sets and splits yields it.
    """
    from sklearn.svm import SVC

    params, (train, test) = task
    X, y = _data()
    return float(SVC(**params).fit(X[train], y[train]).score(X[test], y[test]))


def warm(delay: float = WARM_DELAY) -> int:
    """Import scikit-learn and load the data in a worker, then wait a little."""
    from sklearn.svm import SVC  # noqa: F401

    _data()
    time.sleep(delay)
    return os.getpid()


def workload(n_params: int = 60, n_splits: int = 3, seed: int = 0):
    """The parameter sets, the splits and their cross product (parameter sets outer)."""
    from sklearn.model_selection import ParameterSampler, StratifiedKFold

    X, y = _data()
    params = [{k: float(v) for k, v in p.items()} for p in ParameterSampler(GRID, n_iter=n_params, random_state=seed)]
    splits = [(tr.astype(np.int32), te.astype(np.int32))
              for tr, te in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y)]
    return params, splits, [(p, s) for p in params for s in splits]


@dataclass(frozen=True, eq=False)
class DigitsTask:
    """One (parameter set, split) as a task of the engine: a key, a label and ``compute()``."""

    key: str
    params: dict
    split: tuple
    config: object = None  # run_task reads task.config.inner_parallelism when there is one

    @property
    def region(self) -> str:  # the engine labels failures with it
        return self.key

    def compute(self) -> float:
        return evaluate((self.params, self.split))


# --- the peers: start(workers) -> handle, compute(handle, ...) -> scores, stop(handle) ----------------

def _serial(params, splits, tasks, workers):
    with Stopwatch() as sw:
        scores = [evaluate(t) for t in tasks]
    return None, sw, scores


def _processpool(params, splits, tasks, workers):
    from concurrent.futures import ProcessPoolExecutor

    with timed() as startup:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            list(pool.map(warm, [WARM_DELAY] * workers))
        except BaseException:  # a pool that did not start is not left running
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    try:
        with Stopwatch() as sw:
            scores = list(pool.map(evaluate, tasks))
    finally:
        pool.shutdown(wait=True)
    return startup(), sw, scores


def _joblib(params, splits, tasks, workers):
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    with timed() as startup:
        parallel = Parallel(n_jobs=workers, backend="loky")
        try:
            parallel(delayed(warm)() for _ in range(workers))
        except BaseException:
            get_reusable_executor().shutdown(wait=True)
            raise
    try:
        with Stopwatch() as sw:
            scores = parallel(delayed(evaluate)(t) for t in tasks)
    finally:
        get_reusable_executor().shutdown(wait=True)
    return startup(), sw, scores


def _dask_bag(params, splits, tasks, workers):
    import dask.bag as db
    from distributed import Client, LocalCluster

    with timed() as startup:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = None
        try:
            client = Client(cluster)
            client.wait_for_workers(workers)
            client.run(warm)
        except BaseException:  # a cluster that did not get going is not left running
            if client is not None:
                client.close()
            cluster.close()
            raise
    try:
        with Stopwatch() as sw:
            bag = db.from_sequence(params).product(db.from_sequence(splits)).map(evaluate)
            scores = bag.compute()
    finally:
        client.close()
        cluster.close()
    return startup(), sw, scores


def spark_unavailable() -> str | None:
    """Why PySpark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install .[bench])"
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
    if not java or not os.path.exists(java):
        return "no Java runtime (PySpark needs Java 17: apt-get install openjdk-17-jre-headless)"
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"java -version failed: {exc}"
    version = out.split('"')[1] if '"' in out else "?"
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 17:
        return f"Java {version} found, PySpark needs 17 or later"
    return None


SPARK_LOG4J = Path(__file__).resolve().parent / "spark-log4j2.properties"


def _spark_env() -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local[N] only: no need to look for a network interface
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    path = os.environ.get("PYTHONPATH", "")
    if str(REPO) not in path.split(os.pathsep):  # Spark's Python workers import bench.digits by reference
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), path) if p)


def _pyspark(params, splits, tasks, workers):
    reason = spark_unavailable()
    if reason:
        raise PeerUnavailable(reason)
    from pyspark import SparkConf, SparkContext

    _spark_env()
    conf = (SparkConf().setMaster(f"local[{workers}]").setAppName("bench-digits")
            .set("spark.ui.enabled", "false").set("spark.python.worker.reuse", "true")
            .set("spark.driver.memory", "1g").set("spark.ui.showConsoleProgress", "false")
            .set("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{SPARK_LOG4J}"))
    try:
        with timed() as startup:
            sc = SparkContext(conf=conf)
            sc.setLogLevel("ERROR")
            sc.parallelize([WARM_DELAY] * workers, workers).map(warm).collect()
    except Exception as exc:  # noqa: BLE001 - a peer that cannot start is skipped, not fatal
        _stop_spark()
        raise PeerUnavailable(f"Spark did not start: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    try:
        with Stopwatch() as sw:
            rdd = sc.parallelize(params, len(params)).cartesian(sc.parallelize(splits, len(splits))).map(evaluate)
            scores = rdd.collect()
    finally:
        _stop_spark()
    return startup(), sw, scores


def _stop_spark() -> None:
    """Stop the SparkContext and its JVM, so that the next repeat starts from nothing too."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    gateway = SparkContext._gateway
    if sc is not None:
        sc.stop()
    if gateway is not None:
        proc = getattr(gateway, "proc", None)
        try:
            gateway.shutdown()
        except Exception:  # noqa: BLE001
            pass
        if proc is not None:  # the gateway JVM exits when its stdin closes
            try:
                proc.stdin.close()
                proc.wait(timeout=30)
            except Exception:  # noqa: BLE001
                proc.kill()
        SparkContext._gateway = None
        SparkContext._jvm = None


def _engine(params, splits, tasks, workers):
    from deploy.clusters import open_executor
    from forecasting.runs.tasks import run_task

    with timed() as startup:
        cm = open_executor("local", workers=workers)
        executor = cm.__enter__()
        try:
            executor.client.wait_for_workers(workers)
            executor.client.run(warm)
        except BaseException:
            cm.__exit__(*sys.exc_info())
            raise
    try:
        with Stopwatch() as sw:
            jobs = [DigitsTask(f"digits-{i // len(splits)}-{i % len(splits)}", p, s) for i, (p, s) in enumerate(tasks)]
            scores = list(executor.run(run_task, jobs))
    finally:
        cm.__exit__(None, None, None)
    bad = [s for s in scores if not isinstance(s, float)]
    if bad:
        raise RuntimeError(f"{len(bad)} task(s) failed, first: {bad[0]}")
    return startup(), sw, scores


class PeerUnavailable(RuntimeError):
    """The tool cannot start on this machine: its row says skipped, and why."""


RUNNERS = {"serial": _serial, "processpool": _processpool, "joblib": _joblib, "dask.bag": _dask_bag,
           "pyspark": _pyspark, "engine": _engine}


def main(repeats: int = 3, n_params: int = 60, n_splits: int = 3, workers: int = 2,
         peers: tuple[str, ...] = PEERS) -> dict:
    """Run every peer ``repeats`` times, return the result with its rows and targets.

    Repeats are interleaved (a slow spell of the machine hits every tool), the
    tools take turns going first, and each run starts on a quiet machine.
    """
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise ValueError(f"unknown peers {sorted(unknown)}; choose from {', '.join(PEERS)}")
    params, splits, tasks = workload(n_params, n_splits)
    label = f"{WORKLOAD} ({n_params} params x {n_splits} splits)"
    runs = {p: [] for p in peers}
    status = {p: ("ok", "") for p in peers}
    expected = None
    for rep in range(repeats):
        for peer in rotated(peers, rep):
            if status[peer][0] != "ok":
                continue
            wait_until_idle()
            try:
                startup, sw, scores = RUNNERS[peer](params, splits, tasks, 1 if peer == "serial" else workers)
            except PeerUnavailable as exc:
                status[peer] = ("skipped", str(exc))
                print(f"  {peer}: skipped: {exc}", flush=True)
                continue
            except Exception as exc:  # noqa: BLE001 - one broken peer never sinks the others
                status[peer] = ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                print(f"  {peer}: failed: {status[peer][1]}", flush=True)
                continue
            got = sorted(round(s, 12) for s in scores)
            expected = expected or got
            if got != expected:
                status[peer] = ("failed", "scores differ from the other tools'")
                continue
            runs[peer].append(run_record(startup, sw))
            print(f"  {peer} (repeat {rep + 1}/{repeats}): start-up {startup or 0:.2f}s, compute {sw.wall:.2f}s, "
                  f"CPU {sw.util:.0%}", flush=True)
    rows = [make_row(label, LABELS[p], 1 if p == "serial" else workers, runs[p], *status[p], key=p) for p in peers]
    rows = add_speedups(rows, baseline_tool=LABELS["serial"])
    from bench.report import machine, markdown_table, print_targets

    result = {"workload": label, "n_params": n_params, "n_splits": n_splits, "tasks": len(tasks), "workers": workers,
              "repeats": repeats, "rows": rows, "targets": targets(rows),
              "machine": machine(extra=("joblib", "psutil", "pyspark", "java"))}
    print(markdown_table(rows))
    print_targets(result["targets"])
    return result


#: Issue 17: the engine within 3 % of the fastest peer's compute time, or ahead of it.
WITHIN = 0.03


def targets(rows: list[dict]) -> list[dict]:
    """The issue's targets for the engine on this workload, compute only (warm workers)."""
    by = {r["key"]: r for r in rows}
    engine = by.get("engine")
    out = []
    if not engine or engine["status"] != "ok":
        return [{"target": "engine on the digits search", "result": "not measured", "ok": False}]
    if engine["speedup"] is not None:
        s = engine["speedup"]
        out.append({"target": "digits: engine speed-up >= 1.8 (compute only)", "value": s, "ok": s >= 1.8,
                    "result": verdict(s >= 1.8, f"{1.8 - s:.2f}")})
    peers = [r for r in rows if r["key"] not in ("serial", "engine") and r["status"] == "ok"]
    if peers:
        best = min(peers, key=lambda r: r["wall_s"])
        ratio = engine["wall_s"] / best["wall_s"]
        ok = ratio <= 1 + WITHIN
        out.append({"target": f"digits: engine within {WITHIN:.0%} of the fastest peer ({best['tool']})",
                    "value": round(ratio, 3), "ok": ok,
                    "result": verdict(ok, f"{(ratio - 1 - WITHIN) * 100:.1f} points: {ratio - 1:.1%} slower")})
    spark = by.get("pyspark")
    if spark and spark["status"] == "ok":
        ok = engine["wall_s"] < spark["wall_s"]
        out.append({"target": "digits: engine faster than PySpark", "value": round(engine["wall_s"] / spark["wall_s"], 3),
                    "ok": ok, "result": verdict(ok, f"{engine['wall_s'] / spark['wall_s'] - 1:.1%}")})
    elif spark:
        out.append({"target": "digits: engine faster than PySpark", "value": None, "ok": False,
                    "result": f"not measured (PySpark {spark['status']}: {spark['reason']})"})
    return out


def write(r: dict, command: str, benchmarks=None, results=None) -> None:
    """The ``peers`` section of BENCHMARKS.md, ``bench/results/peers.json`` and the speed-up plot."""
    from bench.report import BENCHMARKS, RESULTS, markdown_table, plot_speedups, replace_section, targets_text, write_json

    benchmarks, results = benchmarks or BENCHMARKS, results or RESULTS
    plot = plot_speedups(r["rows"], results / "peers-speedup.png", "Digits SVC search: speed-up over the serial loop")
    body = f"""## Digits SVC search: this engine vs the tools people would otherwise use

Command: `{command}`
({r['tasks']} tasks: scikit-learn `SVC` on `load_digits`, {r['n_params']} parameter sets (`ParameterSampler` over
log-spaced `C`, `gamma`, `tol`) x {r['n_splits']} stratified splits; {r['workers']} worker processes with one thread
and one BLAS/OpenMP thread each for every tool; median of {r['repeats']} run(s), tools interleaved, taking turns
going first, each started on a quiet machine).

Machine: {r['machine']}

{markdown_table(r['rows'])}

Every tool runs the same module-level function (`bench.digits.evaluate`, pickled by reference), one task per
(parameter set, split). "Start-up": creating the pool, cluster or SparkContext (a new JVM each repeat) until
every worker has run a warm-up task (import scikit-learn, load the data, sleep {WARM_DELAY} s). "Compute only":
the search on the warm workers, results back in the driver. CPU utilisation: CPU seconds of the whole process
tree (driver, workers, JVM) / (wall x cores). Targets are judged on compute only.

Targets:
{targets_text(r['targets'])}

Plot: `bench/results/{plot.name if plot else 'peers-speedup.png'}`.
"""
    replace_section("peers", body, benchmarks)
    write_json("peers", r, results)
