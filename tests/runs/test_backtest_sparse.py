"""Sparse demand (a Poisson rate of 0.05-0.3 orders per slot): RMSSE chooses a champion that forecasts the rate.

By MASE, a forecast of zeros (or a median of mostly-zero weeks) wins such
regions, and staffing to it sends nobody; RMSSE is minimised by the mean.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.config.backtest import BacktestConfig
from forecasting.config.forecast import ForecastConfig
from forecasting.data.synthetic_sparse import build_sparse_cache, sparse_rate_at
from forecasting.runs.backtest import run_backtest
from forecasting.runs.executors import SerialExecutor

REGIONS = ("s000", "s001", "s002")
RATES = {}


@pytest.fixture(scope="module")
def sparse_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("sparse") / "cache.sqlite"
    RATES.update(build_sparse_cache(path, regions=len(REGIONS), weeks=20, low=0.05, high=0.3, seed=42))
    return path


@pytest.fixture(scope="module")
def sparse_backtest(sparse_cache, tmp_path_factory):
    config = BacktestConfig.from_dict({"models": ["seasonal_naive", "seasonal_median", "tsb", {"gbm": {"max_iter": 50}}],
                                       "cutoffs": 3, "horizon": "7D", "min_windows": 2})
    return run_backtest(sparse_cache, tmp_path_factory.mktemp("out"), SerialExecutor(), config,
                        ForecastConfig.from_dict({"min_history": "28D"}), plots=False, keep_windows=True)


def _mean_forecast(windows: pd.DataFrame, region: str, model: str) -> tuple[float, float]:
    """The model's mean forecast over the region's windows, and the true mean rate over the same slots."""
    mine = windows[(windows.region == region) & (windows.model == model)]
    return float(mine.yhat.mean()), float(sparse_rate_at(pd.DatetimeIndex(mine.timestamp), RATES[region]).mean())


def test_the_rmsse_champion_forecasts_close_to_the_true_rate_and_zero_never_wins(sparse_backtest):
    board, windows = sparse_backtest.leaderboard, sparse_backtest.windows
    champions = sparse_backtest.champions.set_index("region")
    for region in REGIONS:
        mine = board[board.region == region].set_index("model")
        assert mine.intermittent.all() and (mine.zero_share > 0.7).all()
        champion = champions.loc[region]
        assert champion.status == "champion" and champion.reason == "lowest RMSSE" and champion.selection_metric == "rmsse"
        assert champion.model != "zero" and mine.rmsse["zero"] > mine.rmsse.min()
        forecast, rate = _mean_forecast(windows, region, champion.model)
        assert abs(forecast - rate) < 0.25 * rate, (region, champion.model, forecast, rate)


def test_by_mase_the_same_regions_would_get_a_forecast_far_below_the_rate(sparse_backtest):
    board, windows = sparse_backtest.leaderboard, sparse_backtest.windows
    for region in REGIONS:
        mine = board[board.region == region].set_index("model")
        by_mase = mine.mase.idxmin()
        forecast, rate = _mean_forecast(windows, region, by_mase)
        assert forecast < 0.5 * rate, (region, by_mase, forecast, rate)
        # Its scaled pinball loss (q10/q50/q90) is worse than the RMSSE champion's too.
        assert mine.spl[by_mase] > mine.spl[mine.rmsse.idxmin()]
