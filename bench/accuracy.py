"""Forecast accuracy: do the champions beat seasonal naive, are the intervals honest?

Backtests the four model families on two datasets, through the same code as
``forecasting backtest``: the synthetic cache and the nycflights13 airports
(scheduled departures per airport and hour).  Reports, per dataset, the mean
over regions of champion MASE / seasonal-naive MASE and the q10-q90
coverage of the champions, raw and after conformal calibration
(cross-fitted: each window scored with the adjustment learnt from the
others, which is what a nightly run's intervals get).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from deploy.clusters import open_executor
from forecasting.config.backtest import BacktestConfig
from forecasting.runs.backtest import run_backtest
from forecasting.data.importer import import_csv
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.datasets import nycflights13 as nyc

from bench.report import machine, replace_section


def _datasets(tmp: Path, regions: int, days: int, which: tuple[str, ...]):
    out = {}
    if "synthetic" in which:
        synthetic = tmp / "synthetic.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=days, seed=0), synthetic)
        out[f"synthetic ({regions} regions, {days} days hourly)"] = synthetic
    if "nycflights13" in which:
        paths = nyc.write_csvs(tmp / "nyc")
        airports = tmp / "nyc.sqlite"
        import_csv(paths["orders"], airports, features=paths["features"], holidays=paths["holidays"], timezone=nyc.TIMEZONE)
        out["nycflights13 (3 airports, 2013 hourly, US holidays)"] = airports
    return out


def main(regions: int = 20, days: int = 365, cutoffs: int = 12, workers: int = 2, write: bool = True,
         datasets: tuple[str, ...] = ("synthetic", "nycflights13")) -> dict:
    config = BacktestConfig(cutoffs=cutoffs, horizon="28D", step="7D")
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
        tmp = Path(tmp)
        for name, cache in _datasets(tmp, regions, days, datasets).items():
            with open_executor("local", workers=workers) as executor:
                s = run_backtest(cache, tmp / name.split()[0], executor, config, plots=False)
            c = s.champions
            out[name] = {
                "regions": len(c),
                "tasks": s.n_tasks,
                "failed_tasks": s.n_failed,
                "mase_ratio": round(s.mean_mase_ratio, 3),
                "coverage_raw": round(float(c.coverage_80.mean()), 3),
                "coverage_calibrated": round(float(c.calibrated_coverage_80.mean()), 3),
                "champions": c.model.value_counts().to_dict(),
                "wall_s": round(s.wall_seconds, 1),
            }
    result = {"cutoffs": cutoffs, "horizon": config.horizon, "models": [c.label for c in config.candidates()],
              "datasets": out, "machine": machine()}
    if write:
        _write(result, regions, days, cutoffs)
    return result


def _write(r: dict, regions: int, days: int, cutoffs: int) -> None:
    rows = []
    for name, d in r["datasets"].items():
        ok_ratio = d["mase_ratio"] <= 0.85
        ok_cov = 0.72 <= d["coverage_calibrated"] <= 0.88
        champs = ", ".join(f"{m} x{n}" for m, n in d["champions"].items())
        rows.append(
            f"| {name} | {d['regions']} | {d['mase_ratio']:.3f} ({'met' if ok_ratio else 'MISSED'}) | {d['coverage_raw']:.3f} | "
            f"{d['coverage_calibrated']:.3f} ({'met' if ok_cov else 'MISSED'}) | {d['failed_tasks']} of {d['tasks']} | {champs} |"
        )
    body = f"""## Forecast accuracy

Command: `python -m bench accuracy --regions {regions} --days {days} --cutoffs {cutoffs}`
(rolling-origin backtest, {cutoffs} weekly cutoffs, horizon {r['horizon']}, models {', '.join(r['models'])}
and the top-2 combination; champion = lowest mean MASE per region).

Machine: {r['machine']}

| dataset | regions | champion MASE / seasonal-naive MASE (target <= 0.85) | q10-q90 coverage, raw | coverage, calibrated (target 0.72-0.88) | failed tasks | champions |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Coverage is the mean over regions of the champions' share of actual values inside q10-q90.
"Calibrated" is what `forecasting run` delivers: the champion's band conformalised on its
backtest residuals, scored cross-fitted (each window with the adjustment learnt from the others).
The champion is chosen on the same windows it is scored on, so its ratio flatters it slightly.
"""
    replace_section("accuracy", body)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps(r, indent=2) + "\n")
