"""The nightly workload: serial vs a local cluster, on this machine.

50 synthetic regions, a year of hourly history, a 28-day horizon, the
default models of ``specs/nightly.yaml``, run through the same driver as
``forecasting run``.  Reports wall time, speed-up, parallel efficiency and
the peak resident memory of the worker processes.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from deploy.clusters import open_executor
from forecasting.config import load_config
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.driver import run_nightly

from bench.report import machine, replace_section

SPECS = Path(__file__).resolve().parents[1] / "specs" / "nightly.yaml"


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_once(cache: Path, out: Path, cluster: str, workers: int, config) -> dict:
    with open_executor(cluster, workers=workers) as executor:
        start = time.perf_counter()
        summary = run_nightly(cache, out, executor, config, cluster=cluster)
        wall = time.perf_counter() - start
        if cluster == "serial":
            peak = _peak_rss_mib()
        else:
            peak = max(executor.client.run(_peak_rss_mib).values())
    assert summary.n_failed == 0, summary.failures
    return {"wall_s": wall, "peak_worker_rss_mib": peak, "regions": summary.n_regions}


def main(regions: int = 50, days: int = 365, repeat: int = 1, workers: int = 2, write: bool = True) -> dict:
    config = load_config(SPECS)
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=days, freq="h", seed=0), cache)
        serial = [run_once(cache, tmp / f"serial{i}", "serial", 1, config) for i in range(repeat)]
        local = [run_once(cache, tmp / f"local{i}", "local", workers, config) for i in range(repeat)]
    t_serial = statistics.median(r["wall_s"] for r in serial)
    t_local = statistics.median(r["wall_s"] for r in local)
    result = {
        "regions": regions,
        "days": days,
        "horizon": config.horizon,
        "models": [m.name for m in config.models],
        "workers": workers,
        "repeat": repeat,
        "serial_s": round(t_serial, 2),
        "local_s": round(t_local, 2),
        "speedup": round(t_serial / t_local, 3),
        "efficiency": round(t_serial / t_local / workers, 3),
        "peak_worker_rss_mib": round(max(r["peak_worker_rss_mib"] for r in local), 1),
        "serial_peak_rss_mib": round(max(r["peak_worker_rss_mib"] for r in serial), 1),
        "machine": machine(),
    }
    if write:
        _write(result)
    return result


def _write(r: dict) -> None:
    speed_ok = r["speedup"] >= 1.8
    mem_ok = r["peak_worker_rss_mib"] < 1.5 * 1024
    body = f"""## Nightly run: serial vs local cluster

Command: `python -m bench nightly --regions {r['regions']} --days {r['days']} --repeat {r['repeat']}`
(median of {r['repeat']} run(s) each; {r['regions']} synthetic regions, {r['days']} days of hourly history,
horizon {r['horizon']}, models {', '.join(r['models'])}).

Machine: {r['machine']}

| runner | wall time (s) | speed-up | parallel efficiency | peak memory per worker (MiB) |
|---|---|---|---|---|
| serial (one process) | {r['serial_s']} | 1.00 | 100% | {r['serial_peak_rss_mib']} |
| local cluster, {r['workers']} single-threaded workers | {r['local_s']} | {r['speedup']:.2f} | {r['efficiency']:.0%} | {r['peak_worker_rss_mib']} |

Targets: speed-up at least 1.8 on 2 cores ({'met' if speed_ok else f"missed by {1.8 - r['speedup']:.2f}"});
worker peak memory under 1.5 GiB ({'met' if mem_ok else 'missed'}).
"""
    replace_section("nightly", body)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "nightly.json").write_text(json.dumps(r, indent=2) + "\n")
