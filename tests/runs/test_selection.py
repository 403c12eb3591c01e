"""Leaderboards, champions and interval calibration on hand-made windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.runs.selection import choose_champion, conformal, leaderboard, select_region


def _windows(model, cutoffs, errors, actual=10.0, width=1.0):
    rows = []
    for cutoff, err in zip(cutoffs, errors):
        ts = pd.date_range(cutoff, periods=14, freq="D", tz="UTC")
        for t in ts:
            rows.append({"model": model, "cutoff": cutoff, "timestamp": t, "actual": actual, "yhat": actual + err,
                         "q10": actual + err - width, "q50": actual + err, "q90": actual + err + width})
    return pd.DataFrame(rows)


CUTS = ["2024-01-01", "2024-01-15", "2024-01-29"]


def _scales(models, scale=2.0):
    return pd.DataFrame([{"model": m, "cutoff": c, "scale": scale, "scale_sq": scale**2, "status": "ok"} for m in models for c in CUTS])


def test_mase_is_the_mean_of_window_mases():
    preds = _windows("a", CUTS, [1.0, 2.0, 3.0])
    board, buckets = leaderboard(preds, _scales(["a"]), width_days=7)
    row = board.iloc[0]
    assert row.mase == pytest.approx(np.mean([1 / 2, 2 / 2, 3 / 2]))
    # Only the first window (error 1, half-width 1) has the actual inside its band.
    assert row.n_windows == 3 and row.coverage_80 == pytest.approx(1 / 3)
    assert sorted(buckets.bucket) == ["d01-07", "d08-14"]


MODELS = ["seasonal_naive", "gbm", "mstl"]


def test_the_lowest_mase_wins_whatever_its_place_among_the_candidates():
    # mstl is neither the first candidate nor the default; prophet is better still but has too few windows,
    # and sarimax's score is not finite.
    board = pd.DataFrame({"model": [*MODELS, "prophet", "sarimax"], "mase": [1.0, 0.9, 0.5, 0.1, np.nan],
                          "n_windows": [3, 3, 3, 2, 3]})
    candidates = [*MODELS, "prophet", "sarimax"]
    assert choose_champion(board, candidates, 3, "seasonal_naive", "mase") == ("mstl", "lowest MASE")
    assert choose_champion(board, candidates, 2, "seasonal_naive", "mase") == ("prophet", "lowest MASE")


def test_ties_go_to_the_default_else_to_the_earlier_candidate():
    board = pd.DataFrame({"model": MODELS, "mase": [1.0, 0.7, 0.7], "n_windows": [3, 3, 3]})
    assert choose_champion(board, MODELS, 3, "seasonal_naive", "mase") == ("gbm", "tie on MASE: earlier candidate")
    assert choose_champion(board, ["seasonal_naive", "mstl", "gbm"], 3, "seasonal_naive", "mase") == ("mstl", "tie on MASE: earlier candidate")
    assert choose_champion(board, MODELS, 3, "mstl", "mase") == ("mstl", "tie on MASE: default model")


def test_without_enough_windows_the_default_model_is_champion():
    few = pd.DataFrame({"model": MODELS, "mase": [1.0, 0.7, 0.5], "n_windows": [1, 2, 2]})
    assert choose_champion(few, MODELS, 3, "seasonal_naive", "mase") == ("seasonal_naive", "no model has 3 successful windows: default model")
    assert choose_champion(few, MODELS, 3, "gbm", "mase") == ("gbm", "no model has 3 successful windows: default model")


def test_select_region_names_the_model_with_the_smallest_errors():
    # Errors 3, 1, 2 on every slot of every window, scale 2: MASE 1.5, 0.5, 1.0.
    preds = pd.concat([_windows("seasonal_naive", CUTS, [3, 3, 3]), _windows("a", CUTS, [1, 1, 1]), _windows("b", CUTS, [2, 2, 2])])
    out = select_region(preds, _scales(["seasonal_naive", "a", "b"]), ["seasonal_naive", "b", "a"], 7, 3, "seasonal_naive", 0)
    champion = out["champion"]
    assert (champion["model"], champion["reason"], champion["selection_metric"]) == ("a", "lowest RMSSE", "rmsse")
    assert champion["mase"] == pytest.approx(0.5) and champion["seasonal_naive_mase"] == pytest.approx(1.5)


def test_combination_is_a_candidate_and_can_win():
    # a is too high by 2, b too low by 2: their average is exact.
    preds = pd.concat([_windows("seasonal_naive", CUTS, [3, 3, 3]), _windows("a", CUTS, [2, 2, 2]), _windows("b", CUTS, [-2, -2, -2])])
    out = select_region(preds, _scales(["seasonal_naive", "a", "b"]), ["seasonal_naive", "a", "b"], 7, 3, "seasonal_naive", 2)
    assert (out["champion"]["model"], out["champion"]["reason"]) == ("combination(a + b)", "lowest RMSSE")
    assert out["champion"]["mase"] == pytest.approx(0.0)
    assert out["champion"]["seasonal_naive_mase"] == pytest.approx(1.5)


def test_conformal_calibration_reaches_nominal_coverage_on_known_noise():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        ts = pd.date_range("2024-01-01", periods=200, freq="h", tz="UTC") + pd.Timedelta(days=14 * i)
        actual = rng.poisson(50, size=len(ts)).astype(float)
        # Intervals deliberately far too narrow: +-1 around the true mean.
        rows.append(pd.DataFrame({"model": "m", "cutoff": f"c{i:02d}", "timestamp": ts, "actual": actual,
                                  "yhat": 50.0, "q10": 49.0, "q50": 50.0, "q90": 51.0}))
    preds = pd.concat(rows, ignore_index=True)
    raw = ((preds.actual >= preds.q10) & (preds.actual <= preds.q90)).mean()
    adjustment, calibrated = conformal(preds)
    assert raw < 0.3 and adjustment > 0
    assert calibrated == pytest.approx(0.8, abs=0.04)
