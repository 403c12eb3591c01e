"""Backtest workload: serial vs local cluster on a regions x models x cutoffs grid."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from deploy.clusters import open_executor
from forecasting.config.backtest import BacktestConfig
from forecasting.runs.backtest import run_backtest
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

from bench.measure import Stopwatch, add_speedups, make_row, rotated, run_record, verdict, wait_until_idle
from bench.nightly import warm
from bench.report import (BENCHMARKS, RESULTS, machine, markdown_table, plot_speedups, print_targets, replace_section,
                          targets_text, write_json)

MODELS = ("seasonal_naive", "mstl", "sarimax", "gbm")


def run_once(cache: Path, out: Path, cluster: str, workers: int, config: BacktestConfig) -> dict:
    t0 = time.perf_counter()
    with open_executor(cluster, workers=workers) as executor:
        if cluster == "serial":
            warm()
            startup = None
        else:
            executor.client.wait_for_workers(workers)
            warm(executor.client)
            startup = time.perf_counter() - t0
        with Stopwatch() as sw:
            summary = run_backtest(cache, out, executor, config, plots=False)
    assert summary.n_resumed == 0
    return run_record(startup, sw, tasks=summary.n_tasks, failed=summary.n_failed)


def main(regions: int = 20, days: int = 180, cutoffs: int = 12, repeat: int = 1, workers: int = 2, write: bool = True,
         models: tuple[str, ...] = MODELS, benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> dict:
    config = BacktestConfig.from_dict({"cutoffs": cutoffs, "horizon": "28D", "step": "7D", "models": list(models)})
    labels = [c.label for c in config.candidates()]
    runs = {"serial": [], "local": []}
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=days, seed=0), cache)
        for i in range(repeat):  # interleaved, so that a slow spell of the machine hits both; turns going first
            for mode, n in rotated((("serial", 1), ("local", workers)), i):
                wait_until_idle()
                r = run_once(cache, tmp / f"{mode}{i}", mode, n, config)
                runs[mode].append(r)
                print(f"  backtest {mode} (repeat {i + 1}/{repeat}): start-up {r['startup_s'] or 0:.2f}s, run {r['wall_s']:.2f}s, "
                      f"CPU {r['cpu_util']:.0%}", flush=True)
    n_tasks = runs["serial"][0]["tasks"]
    workload = f"backtest ({regions} regions x {len(labels)} models x {cutoffs} cutoffs = {n_tasks} tasks)"
    rows = add_speedups([make_row(workload, "serial", 1, runs["serial"], key="serial"),
                         make_row(workload, f"local cluster, {workers} workers", workers, runs["local"], key="local")])
    local = rows[1]
    result = {
        "workload": workload, "regions": regions, "days": days, "cutoffs": cutoffs, "models": labels,
        "tasks": n_tasks, "workers": workers, "repeat": repeat,
        # the keys earlier versions wrote, kept for whoever reads bench/results/backtest.json
        "serial_s": rows[0]["wall_s"], "local_s": local["wall_s"], "speedup": local["speedup"],
        "efficiency": local["efficiency"], "rows": rows, "machine": machine(),
    }
    e = local["efficiency"]
    result["targets"] = [{"target": "backtest: parallel efficiency >= 85%", "value": e, "ok": e >= 0.85,
                          "result": verdict(e >= 0.85, f"{(0.85 - e) * 100:.1f} points")}]
    print(markdown_table(rows))
    print_targets(result["targets"])
    if write:
        _write(result, benchmarks, results)
    return result


def _write(r: dict, benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> None:
    plot = plot_speedups(r["rows"], results / "backtest-speedup.png", "Backtest: speed-up over serial")
    body = f"""## Backtest: serial vs local cluster

Command: `python -m bench backtest --regions {r['regions']} --days {r['days']} --cutoffs {r['cutoffs']} --repeats {r['repeat']}`
({r['tasks']} tasks: {r['regions']} regions x {len(r['models'])} models ({', '.join(r['models'])}) x {r['cutoffs']} cutoffs,
horizon 28D, {r['days']} days of hourly history; median of {r['repeat']} run(s), serial and cluster interleaved, taking turns going first,
each started on a quiet machine).

Machine: {r['machine']}

{markdown_table(r['rows'])}

Start-up (cluster start until every worker has imported the models) is timed apart; "compute only" is
`run_backtest` itself. CPU utilisation: CPU seconds of the whole process tree / (wall x cores).

Targets:
{targets_text(r['targets'])}

Plot: `bench/results/{plot.name if plot else 'backtest-speedup.png'}`.
"""
    replace_section("backtest", body, benchmarks)
    write_json("backtest", r, results)
