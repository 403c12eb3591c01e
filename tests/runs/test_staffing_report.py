"""The staffing quantile end to end: scored and calibrated in a backtest, delivered by the nightly run."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from forecasting.config.backtest import BacktestConfig
from forecasting.engine.staffing import Calibration
from forecasting.runs.backtest import run_backtest
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly
from forecasting.store.backtests import BacktestStore, load_champions

REGIONS = ["r000", "r002"]
BASE = {"models": {"seasonal_naive": {}, "gbm": {"max_iter": 30}}, "cutoffs": 3, "horizon": "7D", "min_windows": 2,
        "staffing": {"cost_under": 3, "cost_over": 1}}


@pytest.fixture(scope="module")
def staffed(synthetic_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("staffed")
    summary = run_backtest(synthetic_cache, out, SerialExecutor(), BacktestConfig.from_dict(BASE), regions=REGIONS,
                           plots=False)
    return summary, out


def test_the_backtest_scores_every_model_at_the_staffing_quantile(staffed):
    summary, out = staffed
    board = summary.leaderboard
    assert np.isfinite(board[["staffing_pinball", "staffing_cost", "staffing_coverage"]].to_numpy(dtype=float)).all()
    # The cost at the costs (3, 1) is the pinball loss at 0.75 scaled by 3 + 1.
    np.testing.assert_allclose(board.staffing_cost, 4 * board.staffing_pinball)
    assert board.staffing_coverage.between(0.5, 0.97).all()


def test_staffing_csv_compares_the_champion_with_seasonal_naive(staffed):
    summary, out = staffed
    report = pd.read_csv(out / "staffing.csv")
    assert sorted(report.region) == REGIONS
    assert (report["quantile"] == 0.75).all()
    champions = summary.champions.set_index("region")
    for row in report.itertuples():
        assert row.model == champions.loc[row.region, "model"]
        assert row.cost_champion > 0 and row.cost_seasonal_naive > 0 and row.n_slots > 0
        assert row.cost_ratio == pytest.approx(row.cost_champion / row.cost_seasonal_naive, rel=1e-5)
        assert row.cost_seasonal_naive_point > 0
    coverage = pd.read_csv(out / "staffing_coverage.csv")
    assert set(coverage.region) == set(REGIONS)
    assert (coverage.groupby("region").hour_bucket.nunique() == 8).all()
    assert coverage.coverage.between(0, 1).all() and (coverage.n_slots > 0).all()


def test_champions_carry_their_calibration_and_the_nightly_run_delivers_the_staffing_quantile(staffed, synthetic_cache):
    summary, out = staffed
    store = BacktestStore(summary.store)
    try:
        champs = load_champions(store).set_index("region")
    finally:
        store.close()
    for region in REGIONS:
        cal = Calibration.from_json(champs.loc[region, "staffing"])
        assert cal.quantile == 0.75 and cal.lead_days == 7
    night = run_nightly(synthetic_cache, out, SerialExecutor(), summary_config(), regions=REGIONS, store=summary.store)
    with open(night.folder / "forecasts.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    staff = np.array([float(r["staff"]) for r in rows])
    yhat = np.array([float(r["yhat"]) for r in rows])
    assert len(rows) > 0 and (staff >= 0).all()
    # The 75% quantile of demand lies above the point forecast in most slots.
    assert (staff > yhat).mean() > 0.6


def summary_config():
    from forecasting.config.forecast import ForecastConfig

    return ForecastConfig.from_dict({"horizon": "7D"})


def test_selection_by_staffing_picks_the_lowest_staffing_loss(synthetic_cache, tmp_path):
    config = BacktestConfig.from_dict({**BASE, "selection_metric": "staffing", "top_k": 0})
    summary = run_backtest(synthetic_cache, tmp_path, SerialExecutor(), config, regions=REGIONS, plots=False)
    board = summary.leaderboard
    for row in summary.champions.itertuples():
        mine = board[board.region == row.region]
        assert row.model == mine.loc[mine.staffing_pinball.idxmin(), "model"]
        assert row.reason == "lowest staffing pinball loss"
