"""Live accuracy at scale: scoring stored nightly forecasts, first in full, then incrementally.

``python -m bench live-accuracy --regions N --nights M --days D --freq h``
builds (timed, not a target) a synthetic cache and a results store of ``M``
nightly runs x ``N`` regions x ``D`` days of forecast and baseline rows
(:mod:`bench.live_data`: written through the product's ``ResultsStore``),
then measures, each in a fresh process (``spawn``) so that its peak memory
is its own:

1. **first pass**: :func:`forecasting.accuracy.update.update_scores` over
   everything (every slot before the last run date has its actual);
2. **incremental pass**: the cache gains the last run date's actuals, and
   ``update_scores`` again: it must score exactly the new day's slots of
   the runs covering it;
3. **tables**: ``accuracy_table``, ``accuracy_by_lead`` and ``find_drift``.

Per step: wall time, the process's peak resident set (``VmHWM``: a spawned
child's ``ru_maxrss`` starts at its parent's peak), its resident set after
the imports, and samples of it every 0.2 s (memory flat over the pass).
``--profile PATH`` runs the first pass under cProfile (its time then means
nothing) and prints the top functions.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.live_data import GROUP, Layout, build_cache, build_store, extend_cache, reset_scores
from bench import measure
from bench.measure import verdict, wait_until_idle
from bench.report import BENCHMARKS, RESULTS, machine, print_targets, replace_section, targets_text, write_json
from bench.scale import _peak_rss_mib, _rss_mib

MEMORY_MAX_MIB = 1024.0
#: Flat memory: the highest sample of a pass's second half at most this many times its first half's.
MEMORY_MAX_GROWTH = 1.25
INCREMENTAL_MAX_SHARE = 0.10
TABLES_MAX_S = 10.0
#: Columns of 8 bytes the scoring reads per forecast row (run_id, ts, model, yhat, q10, q90) and baseline row.
FORECAST_COLUMNS, BASELINE_COLUMNS = 6, 5


# ----------------------------------------------------------------------------- one step, in a child process


def _sampler(samples: list, stop: threading.Event, t0: float, every: float = 0.2) -> None:
    while not stop.wait(every):
        samples.append((time.perf_counter() - t0, _rss_mib()))


def measure_step(step: str, url: str, cache: str, profile: str | None = None) -> dict:
    """One step (``first``, ``incremental`` or ``tables``) in this process: seconds, memory, what it did."""
    from forecasting.accuracy.drift import find_drift
    from forecasting.accuracy.tables import accuracy_by_lead, accuracy_table
    from forecasting.accuracy.update import update_scores
    from forecasting.store.scores import ScoreStore

    rss_before = _rss_mib()
    samples, stop = [], threading.Event()
    t0 = time.perf_counter()
    thread = threading.Thread(target=_sampler, args=(samples, stop, t0), daemon=True)
    thread.start()
    store = ScoreStore(url)
    out = {}
    try:
        if step == "tables":
            for name, fn in (("accuracy_table", accuracy_table), ("accuracy_by_lead", accuracy_by_lead),
                             ("find_drift", lambda s: find_drift(s, 7))):
                t = time.perf_counter()
                frame = fn(store)
                out[f"{name}_s"], out[f"{name}_rows"] = round(time.perf_counter() - t, 3), len(frame)
        else:
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            report = update_scores(store, cache)
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
            out.update({"regions": report.regions, "runs": report.runs, "slots": report.slots, "baselines": report.baselines})
    finally:
        wall = time.perf_counter() - t0
        stop.set()
        thread.join()
        store.close()
    half = [r for t, r in samples if t <= wall / 2], [r for t, r in samples if t > wall / 2]
    return {"step": step, "wall_s": round(wall, 3), "peak_rss_mib": round(_peak_rss_mib(), 1),
            "rss_before_mib": round(rss_before, 1),
            "rss_first_half_max_mib": round(max(half[0]), 1) if half[0] else None,
            "rss_second_half_max_mib": round(max(half[1]), 1) if half[1] else None, "samples": len(samples), **out}


def run_in_child(step: str, url: str, cache: Path, profile: str | None = None, timeout: float = 7200.0) -> dict:
    """:func:`measure_step` in a fresh process."""
    return measure.run_in_child(measure_step, (step, url, str(cache), profile), f"live accuracy, {step}", timeout)


# ----------------------------------------------------------------------------- targets and report


def all_rows_mib(counts: dict) -> float:
    """What the rows the scoring reads would take held at once, as columns of 8 bytes (a lower bound)."""
    return (counts["forecast_rows"] * FORECAST_COLUMNS + counts["baseline_rows"] * BASELINE_COLUMNS) * 8 / 2**20


def targets(r: dict) -> list[dict]:
    """Verdicts from the numbers of :func:`main`'s result (``first``, ``incremental``, ``tables``, ``expected``)."""
    first, inc, tables, expected = r["first"], r["incremental"], r["tables"], r["expected"]
    rows = f"{r['store_rows']:,} rows"
    out = []
    peak = max(first["peak_rss_mib"], inc["peak_rss_mib"], tables["peak_rss_mib"])
    out.append({"target": f"live accuracy: peak memory of every step < 1 GiB at {rows} (all of them at once: "
                          f">= {r['all_rows_mib']:,.0f} MiB)", "value": peak, "ok": peak < MEMORY_MAX_MIB,
                "result": verdict(peak < MEMORY_MAX_MIB, f"{peak - MEMORY_MAX_MIB:.0f} MiB")})
    lo, hi = first["rss_first_half_max_mib"], first["rss_second_half_max_mib"]
    growth = round(hi / lo, 3) if lo and hi else None
    out.append({"target": f"live accuracy: first pass memory flat over the regions (second half's highest sample "
                          f"<= {MEMORY_MAX_GROWTH}x the first half's)", "value": growth,
                "ok": growth is not None and growth <= MEMORY_MAX_GROWTH,
                "result": "not measured (pass too short to sample)" if growth is None else
                verdict(growth <= MEMORY_MAX_GROWTH, f"{growth - MEMORY_MAX_GROWTH:.2f}x")})
    share = round(inc["wall_s"] / first["wall_s"], 4)
    out.append({"target": f"live accuracy: incremental pass (one more day) < {INCREMENTAL_MAX_SHARE:.0%} of the first "
                          "pass's time", "value": share, "ok": share < INCREMENTAL_MAX_SHARE,
                "result": verdict(share < INCREMENTAL_MAX_SHARE, f"{(share - INCREMENTAL_MAX_SHARE) * 100:.1f} points")})
    exact = (first["slots"], inc["slots"], inc["runs"]) == (expected["first_slots"], expected["new_slots"], expected["new_runs"])
    out.append({"target": "live accuracy: each pass scores exactly the slots with new actuals (first: every slot "
                          f"before the last run date, {expected['first_slots']:,}; incremental: that day's slots of the "
                          f"{expected['new_runs']:,} (run, region) pairs covering it, {expected['new_slots']:,})",
                "value": f"{first['slots']:,} and {inc['slots']:,} slots, {inc['runs']:,} pairs", "ok": exact,
                "result": "PASS" if exact else "MISSED (scored other slots)"})
    took = round(sum(tables[k] for k in ("accuracy_table_s", "accuracy_by_lead_s", "find_drift_s")), 3)
    out.append({"target": f"live accuracy: accuracy_table + accuracy_by_lead + find_drift < {TABLES_MAX_S:.0f} s",
                "value": took, "ok": took < TABLES_MAX_S, "result": verdict(took < TABLES_MAX_S, f"{took - TABLES_MAX_S:.1f} s")})
    return out


def _load() -> str:
    import os

    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main(layout: Layout, write: bool = True, workdir: Path | None = None, profile: str | None = None,
         command: str = "python -m bench live-accuracy", benchmarks: Path = BENCHMARKS, results: Path = RESULTS,
         idle: bool = True) -> dict:
    """Build (or, with ``workdir`` already holding this layout, reuse) the data, run the three steps, report."""
    import json

    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="bench-live-accuracy-", dir="/tmp")) if own else Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    full, cache, db = folder / "full.sqlite", folder / "cache.sqlite", folder / "results.sqlite"
    url, marker = f"sqlite:///{db}", folder / "layout.json"
    result = {"layout": layout.as_dict(), "machine": machine()}
    try:
        built = json.loads(marker.read_text()) if marker.exists() else None
        if built and built["layout"] == layout.as_dict():
            reset_scores(layout, cache, url)
            result.update({k: built[k] for k in ("expected", "build")})
            result["build"]["reused"] = True
            print(f"  live accuracy: reusing the cache and store in {folder}", flush=True)
        else:
            for path in (full, cache, db, marker):
                path.unlink(missing_ok=True)
            t0 = time.perf_counter()
            build_cache(layout, full, cache)
            cache_s = time.perf_counter() - t0
            print(f"  live accuracy: cache built in {cache_s:.0f}s (not timed)", flush=True)
            t0 = time.perf_counter()
            expected = build_store(layout, full, cache, url)
            store_s = time.perf_counter() - t0
            result["expected"], result["build"] = expected, {"cache_s": round(cache_s, 1), "store_s": round(store_s, 1)}
            print(f"  live accuracy: store of {expected['forecast_rows']:,} forecast and {expected['baseline_rows']:,} "
                  f"baseline rows written in {store_s:.0f}s (not timed)", flush=True)
            if not own:
                marker.write_text(json.dumps({k: result[k] for k in ("layout", "expected", "build")}))
        expected = result["expected"]
        result["store_rows"] = expected["forecast_rows"] + expected["baseline_rows"]
        result["all_rows_mib"] = round(all_rows_mib(expected), 1)
        result["store_mib_before"] = round(db.stat().st_size / 2**20, 1)
        for step in ("first", "incremental", "tables"):
            if step == "incremental":
                extend_cache(layout, full, cache)
            if idle:
                wait_until_idle()
            result[f"load_{step}"] = _load()
            result[step] = run_in_child(step, url, cache, profile if step == "first" else None)
            s = result[step]
            print(f"  live accuracy {step}: {s['wall_s']:.2f}s, peak {s['peak_rss_mib']:.0f} MiB"
                  + (f", {s['slots']:,} slots of {s['runs']:,} (run, region) pairs" if "slots" in s else ""), flush=True)
        result["store_mib_after"] = round(db.stat().st_size / 2**20, 1)
    finally:
        if own:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    result["targets"] = targets(result)
    print(markdown_table(result))
    print_targets(result["targets"])
    if profile:
        import pstats

        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    if write:
        _write(result, command, benchmarks, results)
    return result


def markdown_table(r: dict) -> str:
    lines = ["| step | wall (s) | peak memory (MiB) | after the imports (MiB) | slots scored | (run, region) pairs | load at start |",
             "|---|---|---|---|---|---|---|"]
    for step, name in (("first", "first pass (everything)"), ("incremental", "incremental pass (one more day)"),
                       ("tables", "accuracy_table + accuracy_by_lead + find_drift")):
        s = r[step]
        lines.append(f"| {name} | {s['wall_s']:.2f} | {s['peak_rss_mib']:.0f} | {s['rss_before_mib']:.0f} "
                     f"| {_n(s.get('slots'))} | {_n(s.get('runs'))} | {r['load_' + step]} |")
    return "\n".join(lines)


def _n(value) -> str:
    return "-" if value is None else f"{value:,}"


def _write(r: dict, command: str, benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> None:
    lay, b, e, t = r["layout"], r["build"], r["expected"], r["tables"]
    built = ("reused from an earlier run's `--workdir` (built in "
             if b.get("reused") else "built in ") + f"{b['cache_s']:.0f} s and {b['store_s']:.0f} s" + (")" if b.get("reused") else "")
    body = f"""## Live accuracy at scale: scoring stored forecasts

Command: `{command}` ({lay['regions']:,} regions x {lay['nights']} nightly runs x {lay['days']} days, freq
`{lay['freq']}`, {lay['history_days']} days of history before the first run; each step in a fresh process).

Machine: {r['machine']}. Shared with other sessions: the load average at each step's start is in the table.

Store: {e['forecast_rows']:,} forecast rows and {e['baseline_rows']:,} baseline rows (SQLite, {r['store_mib_before']:,.0f}
MiB on disk before scoring, {r['store_mib_after']:,.0f} MiB after), written through `ResultsStore.start_run`,
`record_many` (`RegionResult` objects, {GROUP} regions per transaction) and `finish_run` per night; forecasts are the
synthetic actuals times log-normal noise, baselines a seasonal naive of the week before the run. Cache and store
{built} (not timed; the store had just been written, so much of it was in the page cache). Held at once as
columns of 8 bytes, the rows the first pass reads would take at least {r['all_rows_mib']:,.0f} MiB.

{markdown_table(r)}

Wall: `update_scores(store, cache)` (steps 1 and 2) or the three reports (step 3: `accuracy_table`
{t['accuracy_table_s']:.2f} s, `accuracy_by_lead` {t['accuracy_by_lead_s']:.2f} s, `find_drift(store, 7)`
{t['find_drift_s']:.2f} s), store opening included. Peak memory: the step's process's own peak resident set (VmHWM),
imports included; the cache's page cache is not in it. The incremental pass runs after the cache gained the last
run date's actuals (one local day per region), as the next night's would.

Targets:
{targets_text(r['targets'])}
"""
    replace_section("live-accuracy", body, benchmarks)
    write_json("live-accuracy", r, results)
