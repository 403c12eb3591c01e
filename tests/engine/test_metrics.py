"""Metric values checked by hand on tiny series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.engine import metrics


def _weekly_train():
    # Two weeks of daily slots (season 7D = 7 slots): the second week is the
    # first plus 2, so every seasonal difference is exactly 2.
    idx = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC")
    values = np.r_[np.arange(7.0), np.arange(7.0) + 2]
    return pd.Series(values, index=idx)


def test_mase_scales_by_weekly_seasonal_naive_error():
    train = _weekly_train()
    assert metrics.seasonal_scale(train) == pytest.approx(2.0)
    # Absolute errors 1, 3 -> mean 2 -> MASE 1.
    assert metrics.mase([10, 10], [11, 7], train) == pytest.approx(1.0)


def test_mase_is_nan_on_a_flat_history():
    idx = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC")
    assert np.isnan(metrics.mase([1.0], [2.0], pd.Series(5.0, index=idx)))


def test_wape_smape_bias():
    actual, forecast = [10.0, 0.0, 30.0], [12.0, 0.0, 27.0]
    assert metrics.wape(actual, forecast) == pytest.approx(5 / 40)
    # 2*2/22, 0 (both zero), 2*3/57
    assert metrics.smape(actual, forecast) == pytest.approx((4 / 22 + 0 + 6 / 57) / 3)
    assert metrics.bias(actual, forecast) == pytest.approx((-1 / 3) / (40 / 3))


def test_pinball_and_coverage():
    # q=0.9: under-forecast by 2 costs 0.9*2, over-forecast by 1 costs 0.1*1.
    assert metrics.pinball([10.0, 10.0], [8.0, 11.0], 0.9) == pytest.approx((1.8 + 0.1) / 2)
    assert metrics.coverage([1, 5, 9, np.nan], [0, 6, 8, 0], [2, 7, 10, 1]) == pytest.approx(2 / 3)


def test_unknown_actuals_are_ignored():
    assert metrics.wape([10.0, np.nan], [12.0, 100.0]) == pytest.approx(0.2)


def test_rmsse_scales_squared_errors_by_weekly_seasonal_naive_squared_error():
    train = _weekly_train()
    assert metrics.seasonal_scale_sq(train) == pytest.approx(4.0)
    # Squared errors 1, 9 -> mean 5 -> sqrt(5 / 4).
    assert metrics.rmsse([10, 10], [11, 7], train) == pytest.approx(np.sqrt(5 / 4))
    idx = pd.date_range("2024-01-01", periods=14, freq="D", tz="UTC")
    assert np.isnan(metrics.rmsse([1.0], [2.0], pd.Series(5.0, index=idx)))


def test_on_sparse_demand_mase_prefers_zeros_and_rmsse_the_rate():
    rng = np.random.default_rng(0)
    rate = 0.2
    idx = pd.date_range("2024-01-01", periods=24 * 7 * 8, freq="h", tz="UTC")
    train = pd.Series(rng.poisson(rate, len(idx)).astype(float), index=idx)
    actual = rng.poisson(rate, 5000).astype(float)
    zeros, mean = np.zeros_like(actual), np.full_like(actual, rate)
    assert metrics.mase(actual, zeros, train) < metrics.mase(actual, mean, train)
    assert metrics.rmsse(actual, mean, train) < metrics.rmsse(actual, zeros, train)


def test_zero_share_and_the_intermittent_flag():
    assert metrics.zero_share([0, 0, 3, np.nan]) == pytest.approx(2 / 3)
    assert np.isnan(metrics.zero_share([np.nan]))
    # ADI 1.32: nonzero in fewer than 1 slot in 1.32, i.e. more than ~24 % zeros.
    # ADI: slots per nonzero slot; intermittent above 1.32.
    assert metrics.is_intermittent([0, 1, 1, 1]) is True  # 4 / 3 = 1.33
    assert metrics.is_intermittent([0, 1, 1, 1, 1]) is False  # 5 / 4 = 1.25
    assert metrics.is_intermittent([0, 0, 0]) is True
    assert metrics.is_intermittent([np.nan]) is False
