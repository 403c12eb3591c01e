"""Backtest cutoffs, tasks and the window job: no look-ahead, awkward series."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.config.backtest import BacktestConfig
from forecasting.runs.backtest import make_cutoffs, tasks_for
from forecasting.runs.jobs import backtest_window
from forecasting.runs.tasks import BacktestTask
from forecasting.config.forecast import ForecastConfig
from forecasting.errors import ConfigError
from forecasting.models.spec import ModelSpec
from forecasting.errors import UsageError
from forecasting.models import MODELS
from forecasting.models.naive import SeasonalNaive


def test_last_n_cutoffs_leave_a_whole_horizon_of_actuals():
    cuts = make_cutoffs("2024-03-04", BacktestConfig(cutoffs=3, horizon="14D", step="7D"))
    assert cuts == ["2024-02-05", "2024-02-12", "2024-02-19"]
    # The latest cutoff plus the horizon ends exactly where the data does.
    assert pd.Timestamp(cuts[-1]) + pd.Timedelta("14D") == pd.Timestamp("2024-03-04")


def test_start_end_and_default_last_year():
    cfg = BacktestConfig(start="2024-01-01", end="2024-12-31", horizon="28D", step="14D")
    cuts = make_cutoffs("2024-03-04", cfg)
    assert cuts[0] == "2024-01-01" and pd.Timestamp(cuts[-1]) <= pd.Timestamp("2024-02-05")
    assert all((pd.Timestamp(b) - pd.Timestamp(a)).days == 14 for a, b in zip(cuts, cuts[1:]))
    year = make_cutoffs("2025-01-01", BacktestConfig(horizon="28D", step="7D"))
    assert len(year) == 49 and year[-1] == "2024-12-04"
    assert pd.Timestamp(year[0]) >= pd.Timestamp("2024-01-01")
    with pytest.raises(UsageError, match="no cutoff fits"):
        make_cutoffs("2024-03-04", BacktestConfig(start="2024-06-01"))


def test_grid_and_random_search_expand_candidates():
    cfg = BacktestConfig.from_dict({"models": ["gbm"], "grid": {"gbm": {"max_iter": [20, 40], "learning_rate": [0.05, 0.1]}}})
    labels = [c.label for c in cfg.candidates()]
    assert labels[:3] == ["seasonal_naive", "zero", "mean_week"] and len(labels) == 3 + 4  # the baselines, then the grid
    assert "gbm[learning_rate=0.1;max_iter=40]" in labels
    rnd = BacktestConfig.from_dict({"models": ["gbm"], "grid": {"gbm": {"max_iter": [10, 20, 30, 40]}}, "search": "random", "n_samples": 2})
    assert len(rnd.candidates()) == 3 + 2
    for bad, match in [({"grid": {"arima": {"p": [1]}}}, "not among the models"), ({"step": "36h"}, "whole days"),
                       ({"cutoffs": 3, "start": "2024-01-01"}, "either cutoffs"), ({"cutofs": 3}, "did you mean 'cutoffs'")]:
        with pytest.raises(ConfigError, match=match):
            BacktestConfig.from_dict(bad)


SEEN = []


class SpyNaive(SeasonalNaive, register=False):
    """Seasonal naive that records the last history slot it was fitted on."""

    name = "spy"

    def fit(self, y, X, horizon):
        SEEN.append((y.index.max(), y.dropna().index.max(), X.index.max()))
        return super().fit(y, X, horizon)


def test_a_fit_never_sees_data_at_or_after_its_cutoff(monkeypatch, synthetic_cache):
    monkeypatch.setitem(MODELS, "spy", SpyNaive)
    SEEN.clear()
    config = ForecastConfig(horizon="7D")
    cutoffs = make_cutoffs("2024-03-04", BacktestConfig(cutoffs=4, horizon="7D"))
    tasks = tasks_for(["r001", "r004"], str(synthetic_cache), [ModelSpec("spy")], cutoffs, config, "bt-test")
    for task in tasks:
        result = backtest_window(task)
        tz = "Europe/London" if task.region == "r001" else "America/New_York"
        cutoff = pd.Timestamp(task.cutoff, tz=tz)
        last_y, last_obs, last_x = SEEN[-1]
        assert last_y < cutoff and last_obs < cutoff and last_x < cutoff
        assert result.frame.index.min() == cutoff  # the window starts at the cutoff
        assert result.frame.actual.notna().all()
    assert len(SEEN) == len(tasks) == 8


def test_task_keys_are_unique_and_descriptive(synthetic_cache):
    cands = BacktestConfig().candidates()
    tasks = tasks_for(["r000", "r001"], str(synthetic_cache), cands, ["2024-02-05", "2024-02-12"], ForecastConfig(), "bt-x")
    assert len({t.key for t in tasks}) == len(tasks) == 2 * len(cands) * 2
    assert isinstance(tasks[0], BacktestTask) and "r000" in tasks[0].key and "2024-02-05" in tasks[0].key


def test_native_intervals_cover_about_80_percent_of_known_noise(tmp_path):
    import numpy as np

    from forecasting.data.cache_writer import CacheWriter
    from forecasting.data.timestamps import to_epoch_seconds

    rng = np.random.default_rng(5)
    idx = pd.date_range("2024-01-01", periods=14 * 7 * 24, freq="h", tz="UTC")
    hour, dow = idx.hour.to_numpy(), idx.day_of_week.to_numpy()
    rate = 5 + 40 * np.exp(-0.5 * ((hour - 19) / 2.0) ** 2) * (1 + 0.3 * (dow >= 4))
    path = tmp_path / "poisson.sqlite"
    with CacheWriter(path, freq="h") as w:
        w.add_regions(pd.DataFrame({"region": ["p"], "name": ["p"], "timezone": ["UTC"]}))
        w.add_orders(pd.DataFrame({"region": "p", "ts": to_epoch_seconds(idx), "orders": rng.poisson(rate).astype(float)}))
    config = ForecastConfig(horizon="7D")
    cutoffs = make_cutoffs("2024-04-08", BacktestConfig(cutoffs=3, horizon="7D"))
    tasks = tasks_for(["p"], str(path), [ModelSpec("gbm", (("max_iter", 100),))], cutoffs, config, "bt-cov")
    frames = [backtest_window(t).frame for t in tasks]
    hits = pd.concat([(f.actual >= f.q10) & (f.actual <= f.q90) for f in frames])
    assert 0.7 <= hits.mean() <= 0.9
