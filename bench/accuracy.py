"""Forecast accuracy: do the champions beat seasonal naive, are the intervals honest?

Backtests the four model families on two datasets, through the same code as
``forecasting backtest``: the synthetic cache and the nycflights13 airports
(scheduled departures per airport and hour).  Reports, per dataset, the mean
over regions of champion MASE / seasonal-naive MASE and the q10-q90
coverage of the champions, raw and after conformal calibration
(cross-fitted: each window scored with the adjustment learnt from the
others, which is what a nightly run's intervals get).

Every window's regressors are what was known at its cutoff (the nightly
run's rule), and each is also scored with the weather as recorded
(``oracle_regressors``): the oracle gain is what a backtest using recorded
weather used to promise and no night delivers.  With staffing costs 3:1
(the 0.75 quantile) it reports the expected cost of staffing to the
champions' calibrated quantile against seasonal naive's (calibrated the
same way, and its point forecast), and the calibrated quantile's coverage
by local hour-of-day bucket, all cross-fitted.

Champions are chosen by RMSSE (the default ``selection_metric``); beside
MASE the benchmark reports, per dataset, the champions' RMSSE and scaled
pinball loss (SPL) over seasonal naive's, their bias, and how many regions
the ``zero`` forecast would win by MASE and by RMSSE.  A third dataset is
sparse: Poisson orders of a known rate of 0.05-0.3 per hourly slot.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from deploy.clusters import open_executor
from forecasting.config.backtest import BacktestConfig
from forecasting.runs.backtest import run_backtest
from forecasting.data.importer import import_csv
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.data.synthetic_sparse import build_sparse_cache
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
    if "sparse" in which:
        sparse = tmp / "sparse.sqlite"
        weeks = max(days // 7, 10)
        build_sparse_cache(sparse, regions=max(regions // 4, 3), weeks=weeks, low=0.05, high=0.3, seed=0)
        out[f"sparse (Poisson rate 0.05-0.3 per slot, {max(regions // 4, 3)} regions, {weeks} weeks hourly)"] = sparse
    return out


def main(regions: int = 20, days: int = 365, cutoffs: int = 12, workers: int = 2, write: bool = True,
         datasets: tuple[str, ...] = ("synthetic", "nycflights13", "sparse"), models: tuple[str, ...] | None = None,
         horizon: str = "28D") -> dict:
    config = BacktestConfig.from_dict({"cutoffs": cutoffs, "horizon": horizon, "step": "7D", "oracle_regressors": True,
                                       "staffing": {"cost_under": COST_UNDER, "cost_over": COST_OVER},
                                       **({"models": list(models)} if models else {})})
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
        tmp = Path(tmp)
        for name, cache in _datasets(tmp, regions, days, datasets).items():
            with open_executor("local", workers=workers) as executor:
                s = run_backtest(cache, tmp / name.split()[0], executor, config, plots=False)
            c = s.champions
            folder = tmp / name.split()[0]
            out[name] = {
                "regions": len(c),
                "tasks": s.n_tasks,
                "failed_tasks": s.n_failed,
                "mase_ratio": round(s.mean_mase_ratio, 3),
                "coverage_raw": round(float(c.coverage_80.mean()), 3),
                "coverage_calibrated": round(float(c.calibrated_coverage_80.mean()), 3),
                "champions": c.model.value_counts().to_dict(),
                "wall_s": round(s.wall_seconds, 1),
                **metric_summary(s.leaderboard, c),
                **oracle_summary(s.leaderboard, c),
                **staffing_summary(pd.read_csv(folder / "staffing.csv"), pd.read_csv(folder / "staffing_coverage.csv")),
            }
    result = {"cutoffs": cutoffs, "horizon": config.horizon, "models": [c.label for c in config.candidates()],
              "datasets": out, "machine": machine()}
    if write:
        _write(result, regions, days, cutoffs)
    return result


#: Staffing costs of the benchmark: a missing driver-hour costs three idle ones (the 0.75 quantile).
COST_UNDER, COST_OVER = 3.0, 1.0


def metric_summary(board: pd.DataFrame, champions: pd.DataFrame) -> dict:
    """Mean over regions of the champions' RMSSE and SPL over seasonal naive's, their bias, and where zero would win."""
    won = champions[champions.status == "champion"][["region", "model"]]
    rows = won.merge(board, on=["region", "model"])
    naive = board[board.model == "seasonal_naive"].set_index("region")
    rows = rows.assign(naive_rmsse=rows.region.map(naive.rmsse), naive_spl=rows.region.map(naive.spl))
    lowest = {m: board.loc[board.groupby("region")[m].idxmin().dropna()] for m in ("mase", "rmsse")}
    return {
        "rmsse_ratio": round(float((rows.rmsse / rows.naive_rmsse).mean()), 3),
        "spl_ratio": round(float((rows.spl / rows.naive_spl).mean()), 3),
        "champion_bias": round(float(rows.bias.mean()), 3),
        "zero_share": round(float(board.groupby("region").zero_share.first().mean()), 3),
        "zero_wins_mase": int((lowest["mase"].model == "zero").sum()),
        "zero_wins_rmsse": int((lowest["rmsse"].model == "zero").sum()),
    }


def oracle_summary(board: pd.DataFrame, champions: pd.DataFrame) -> dict:
    """Mean over regions of the champions' honest and oracle MASE ratios to seasonal naive."""
    won = champions[champions.status == "champion"][["region", "model", "seasonal_naive_mase"]]
    rows = won.merge(board[["region", "model", "mase", "mase_oracle"]], on=["region", "model"])
    return {"mase_ratio_oracle": round(float((rows.mase_oracle / rows.seasonal_naive_mase).mean()), 3),
            "oracle_gain": round(float((rows.mase - rows.mase_oracle).mean()), 3)}


def staffing_summary(report: pd.DataFrame, coverage: pd.DataFrame) -> dict:
    """Staffing costs (mean over regions of the per-slot costs, and of their ratio) and coverage by hour bucket."""
    by_hour = coverage.groupby("hour_bucket").apply(lambda g: (g.coverage * g.n_slots).sum() / g.n_slots.sum(),
                                                    include_groups=False)
    return {
        "staffing_quantile": float(report["quantile"].iloc[0]),
        "staffing_cost_champion": round(float(report.cost_champion.mean()), 3),
        "staffing_cost_seasonal_naive": round(float(report.cost_seasonal_naive.mean()), 3),
        "staffing_cost_seasonal_naive_point": round(float(report.cost_seasonal_naive_point.mean()), 3),
        "staffing_cost_ratio": round(float(report.cost_ratio.mean()), 3),
        "staffing_coverage": round(float((report.coverage * report.n_slots).sum() / report.n_slots.sum()), 3),
        "staffing_coverage_by_hour": {str(k): round(float(v), 3) for k, v in by_hour.items()},
    }


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
and the top-2 combination; champion = lowest mean RMSSE per region, the default `selection_metric`).

Machine: {r['machine']}

| dataset | regions | champion MASE / seasonal-naive MASE (target <= 0.85) | q10-q90 coverage, raw | coverage, calibrated (target 0.72-0.88) | failed tasks | champions |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Coverage is the mean over regions of the champions' share of actual values inside q10-q90.
"Calibrated" is what `forecasting run` delivers: the champion's band conformalised on its
backtest residuals, scored cross-fitted (each window with the adjustment learnt from the others).
The champion is chosen on the same windows it is scored on, so its ratio flatters it slightly.
"""
    replace_section("accuracy", body + _more_tables(r))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps(r, indent=2) + "\n")


def _more_tables(r: dict) -> str:
    """The regressor and staffing tables of the accuracy section."""
    oracle, staff, hours = [], [], []
    for name, d in r["datasets"].items():
        oracle.append(f"| {name} | {d['mase_ratio']:.3f} | {d['mase_ratio_oracle']:.3f} | {d['oracle_gain']:.3f} |")
        staff.append(f"| {name} | {d['staffing_quantile']:.2f} | {d['staffing_cost_champion']:.3f} | "
                     f"{d['staffing_cost_seasonal_naive']:.3f} | {d['staffing_cost_seasonal_naive_point']:.3f} | "
                     f"{d['staffing_cost_ratio']:.3f} | {d['staffing_coverage']:.3f} |")
        cells = d["staffing_coverage_by_hour"]
        hours.append(f"| {name} | " + " | ".join(f"{cells.get(b, float('nan')):.3f}" for b in HOUR_BUCKETS) + " |")
    metrics = [f"| {name} | {d['zero_share']:.3f} | {d['mase_ratio']:.3f} | {d['rmsse_ratio']:.3f} | {d['spl_ratio']:.3f} | "
               f"{d['champion_bias']:+.3f} | {d['zero_wins_mase']} of {d['regions']} | {d['zero_wins_rmsse']} of {d['regions']} |"
               for name, d in r["datasets"].items()]
    return f"""
The champions by each metric, over seasonal naive's (mean over regions; below 1 is better), and
the regions where the `zero` forecast has the lowest score of all candidates:

| dataset | zero share | MASE ratio | RMSSE ratio | SPL ratio (q10/q50/q90) | champion bias | zero lowest MASE | zero lowest RMSSE |
|---|---|---|---|---|---|---|---|
{chr(10).join(metrics)}

On the sparse dataset the MASE target is not a goal: there zeros have the lowest MASE (last but one
column), which is why champions are chosen by RMSSE. Its champions' bias (mean forecast minus mean
actual, over the mean actual) is how far their mean lies below the orders.

Regressors as known at each cutoff (weather forecasts where the cache has them, else a climatology
of the weather before the cutoff), against the same fitted champions told the weather as recorded:

| dataset | champion MASE / seasonal naive, honest | same, oracle weather | oracle gain (MASE) |
|---|---|---|---|
{chr(10).join(oracle)}

Staffing to the 0.75 quantile (a missing driver-hour costs {COST_UNDER:g}, an idle one {COST_OVER:g}; cost per slot,
mean over regions, cross-fitted calibrated quantiles):

| dataset | quantile | champion | seasonal naive, calibrated | seasonal naive, point forecast | champion / seasonal naive | coverage |
|---|---|---|---|---|---|---|
{chr(10).join(staff)}

Coverage of the champions' calibrated 0.75 quantile by local hour-of-day bucket:

| dataset | {' | '.join(HOUR_BUCKETS)} |
|---|{'---|' * len(HOUR_BUCKETS)}
{chr(10).join(hours)}
"""


HOUR_BUCKETS = [f"{h:02d}-{h + 3:02d}" for h in range(0, 24, 3)]
