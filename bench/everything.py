"""``python -m bench all``: every comparison in one process tree and one sitting, and one table.

Runs, in this order, the digits SVC search against its peers
(:mod:`bench.digits`), the nightly workload in every mode
(:mod:`bench.nightly`: serial, local cluster with 1 and with 2 workers,
YARN on Hadoop's mini cluster), a backtest workload (:mod:`bench.backtest`) and
the engine's overheads (:mod:`bench.overheads`); each writes its own
section of BENCHMARKS.md, and this module adds the ``comparison`` section:
all rows in one table, every target with PASS or MISSED, and
``bench/results/all-speedup.png``.

Full sizes take about 20 minutes on 2 cores (see BENCHMARKS.md); ``--quick``
runs everything at tiny sizes in a few minutes, to check that it all works.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.report import (BENCHMARKS, RESULTS, machine, markdown_table, plot_speedups, print_targets, replace_section,
                          targets_text, write_json)

PARTS = ("peers", "nightly", "backtest", "overheads")

FULL = {
    "peers": {"n_params": 60, "n_splits": 3},
    "nightly": {"regions": 50, "days": 365, "modes": ("serial", "local1", "local2", "yarn")},
    "backtest": {"regions": 4, "days": 180, "cutoffs": 3, "models": ("seasonal_naive", "mstl", "sarimax", "gbm")},
    "overheads": {"n_tasks": 1000, "regions": 3, "days": 365},
}
QUICK = {
    "peers": {"n_params": 6, "n_splits": 3},
    "nightly": {"regions": 3, "days": 120, "modes": ("serial", "local1", "local2", "yarn")},
    "backtest": {"regions": 2, "days": 120, "cutoffs": 2, "models": ("seasonal_naive", "gbm")},
    "overheads": {"n_tasks": 100, "regions": 1, "days": 120},
}


def main(repeats: int = 3, nightly_repeats: int = 1, backtest_repeats: int = 1, workers: int = 2, skip=(), quick: bool = False,
         write: bool = True, command: str = "python -m bench all", benchmarks: Path = BENCHMARKS,
         results: Path = RESULTS, nightly_modes: tuple[str, ...] | None = None) -> dict:
    unknown = set(skip) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    sizes = QUICK if quick else FULL
    if quick:
        repeats = nightly_repeats = backtest_repeats = 1
    out = {"quick": quick, "repeats": repeats, "nightly_repeats": nightly_repeats, "backtest_repeats": backtest_repeats,
           "workers": workers, "durations_s": {},
           "machine": machine(extra=("joblib", "psutil", "pyspark", "java", "skein", "venv-pack"))}
    rows, targets = [], []
    t_all = time.perf_counter()
    for part in PARTS:
        if part in skip:
            continue
        print(f"== {part}", flush=True)
        t0 = time.perf_counter()
        s = sizes[part]
        if part == "peers":
            from bench import digits

            r = digits.main(repeats, s["n_params"], s["n_splits"], workers)
            if write:
                digits.write(r, command, benchmarks, results)
        elif part == "nightly":
            from bench import nightly

            r = nightly.main(s["regions"], s["days"], nightly_repeats, workers, write=write, modes=nightly_modes or s["modes"],
                             benchmarks=benchmarks, results=results)
        elif part == "backtest":
            from bench import backtest

            r = backtest.main(s["regions"], s["days"], s["cutoffs"], backtest_repeats, workers, write=write,
                              models=s["models"], benchmarks=benchmarks, results=results)
        else:
            from bench import overheads

            r = overheads.main(s["n_tasks"], workers, repeats, s["regions"], s["days"])
            if write:
                overheads.write(r, command, benchmarks, results)
        out[part] = r
        rows += r.get("rows", [])
        targets += r["targets"]
        out["durations_s"][part] = round(time.perf_counter() - t0, 1)
    out["durations_s"]["total"] = round(time.perf_counter() - t_all, 1)
    out["rows"], out["targets"] = rows, targets
    print("== all")
    print(markdown_table(rows))
    print_targets(targets)
    print("durations (s):", out["durations_s"])
    if write:
        _write(out, command, benchmarks, results)
    return out


def _write(r: dict, command: str, benchmarks: Path, results: Path) -> None:
    plot = plot_speedups(r["rows"], results / "all-speedup.png", "Speed-up over the serial loop, per workload and tool")
    ov = r.get("overheads")
    overheads = ""
    if ov:
        overheads = (f"\nEngine overheads: {ov['per_task']['per_task_worker_ms']} ms of worker time per near-empty task; "
                     f"{ov['first_task']['first_result_s']} s from asking for a local cluster to the first result; "
                     f"reading a region from the cache takes {ov['data']['read_over_fit']:.2%} of its fit time "
                     f"(details: \"Engine overheads\" below).\n")
    durations = ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["durations_s"].items())
    body = f"""## All comparisons in one sitting

Command: `{command}` ({durations}; each part's own section below has its details; medians of
{r['repeats']} run(s) for the digits search and the overheads, {r['nightly_repeats']} for the nightly run,
{r['backtest_repeats']} for the backtest).

Machine: {r['machine']}

{markdown_table(r['rows'])}
{overheads}
Targets:
{targets_text(r['targets'])}

Plot: `bench/results/{plot.name if plot else 'all-speedup.png'}`.
"""
    replace_section("comparison", body, benchmarks)
    write_json("all", {k: v for k, v in r.items() if k not in PARTS}, results)
