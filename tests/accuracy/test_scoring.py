"""Live metrics as sums: the same numbers as the engine's metrics on the slots, however the slots are split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from forecasting.accuracy.scoring import day_sums, lead_bucket, metrics
from forecasting.engine.metrics import bias, coverage, wape
from forecasting.store.scores import SUM_COLUMNS


def _slots(n, seed, tz_offset_hours=0):
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-04", tz="UTC") - pd.Timedelta(hours=tz_offset_hours)
    ts = pd.date_range(start, periods=n, freq="h").as_unit("s").asi8
    actual = rng.poisson(20, n).astype(float)
    yhat = actual + rng.normal(0, 4, n)
    return pd.DataFrame({
        "run_id": "r1", "run_date": "2024-03-04", "ts": ts, "model": "gbm", "actual": actual, "scale": 3.5,
        "yhat": yhat, "q10": yhat - 5, "q90": yhat + 5,
        "naive_yhat": actual + rng.normal(0, 6, n), "naive_q10": actual - 8, "naive_q90": actual + 8,
    })


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 24 * 9), seed=st.integers(0, 10**6), split=st.integers(0, 24 * 9))
def test_sums_of_any_split_give_the_engines_metrics_on_all_slots(n, seed, split):
    slots = _slots(n, seed)
    parts = [day_sums(slots.iloc[:split], "Europe/Berlin"), day_sums(slots.iloc[split:], "Europe/Berlin")]
    summed = pd.concat(parts)[list(SUM_COLUMNS)].sum().to_frame().T
    own, naive = metrics(summed).iloc[0], metrics(summed, "naive_").iloc[0]
    a = slots.actual
    assert own.mase == pytest.approx(np.mean(np.abs(slots.yhat - a)) / 3.5)
    assert own.wape == pytest.approx(wape(a, slots.yhat))
    assert own.bias == pytest.approx(bias(a, slots.yhat))
    assert own.coverage == pytest.approx(coverage(a, slots.q10, slots.q90))
    assert naive.mase == pytest.approx(np.mean(np.abs(slots.naive_yhat - a)) / 3.5)
    assert naive.coverage == pytest.approx(coverage(a, slots.naive_q10, slots.naive_q90))


def test_days_and_leads_are_local_to_the_region():
    # Berlin is UTC+1 in March: the run date's local midnight is 23:00 UTC the day before.
    slots = _slots(48, 1, tz_offset_hours=1)
    days = day_sums(slots, "Europe/Berlin")
    assert list(days.day) == ["2024-03-04", "2024-03-05"] and list(days.lead) == [1, 2]
    assert list(days.n) == [24, 24]
    utc = day_sums(slots, "UTC")  # the same slots counted in UTC days straddle three
    assert list(utc.day) == ["2024-03-03", "2024-03-04", "2024-03-05"] and list(utc.lead) == [0, 1, 2]


def test_a_run_without_a_baseline_counts_no_baseline_slots():
    slots = _slots(24, 2).assign(naive_yhat=np.nan, naive_q10=np.nan, naive_q90=np.nan)
    days = day_sums(slots, "UTC")
    assert days.n.sum() == 24 and days.naive_n.sum() == 0
    assert np.isnan(metrics(days, "naive_").mase).all()


def test_lead_buckets():
    assert list(lead_bucket([1, 2, 7, 8, 14, 15, 28, 29, 40])) == [
        "day 1", "days 2-7", "days 2-7", "days 8-14", "days 8-14", "days 15-28", "days 15-28", "days 29+", "days 29+"]
