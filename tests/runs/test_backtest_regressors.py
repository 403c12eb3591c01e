"""A backtest window only reads what was known at its cutoff, unless the oracle is asked for."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from forecasting.config.backtest import BacktestConfig
from forecasting.data.cache import open_cache
from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import to_epoch_seconds
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.models import MODELS
from forecasting.models.naive import SeasonalNaive
from forecasting.runs.backtest import plan_backtest, run_backtest, tasks_for
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.jobs import backtest_window

#: Forecast values are OFFSET + the hour (since the epoch) they were issued; recorded ones -OFFSET - their slot's hour.
OFFSET = 1e6
SEEN = []


class SpyPredict(SeasonalNaive, register=False):
    """Seasonal naive that records every future feature frame it is asked to forecast from."""

    name = "spy_predict"

    def predict(self, X_future):
        SEEN.append(X_future.copy())
        return super().predict(X_future)


@pytest.fixture(scope="module")
def coded_cache(tmp_path_factory):
    """A synthetic cache with weather forecasts whose every value says where it came from."""
    path = tmp_path_factory.mktemp("coded") / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=2, days=63, seed=3, weather_forecasts=True), path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE weather_forecasts SET value = ? + issued_at / 3600.0", (OFFSET,))
        conn.execute("UPDATE exogenous SET value = -? - ts / 3600.0", (OFFSET,))
    return path


def _hours(index) -> np.ndarray:
    return (pd.DatetimeIndex(index).as_unit("s").asi8 / 3600.0)


def test_no_window_reads_a_forecast_issued_at_or_after_its_cutoff_or_a_recorded_value_of_its_window(monkeypatch, coded_cache):
    monkeypatch.setitem(MODELS, SpyPredict.name, SpyPredict)
    config = BacktestConfig.from_dict({"models": [SpyPredict.name], "cutoffs": 4, "horizon": "14D", "step": "5D"})
    plan = plan_backtest(coded_cache, config)
    tasks = tasks_for(plan.regions, str(coded_cache), plan.candidates, plan.cutoffs, plan.job_config, plan.backtest_id)
    tasks = [t for t in tasks if t.model.name == SpyPredict.name]
    cache = open_cache(coded_cache)
    from_forecasts = 0
    for task in tasks:
        SEEN.clear()
        result = backtest_window(task)
        data = cache.load_region(task.region)
        cutoff = pd.Timestamp(task.cutoff, tz=data.timezone).tz_convert("UTC")
        (future,) = SEEN
        assert future.index.min() == cutoff == result.frame.index.min()
        fc = data.weather_forecasts
        for col in ("wx_temperature", "wx_precipitation"):
            values = future[col].to_numpy()
            issued = values - OFFSET
            forecast = values > 0
            # Every forecast value was issued strictly before the cutoff, and is the latest such issue of its slot.
            assert (issued[forecast] < cutoff.timestamp() / 3600).all()
            known = fc[(fc.name == col[3:]) & (fc.issued_at < cutoff)]
            latest = known.groupby("ts").issued_at.max()
            expected = _hours(latest.reindex(future.index[forecast]))
            np.testing.assert_allclose(issued[forecast], expected)
            # No recorded value of the window: those are at most -OFFSET - the cutoff's hour; the climatology
            # of the history's is above it.
            assert (values[~forecast] > -OFFSET - cutoff.timestamp() / 3600).all()
            from_forecasts += int(forecast.sum())
    assert len(tasks) == 8 and from_forecasts > 0


def test_the_oracle_reads_the_recorded_values(monkeypatch, coded_cache):
    monkeypatch.setitem(MODELS, SpyPredict.name, SpyPredict)
    config = BacktestConfig.from_dict({"models": [SpyPredict.name], "cutoffs": 2, "horizon": "7D", "oracle_regressors": True})
    plan = plan_backtest(coded_cache, config)
    assert plan.backtest_id != plan_backtest(coded_cache, config.with_overrides(oracle_regressors=False)).backtest_id
    task = tasks_for(plan.regions, str(coded_cache), plan.candidates, plan.cutoffs, plan.job_config, plan.backtest_id,
                     oracle=True)[-1]
    SEEN.clear()
    result = backtest_window(task)
    honest, oracle = SEEN
    recorded = -OFFSET - _hours(oracle.index)
    np.testing.assert_allclose(oracle.wx_temperature.to_numpy(), recorded)
    assert (honest.wx_temperature.to_numpy() != recorded).all()
    assert result.frame.yhat_oracle.notna().all()


def test_the_leaderboard_has_the_honest_and_the_oracle_score(tmp_path):
    cache = tmp_path / "weather.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=2, days=91, seed=5, weather_forecasts=True), cache)
    config = BacktestConfig.from_dict({"models": {"gbm": {"max_iter": 60}}, "cutoffs": 3, "horizon": "7D", "min_windows": 2,
                                       "top_k": 0, "oracle_regressors": True})
    both = run_backtest(cache, tmp_path / "oracle", SerialExecutor(), config, plots=False)
    honest = run_backtest(cache, tmp_path / "honest", SerialExecutor(), config.with_overrides(oracle_regressors=False),
                          plots=False)
    board = both.leaderboard.set_index(["region", "model"])
    assert np.isfinite(board[["mase_oracle", "wape_oracle", "oracle_gain"]].to_numpy(dtype=float)).all()
    np.testing.assert_allclose(board.oracle_gain, board.mase - board.mase_oracle)
    # The honest score is the same with or without the oracle beside it.
    np.testing.assert_allclose(board.mase, honest.leaderboard.set_index(["region", "model"]).mase.reindex(board.index))
    assert honest.leaderboard.mase_oracle.isna().all()
    assert np.allclose(board.xs("seasonal_naive", level="model").oracle_gain, 0)  # it reads no regressor
    written = pd.read_csv(tmp_path / "oracle" / "leaderboard.csv")
    assert {"mase_oracle", "wape_oracle", "oracle_gain"} <= set(written.columns) and written.mase_oracle.notna().all()


def _weather_driven_cache(path):
    """One region whose orders follow the day's temperature, which no climatology knows."""
    index = pd.date_range("2024-01-01", periods=70 * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(11)
    day_temp = np.repeat(rng.normal(10, 6, 70), 24)
    profile = 1 + np.sin(2 * np.pi * index.hour.to_numpy() / 24)
    orders = rng.poisson(np.maximum(2.0, 30 + 3 * day_temp + 10 * profile))
    ts = to_epoch_seconds(index)
    with CacheWriter(path, "h") as writer:
        writer.add_regions(pd.DataFrame({"region": ["w"], "name": ["W"], "timezone": ["UTC"]}))
        writer.add_orders(pd.DataFrame({"region": "w", "ts": ts, "orders": orders.astype(float)}))
        writer.add_exogenous(pd.DataFrame({"region": "w", "name": "temperature", "ts": ts, "value": day_temp}))
    return path


def test_the_oracle_gain_shows_what_knowing_the_weather_is_worth(tmp_path):
    cache = _weather_driven_cache(tmp_path / "driven.sqlite")
    config = BacktestConfig.from_dict({"models": {"gbm": {"max_iter": 100}}, "cutoffs": 3, "horizon": "7D", "min_windows": 2,
                                       "top_k": 0, "oracle_regressors": True})
    board = run_backtest(cache, tmp_path / "out", SerialExecutor(), config, plots=False).leaderboard.set_index("model")
    gbm = board.loc["gbm[max_iter=100]"]
    # Told the recorded temperature the model is far better than it can be from a climatology:
    # a backtest without the oracle column would have promised that accuracy to the nightly run.
    assert gbm.oracle_gain > 0.2 * gbm.mase
