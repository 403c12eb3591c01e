"""The leaderboard's metrics on sparse windows: which forecast each metric rewards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecasting.runs.leaderboard import COLUMNS, leaderboard
from forecasting.runs.selection import select_region

RATE = 0.15
CUTS = ["2024-01-01", "2024-01-15", "2024-01-29", "2024-02-12"]


def _sparse_windows(seed=0):
    """Poisson(RATE) actuals; ``zero`` forecasts zeros, ``rate`` the true rate and its Poisson quantiles."""
    rng = np.random.default_rng(seed)
    rows = []
    for cutoff in CUTS:
        ts = pd.date_range(cutoff, periods=14 * 24, freq="h", tz="UTC")
        actual = rng.poisson(RATE, len(ts)).astype(float)
        q = {f"q{p}": stats.poisson.ppf(p / 100, RATE) for p in (10, 50, 90)}
        for model, yhat, qs in (("zero", 0.0, dict.fromkeys(q, 0.0)), ("rate", RATE, q)):
            rows.append(pd.DataFrame({"model": model, "cutoff": cutoff, "timestamp": ts, "actual": actual, "yhat": yhat, **qs}))
    return pd.concat(rows, ignore_index=True)


def _scales(models, history_seed=1):
    # Each window's history: Poisson(RATE) hours, scales as the jobs compute them.
    from forecasting.engine.metrics import seasonal_scale, seasonal_scale_sq

    rows = []
    for i, c in enumerate(CUTS):
        idx = pd.date_range(end=pd.Timestamp(c, tz="UTC") - pd.Timedelta("1h"), periods=24 * 7 * 8, freq="h")
        y = pd.Series(np.random.default_rng(history_seed + i).poisson(RATE, len(idx)).astype(float), index=idx)
        rows += [{"model": m, "cutoff": c, "scale": seasonal_scale(y), "scale_sq": seasonal_scale_sq(y), "status": "ok"}
                 for m in models]
    return pd.DataFrame(rows)


def test_on_sparse_windows_zeros_win_mase_but_not_rmsse_or_the_scaled_pinball():
    board, buckets = leaderboard(_sparse_windows(), _scales(["zero", "rate"]), width_days=7)
    assert list(board.columns) == COLUMNS
    row = board.set_index("model")
    assert row.mase["zero"] < row.mase["rate"]
    assert row.rmsse["rate"] < row.rmsse["zero"]
    assert row.spl["rate"] < row.spl["zero"]
    assert (row.zero_share > 0.8).all() and row.intermittent.all()
    assert {"mase", "rmsse"} <= set(buckets.columns)


def test_rmsse_is_the_mean_of_window_rmsses():
    preds = _sparse_windows()
    scales = _scales(["zero", "rate"])
    board, _ = leaderboard(preds, scales, width_days=7)
    rate = preds[preds.model == "rate"].merge(scales, on=["model", "cutoff"])
    per_window = rate.groupby("cutoff").apply(lambda g: np.sqrt(((g.actual - g.yhat) ** 2).mean() / g.scale_sq.iloc[0]))
    assert board.set_index("model").rmsse["rate"] == pytest.approx(per_window.mean())


def test_without_the_squared_scale_rmsse_is_unknown_and_mase_still_scores():
    board, _ = leaderboard(_sparse_windows(), _scales(["zero", "rate"]).drop(columns="scale_sq"), width_days=7)
    assert board.rmsse.isna().all() and board.mase.notna().all()


@pytest.mark.parametrize("metric, winner, reason", [
    ("mase", "zero", "lowest MASE"),
    ("rmsse", "rate", "lowest RMSSE"),
    ("pinball", "rate", "lowest scaled pinball loss"),
])
def test_the_selection_metric_chooses_the_champion_and_the_reason_names_it(metric, winner, reason):
    out = select_region(_sparse_windows(), _scales(["zero", "rate"]), ["zero", "rate"], 7, 3, "zero", 0, metric=metric)
    assert (out["champion"]["model"], out["champion"]["reason"], out["champion"]["selection_metric"]) == (winner, reason, metric)
