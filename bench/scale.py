"""How the nightly driver scales with the number of regions: 100, 1,000 and 5,000 by default.

The workload is a cheap nightly run, so that what the driver itself costs
shows: the ``seasonal_naive`` model alone, 60 days of hourly synthetic
history, a 28-day horizon, through the real driver
(:func:`forecasting.runs.nightly.run_nightly`, results store and the run's
files included) on a local cluster of ``workers`` single-threaded workers
(``deploy.clusters.open_executor("local")``).  One synthetic cache of the
largest size is built once; a size of ``n`` runs its first ``n`` regions.

Each size runs in a fresh child process (``spawn``), which starts its own
cluster, imports the models on the workers, then times ``run_nightly``
alone.  Measured, per run:

* **wall time** of ``run_nightly`` (the cluster already started), and per region;
* **driver peak memory**: the child's peak resident set (``VmHWM`` of
  ``/proc/self/status``: the high-water mark of this process's own address
  space, cluster start included).  Not ``ru_maxrss``: Linux carries a
  parent's peak into a child through fork and exec, so a child's
  ``ru_maxrss`` is at least the benchmark's own;  on a local cluster the
  driver process also hosts the scheduler, the nannies and the client;
* **store writes**: every write transaction of the results store
  (:meth:`forecasting.store.database.Store._write`, wrapped with a clock in
  the child only), its time and its share of the wall time; store rows
  written per second is (forecast rows + region rows) / time spent in the
  writes that record outcomes;
* **driver time per region**: CPU time of the driving thread
  (``time.thread_time``) from the first to the last outcome of the driver
  loop (:func:`forecasting.runs.loop.drain`: handling results, logging,
  progress, writing them), plus the CPU time of the store writes that the
  loop hands to its writer thread, per region, against **a region's task time**:
  the mean of the regions' own job time (``RegionResult.timings["total"]``,
  stored as ``region_runs.duration_s``).  The driver process's CPU over
  all its threads (scheduler, nannies, client included) is reported beside it.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench import measure
from bench.measure import rotated, verdict, wait_until_idle
from bench.report import (BENCHMARKS, RESULTS, machine, print_targets, replace_section, save_figure, targets_text,
                          write_json)

SIZES = (100, 1000, 5000)
QUICK_SIZES = (5, 20)
DAYS = 60
HORIZON = "28D"
MODELS = ("seasonal_naive",)

#: Linear wall time: time per region at the largest size at most this many times that of the reference size.
LINEAR_MAX_RATIO = 1.25
#: Below this many regions a run is dominated by what every run pays once; it is no reference for linearity.
LINEAR_MIN_REFERENCE = 1000
DRIVER_MAX_SHARE = 0.05
MEMORY_MAX_MIB = 1024.0
#: Flat memory: the peak at the largest size at most this many times the peak at the smallest.
MEMORY_MAX_GROWTH = 1.25
STORE_MAX_SHARE = 0.10


def config():
    from forecasting.config.forecast import ForecastConfig

    return ForecastConfig.from_dict({"horizon": HORIZON, "models": list(MODELS)}, source="bench scale")


# ----------------------------------------------------------------------------- one size, in a child process


def _peak_rss_mib() -> float:
    """This process's own peak resident set (VmHWM), MiB; ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


@contextlib.contextmanager
def timed_store_writes():
    """Clock every write transaction of the results store (this process only).

    Yields ``{what: [count, seconds, cpu_seconds_off_main]}``: the last is the
    CPU time of the writes made on threads other than the main thread (the
    driver's store writer), which the driving thread's own clock misses.
    """
    import threading

    from forecasting.store.database import Store

    original = Store._write
    stats: dict[str, list] = {}
    main = threading.main_thread()

    @contextlib.contextmanager
    def _write(self, what):
        what = "recording outcomes" if "outcome" in what else what  # one, or a group of them
        t0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            with original(self, what) as conn:
                yield conn
        finally:
            entry = stats.setdefault(what, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - t0
            if threading.current_thread() is not main:
                entry[2] += time.thread_time() - cpu0

    Store._write = _write
    try:
        yield stats
    finally:
        Store._write = original


class TimedExecutor:
    """The executor the driver is handed, with a clock on its driver loop; everything else is the executor's.

    ``loop_cpu_s``: CPU time of the thread that iterates ``run`` (the driver
    loop's thread), from the first outcome asked for to the last; it counts
    what the loop does between outcomes too (writing, logging, progress).
    """

    def __init__(self, inner):
        self._inner = inner
        self.loop_cpu_s = 0.0
        self.loop_wall_s = 0.0
        self.outcomes = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, fn, tasks):
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        try:
            for outcome in self._inner.run(fn, tasks):
                self.outcomes += 1
                yield outcome
        finally:
            self.loop_cpu_s += time.thread_time() - cpu0
            self.loop_wall_s += time.perf_counter() - wall0


def measure_size(cache: str, out: str, regions: int, workers: int) -> dict:
    """One run of ``regions`` regions through ``run_nightly`` on a fresh local cluster (in this process)."""
    import sqlalchemy as sa

    from bench.measure import Stopwatch
    from bench.nightly import warm
    from deploy.clusters import open_executor
    from forecasting.data.cache import open_cache
    from forecasting.runs.nightly import run_nightly
    from forecasting.store.runs import ResultsStore
    from forecasting.store.schema import forecasts

    names = open_cache(cache).region_summaries().region.tolist()[:regions]
    cfg = config()
    t0 = time.perf_counter()
    with open_executor("local", workers=workers) as executor:
        executor.client.wait_for_workers(workers, timeout=600)
        warm(executor.client)
        startup = time.perf_counter() - t0
        rss_before = _rss_mib()
        timed = TimedExecutor(executor)
        cpu0 = time.process_time()
        with timed_store_writes() as writes, Stopwatch() as sw:
            summary = run_nightly(cache, out, timed, cfg, regions=names, cluster="local")
        driver_cpu = time.process_time() - cpu0
    peak = _peak_rss_mib()
    assert summary.n_failed == 0, summary.failures
    store = ResultsStore(summary.store)
    try:
        durations = store.region_outcomes(summary.run_id).duration_s.dropna().astype(float)
        with store.engine.connect() as conn:
            forecast_rows = conn.execute(sa.select(sa.func.count()).select_from(forecasts)
                                         .where(forecasts.c.run_id == summary.run_id)).scalar_one()
    finally:
        store.close()
    n = summary.n_regions
    count, record_s, _ = writes.get("recording outcomes", [0, 0.0, 0.0])
    store_s = sum(s for _, s, _ in writes.values())
    # The driver loop's CPU: the driving thread's, and its store writes made on another thread.
    loop_cpu = timed.loop_cpu_s + sum(c for _, _, c in writes.values())
    return {
        "regions": n, "startup_s": round(startup, 3), "wall_s": round(sw.wall, 3), "cpu_util": round(sw.util, 3),
        "wall_per_region_ms": round(sw.wall / n * 1000, 3),
        "rss_before_run_mib": round(rss_before, 1), "peak_rss_mib": round(peak, 1),
        "task_mean_s": round(statistics.fmean(durations), 5) if len(durations) else None,
        "driver_loop_cpu_s": round(loop_cpu, 3), "driver_loop_wall_s": round(timed.loop_wall_s, 3),
        "driver_loop_cpu_per_region_ms": round(loop_cpu / n * 1000, 3),
        "driver_process_cpu_per_region_ms": round(driver_cpu / n * 1000, 3),
        "store_write_s": round(store_s, 3), "store_outcome_write_s": round(record_s, 3),
        "store_writes": {k: {"count": c, "seconds": round(s, 3), "cpu_s_off_main_thread": round(o, 3)}
                         for k, (c, s, o) in writes.items()},
        "store_outcome_transactions": count,
        "store_rows": forecast_rows + n,
        "store_rows_per_s": round((forecast_rows + n) / record_s, 1) if record_s else None,
    }


def _quiet_measure_size(*args) -> dict:
    import logging

    import distributed  # noqa: F401 - importing it sets its loggers to INFO: quiet them after

    logging.basicConfig(level=logging.WARNING)
    for name in ("distributed", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return measure_size(*args)


def run_in_child(cache: Path, out: Path, regions: int, workers: int, timeout: float = 3600.0) -> dict:
    """:func:`measure_size` in a fresh process, so that its peak memory is that size's own."""
    return measure.run_in_child(_quiet_measure_size, (str(cache), str(out), regions, workers), f"{regions} regions", timeout)


# ----------------------------------------------------------------------------- sizes, targets, report


def summarise(regions: int, runs: list[dict]) -> dict:
    """One size's row: medians over its repeats, the largest peak memory."""
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    row = {"regions": regions, "runs": runs}
    for key in ("startup_s", "wall_s", "wall_per_region_ms", "cpu_util", "task_mean_s", "driver_loop_cpu_per_region_ms",
                "driver_process_cpu_per_region_ms", "store_write_s", "store_outcome_write_s", "rss_before_run_mib"):
        row[key] = round(med(key), 5)
    rates = [r["store_rows_per_s"] for r in runs if r["store_rows_per_s"]]
    row["store_rows_per_s"] = round(statistics.median(rates), 1) if rates else None
    row["store_rows"] = runs[0]["store_rows"]
    row["outcomes_per_store_write"] = round(regions / statistics.median(r["store_outcome_transactions"] for r in runs), 2)
    row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    row["store_share"] = round(row["store_write_s"] / row["wall_s"], 4) if row["wall_s"] else None
    row["driver_share"] = (round(row["driver_loop_cpu_per_region_ms"] / (row["task_mean_s"] * 1000), 4)
                           if row["task_mean_s"] else None)
    return row


def linear_reference(rows: list[dict]) -> dict:
    """The size the largest is compared with: the smallest of at least 1,000 regions below it, else the smallest."""
    rows = sorted(rows, key=lambda r: r["regions"])
    below = rows[:-1] or rows
    big = [r for r in below if r["regions"] >= LINEAR_MIN_REFERENCE]
    return big[0] if big else below[0]


def _worst_share(rows: list[dict], column: str, limit: float, target: str) -> dict:
    """The verdict of the size with the largest ``column`` against ``limit`` (``target`` names ``{regions}``)."""
    worst = max(rows, key=lambda r: r[column])
    share = worst[column]
    return {"target": target.format(regions=worst["regions"]), "value": share, "ok": share < limit,
            "result": verdict(share < limit, f"{(share - limit) * 100:.1f} points")}


def targets(rows: list[dict]) -> list[dict]:
    """Verdicts from the rows' numbers (``regions``, ``wall_per_region_ms``, ``driver_share``, ``peak_rss_mib``, ``store_share``)."""
    rows = sorted(rows, key=lambda r: r["regions"])
    small, large = rows[0], rows[-1]
    ref = linear_reference(rows)
    out = []
    ratio = round(large["wall_per_region_ms"] / ref["wall_per_region_ms"], 3)
    out.append({"target": f"scale: wall time linear in regions (time per region at {large['regions']} regions "
                          f"<= {LINEAR_MAX_RATIO}x that at {ref['regions']})",
                "value": ratio, "ok": ratio <= LINEAR_MAX_RATIO,
                "result": verdict(ratio <= LINEAR_MAX_RATIO, f"{ratio - LINEAR_MAX_RATIO:.2f}x")})
    out.append(_worst_share(rows, "driver_share", DRIVER_MAX_SHARE,
                            f"scale: driver time per region < {DRIVER_MAX_SHARE:.0%} of a region's task time "
                            "(worst size: {regions} regions)"))
    peak = large["peak_rss_mib"]
    out.append({"target": f"scale: driver peak memory < 1 GiB at {large['regions']} regions",
                "value": peak, "ok": peak < MEMORY_MAX_MIB,
                "result": verdict(peak < MEMORY_MAX_MIB, f"{peak - MEMORY_MAX_MIB:.0f} MiB")})
    growth = round(peak / small["peak_rss_mib"], 3)
    out.append({"target": f"scale: driver peak memory flat (at {large['regions']} regions <= {MEMORY_MAX_GROWTH}x "
                          f"that at {small['regions']})",
                "value": growth, "ok": growth <= MEMORY_MAX_GROWTH,
                "result": verdict(growth <= MEMORY_MAX_GROWTH, f"{growth - MEMORY_MAX_GROWTH:.2f}x")})
    out.append(_worst_share(rows, "store_share", STORE_MAX_SHARE,
                            f"scale: store never the bottleneck (store writes < {STORE_MAX_SHARE:.0%} of the wall time; "
                            "worst size: {regions} regions)"))
    return out


def main(sizes: tuple[int, ...] = SIZES, repeat: int = 1, workers: int = 2, write: bool = True, quick: bool = False,
         benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> dict:
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

    sizes = tuple(sorted(set(QUICK_SIZES if quick else sizes)))
    if not sizes or sizes[0] < 1:
        raise ValueError(f"sizes must be positive region counts, got {sizes}")
    repeat = 1 if quick else repeat
    runs: dict[int, list] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        t0 = time.perf_counter()
        build_synthetic_cache(SyntheticSpec(regions=sizes[-1], days=DAYS, freq="h", seed=0), cache)
        print(f"  scale: cache of {sizes[-1]} regions built in {time.perf_counter() - t0:.0f}s (not timed)", flush=True)
        for rep in range(repeat):
            for n in rotated(sizes, rep):
                if not quick:  # tiny sizes check that it runs; their timings mean nothing
                    wait_until_idle()
                r = run_in_child(cache, tmp / f"run-{n}-{rep}", n, workers)
                runs[n].append(r)
                print(f"  scale {n} regions (repeat {rep + 1}/{repeat}): run {r['wall_s']:.2f}s "
                      f"({r['wall_per_region_ms']:.1f} ms/region), driver peak {r['peak_rss_mib']:.0f} MiB, "
                      f"driver loop {r['driver_loop_cpu_per_region_ms']:.2f} ms/region, task {r['task_mean_s'] * 1000:.1f} ms, "
                      f"store {r['store_write_s']:.2f}s", flush=True)
    rows = [summarise(n, runs[n]) for n in sizes]
    result = {"workload": f"nightly, {', '.join(MODELS)}, {DAYS} days hourly, {HORIZON}", "sizes": list(sizes),
              "repeat": repeat, "workers": workers, "days": DAYS, "horizon": HORIZON, "models": list(MODELS),
              "quick": quick, "rows": rows, "machine": machine()}
    result["targets"] = targets(rows)
    print(markdown_table(rows))
    print_targets(result["targets"])
    if write:
        _write(result, benchmarks, results)
    return result


def _f(value, spec=".2f"):
    return "-" if value is None else f"{value:{spec}}"


def markdown_table(rows: list[dict]) -> str:
    lines = ["| regions | wall (s) | wall per region (ms) | CPU utilisation | driver peak memory (MiB) | driver before the run (MiB) "
             "| driver loop CPU per region (ms) | driver process CPU per region (ms) | task time, mean (ms) "
             "| driver / task | store writes (s) | store share of wall | store rows per s | outcomes per store write |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['regions']} | {_f(r['wall_s'])} | {_f(r['wall_per_region_ms'])} | {_f(r['cpu_util'], '.0%')} "
            f"| {_f(r['peak_rss_mib'], '.0f')} | {_f(r['rss_before_run_mib'], '.0f')} | {_f(r['driver_loop_cpu_per_region_ms'])} "
            f"| {_f(r['driver_process_cpu_per_region_ms'])} | {_f(r['task_mean_s'] * 1000 if r['task_mean_s'] else None)} "
            f"| {_f(r['driver_share'], '.1%')} | {_f(r['store_write_s'])} | {_f(r['store_share'], '.1%')} "
            f"| {_f(r['store_rows_per_s'], ',.0f')} | {_f(r['outcomes_per_store_write'], '.1f')} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path:
    """Wall time and driver peak memory against regions (log-log), with the linear line through the reference size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["regions"] for r in rows]
    ref = linear_reference(rows)
    fig, (wall, mem) = plt.subplots(1, 2, figsize=(10, 4))
    wall.plot(xs, [r["wall_s"] for r in rows], "o-", label="measured", color="tab:blue")
    wall.plot(xs, [ref["wall_per_region_ms"] / 1000 * x for x in xs], "--", color="grey",
              label=f"linear through {ref['regions']} regions")
    wall.set(xscale="log", yscale="log", xlabel="regions", ylabel="wall time of run_nightly (s)", title="Wall time")
    wall.legend(fontsize=8)
    mem.plot(xs, [r["peak_rss_mib"] for r in rows], "o-", color="tab:orange", label="driver peak (VmHWM)")
    mem.plot(xs, [r["rss_before_run_mib"] for r in rows], "s:", color="tab:green", label="driver before the run")
    mem.axhline(MEMORY_MAX_MIB, color="tab:red", ls="--", lw=1, label="1 GiB target")
    mem.set(xscale="log", xlabel="regions", ylabel="MiB", title="Driver process memory", ylim=(0, 1.1 * max(MEMORY_MAX_MIB, *(r["peak_rss_mib"] for r in rows))))
    mem.legend(fontsize=8)
    for ax in (wall, mem):
        ax.set_xticks(xs, [f"{x:,}" for x in xs])
        ax.minorticks_off()
    fig.suptitle("Nightly driver at scale (seasonal_naive, local cluster)", fontsize=10)
    return save_figure(fig, path)


def _write(r: dict, benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> None:
    png = plot(r["rows"], results / "scale.png")
    command = ("python -m bench scale --quick" if r["quick"] else
               f"python -m bench scale --sizes {','.join(map(str, r['sizes']))} --repeats {r['repeat']}")
    body = f"""## Nightly driver at scale

Command: `{command}` (median of {r['repeat']} run(s) per size, sizes taking turns going first, each in a fresh
process on a quiet machine; models {', '.join(r['models'])}, {r['days']} days of hourly synthetic history, horizon
{r['horizon']}, local cluster of {r['workers']} single-threaded workers).

Machine: {r['machine']}

{markdown_table(r['rows'])}

Wall: `run_nightly` on the started cluster (store writes and the run's files included). Driver peak memory: the
driver process's own peak resident set (VmHWM; on a local cluster it also hosts the scheduler, nannies and client).
Driver loop CPU: CPU time of the driving thread over the driver loop; driver process CPU: all its threads.
Task time: mean of the regions' job time on the workers. Store: time inside the results store's write
transactions; rows per second: forecast and region rows / time in the writes that record outcomes
(the driver's writer thread writes every outcome that arrived during its previous write in one transaction).

Targets:
{targets_text(r['targets'])}

Plot: `bench/results/{png.name}`.
"""
    replace_section("scale", body, benchmarks)
    write_json("scale", r, results)
