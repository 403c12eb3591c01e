"""Tests of forecasting.engine.staffing: the calibrated staffing quantile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.engine.staffing import (
    Calibration,
    calibrate,
    cross_fitted_staff,
    expected_cost,
    hour_bucket,
    hour_bucket_label,
    target_quantile,
    window_buckets,
)

TZ = "America/New_York"
#: Noise (sd of log demand) by local hour: calm nights, a wild evening peak.
NOISE = np.where(np.arange(24) >= 17, 0.6, np.where(np.arange(24) < 6, 0.05, 0.2))


def _windows(n_windows=12, days=14, seed=0, lead_growth=0.0) -> pd.DataFrame:
    """Backtest windows of a perfect-in-the-median forecast whose error depends on the local hour (and lead)."""
    rng = np.random.default_rng(seed)
    frames = []
    for w in range(n_windows):
        cutoff = pd.Timestamp("2024-03-01", tz=TZ) + pd.Timedelta(days=7 * w)
        ts = pd.date_range(cutoff, periods=days * 24, freq="h").tz_convert("UTC")
        hour = ts.tz_convert(TZ).hour.to_numpy()
        lead = np.arange(len(ts)) / 24
        mean = 40 + 30 * np.sin(np.pi * hour / 24)
        sd = NOISE[hour] * (1 + lead_growth * lead)
        actual = np.expm1(np.log1p(mean) + rng.normal(0, 1, len(ts)) * sd)
        frames.append(pd.DataFrame({"model": "m", "cutoff": str(cutoff.date()), "timestamp": ts, "actual": actual, "yhat": mean}))
    return pd.concat(frames, ignore_index=True)


def _coverage_by_hour(preds, staff) -> pd.Series:
    buckets = hour_bucket(preds.timestamp, TZ)
    return pd.Series(preds.actual.to_numpy() <= staff).groupby(buckets).mean()


def test_the_newsvendor_quantile():
    assert target_quantile(30, 10) == pytest.approx(0.75)
    assert target_quantile(1, 1) == pytest.approx(0.5)


def test_coverage_holds_in_every_hour_bucket_not_only_on_average():
    preds = _windows()
    q = 0.9
    staff = cross_fitted_staff(preds, q, TZ, lead_days=7)
    by_hour = _coverage_by_hour(preds, staff)
    assert len(by_hour) == 8
    assert (by_hour - q).abs().max() < 0.04, by_hour
    # The check has teeth: one offset for every hour meets the target on average and misses it by the hour.
    hour, lead = window_buckets(preds, TZ, 7)
    glob = Calibration.fit(hour, lead, np.log1p(preds.actual) - np.log1p(preds.yhat), q, 7, min_cell=10**9)
    assert not glob.cells and not glob.hours
    flat = _coverage_by_hour(preds, glob.staff(preds.yhat, hour, lead))
    assert abs(flat.mean() - q) < 0.05 and (flat - q).abs().max() > 0.1


def test_lead_time_cells_widen_with_the_error():
    preds = _windows(n_windows=8, days=28, lead_growth=0.08)
    cal = calibrate(preds, 0.8, TZ, lead_days=7)
    evening = [cal.cells[f"6,{lead}"] for lead in range(4)]
    assert evening == sorted(evening) and evening[-1] > evening[0] + 0.2


def test_sparse_cells_fall_back_to_the_hour_then_to_every_residual():
    preds = _windows(n_windows=2, days=2)  # 6 residuals a cell, 12 an hour bucket
    cal = calibrate(preds, 0.75, TZ, lead_days=7)
    assert not cal.cells and not cal.hours and np.isfinite(cal.overall)
    offsets = cal.offsets(np.array([0, 7]), np.array([0, 3]))
    assert (offsets == cal.overall).all()
    assert Calibration.fit(np.array([]), np.array([]), np.array([]), 0.75, 7).overall == 0.0


def test_json_round_trip_and_apply_to_a_nightly_forecast():
    cal = calibrate(_windows(), 0.9, TZ, lead_days=7)
    again = Calibration.from_json(cal.to_json())
    assert again == cal
    index = pd.date_range(pd.Timestamp("2024-06-01", tz=TZ), periods=21 * 24, freq="h").tz_convert("UTC")
    forecast = pd.DataFrame({"yhat": np.full(len(index), 50.0)}, index=index)
    staff = again.apply(forecast, TZ)
    hours = index.tz_convert(TZ).hour
    assert (staff >= 0).all()
    assert staff[hours >= 17].mean() > staff[(hours >= 6) & (hours < 17)].mean() > staff[hours < 6].mean() > 50
    with pytest.raises(ValueError, match="not a staffing calibration"):
        Calibration.from_json('{"quantile": 0.5}')
    assert hour_bucket_label(6) == "18-21"


def test_staffing_to_the_calibrated_quantile_costs_less_than_to_the_point_forecast():
    preds = _windows()
    cu, co = 3.0, 1.0
    staff = cross_fitted_staff(preds, target_quantile(cu, co), TZ, lead_days=7)
    assert expected_cost(preds.actual, staff, cu, co) < expected_cost(preds.actual, preds.yhat, cu, co)
    assert np.isnan(cross_fitted_staff(preds[preds.cutoff == preds.cutoff.iloc[0]], 0.9, TZ, 7)).all()  # one window
