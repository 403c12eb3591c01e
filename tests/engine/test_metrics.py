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
