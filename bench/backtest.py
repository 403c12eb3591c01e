"""Backtest workload: serial vs local cluster on a regions x models x cutoffs grid."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from deploy.clusters import open_executor
from forecasting.backtest import BacktestConfig
from forecasting.backtest_run import run_backtest
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

from bench.report import machine, replace_section


def run_once(cache: Path, out: Path, cluster: str, workers: int, config: BacktestConfig) -> float:
    with open_executor(cluster, workers=workers) as executor:
        start = time.perf_counter()
        summary = run_backtest(cache, out, executor, config, plots=False)
        wall = time.perf_counter() - start
    assert summary.n_resumed == 0
    return wall, summary.n_tasks


MODELS = ("seasonal_naive", "mstl", "sarimax", "gbm")


def main(regions: int = 20, days: int = 180, cutoffs: int = 12, repeat: int = 1, workers: int = 2, write: bool = True) -> dict:
    config = BacktestConfig.from_dict({"cutoffs": cutoffs, "horizon": "28D", "step": "7D", "models": list(MODELS)})
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=days, seed=0), cache)
        serial = [run_once(cache, tmp / f"serial{i}", "serial", 1, config) for i in range(repeat)]
        local = [run_once(cache, tmp / f"local{i}", "local", workers, config) for i in range(repeat)]
    t_s = statistics.median(w for w, _ in serial)
    t_l = statistics.median(w for w, _ in local)
    result = {
        "regions": regions, "days": days, "cutoffs": cutoffs, "models": [c.label for c in config.candidates()],
        "tasks": serial[0][1], "workers": workers, "repeat": repeat,
        "serial_s": round(t_s, 2), "local_s": round(t_l, 2), "speedup": round(t_s / t_l, 3),
        "efficiency": round(t_s / t_l / workers, 3), "machine": machine(),
    }
    if write:
        _write(result)
    return result


def _write(r: dict) -> None:
    ok = r["efficiency"] >= 0.85
    body = f"""## Backtest: serial vs local cluster

Command: `python -m bench backtest --regions {r['regions']} --days {r['days']} --cutoffs {r['cutoffs']} --repeat {r['repeat']}`
({r['tasks']} tasks: {r['regions']} regions x {len(r['models'])} models ({', '.join(r['models'])}) x {r['cutoffs']} cutoffs,
horizon 28D, {r['days']} days of hourly history; median of {r['repeat']} run(s)).

Machine: {r['machine']}

| runner | wall time (s) | speed-up | parallel efficiency |
|---|---|---|---|
| serial | {r['serial_s']} | 1.00 | 100% |
| local cluster, {r['workers']} workers | {r['local_s']} | {r['speedup']:.2f} | {r['efficiency']:.0%} |

Target: parallel efficiency at least 85% ({'met' if ok else f"missed by {0.85 - r['efficiency']:.1%}"}).
"""
    replace_section("backtest", body)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "backtest.json").write_text(json.dumps(r, indent=2) + "\n")
