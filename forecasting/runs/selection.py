"""Choosing models from scored windows: the one place selection rules live.

Two sources of scored windows, one module:

* the nightly job's own hold-out (one window at the end of each region's
  history, scored per candidate): :func:`rank_candidates` orders the
  candidates to try, best first;
* a backtest's windows (many cutoffs): :func:`select_region` builds the
  leaderboard and picks the champion the nightly run then uses.

Pure functions on scores, or on one region's window predictions (columns
``model, cutoff, timestamp, actual, yhat, q10, q50, q90``) and task rows
(``model, cutoff, status, scale``).  Nothing here reads or writes anything.

Rules (documented in the README):

* Nightly hold-out: the lowest MASE first; candidates whose hold-out failed
  (NaN) go last, in config order, since the hold-out may be what broke them.

* A model's MASE in a region is the mean over its windows of the window's
  mean absolute error divided by the window's scale (the training history's
  weekly seasonal-naive error).  WAPE, sMAPE, bias, pinball loss and the
  q10-q90 coverage pool every slot of every window.
* The combination candidate averages the point forecasts and quantiles of
  the ``top_k`` best models (by MASE) of the region.  It is chosen on the
  same windows it is scored on, so its score flatters it slightly.
* The champion has the lowest MASE (with ``selection_metric: pinball``, the
  lowest pinball loss of its calibrated staffing quantile, see
  :mod:`forecasting.runs.staffing_report`) among models with at least
  ``min_windows`` successful windows.  Ties go to the default model if it is
  among them, else to the earlier candidate.  With no qualifying model the
  default model is champion if it scored at least one window.  Otherwise the
  region has no champion (``None``, with the reason): a champion always has
  a MASE, and the nightly run falls back to its configured models.
* The champion's interval is conformalised: the q10-q90 band is widened (or
  narrowed) on the log1p scale by the quantile of the backtest
  nonconformity scores that gives 80 % coverage.  Its coverage is reported
  cross-fitted: each window is scored with the adjustment learnt from the
  other windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.engine import metrics
from forecasting.models.spec import ModelSpec
from forecasting.models.base import adjust_interval
from forecasting.runs.staffing_report import STAFFING_COLUMNS, champion_calibration, staffing_report, staffing_scores

COVERAGE = 0.8
COMBINATION = "combination"


def rank_candidates(specs, scores: dict) -> list:
    """``specs`` ordered by hold-out MASE (``scores`` by model label), best first;
    those without a finite score last, in their given order."""

    def key(i):
        s = scores.get(specs[i].label, float("nan"))
        return (0, s, i) if np.isfinite(s) else (1, 0.0, i)

    return [specs[i] for i in sorted(range(len(specs)), key=key)]


def bucket_labels(frame: pd.DataFrame, width_days: int) -> pd.Series:
    """Horizon bucket (``d01-07``, ``d08-14`` ...) of each row, from its window's first slot."""
    first = frame.groupby(["model", "cutoff"])["timestamp"].transform("min")
    days = ((frame["timestamp"] - first) / pd.Timedelta("1D")).astype(float)
    idx = np.floor(days / width_days).astype(int)
    return idx.map(lambda i: f"d{i * width_days + 1:02d}-{(i + 1) * width_days:02d}")


def combine(preds: pd.DataFrame, members: list[str]) -> pd.DataFrame:
    """Average the members' forecasts over the windows and slots they share."""
    sub = preds[preds.model.isin(members)]
    counts = sub.groupby(["cutoff", "timestamp"])["model"].transform("nunique")
    sub = sub[counts == len(members)]
    cols = ["yhat", "q10", "q50", "q90", *(["yhat_oracle"] if "yhat_oracle" in sub else [])]
    out = sub.groupby(["cutoff", "timestamp"], as_index=False).agg({"actual": "first", **{c: "mean" for c in cols}})
    out.insert(0, "model", combination_label(members))
    return out


def combination_label(members: list[str]) -> str:
    return ModelSpec(COMBINATION, (("members", tuple(members)),)).label


def leaderboard(preds: pd.DataFrame, scales: pd.DataFrame, width_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-model metrics, and per model and horizon bucket MASE.

    Parameters
    ----------
    preds : DataFrame
        One region's window predictions.
    scales : DataFrame
        ``model, cutoff, scale`` of the successful windows.
    width_days : int
        Width of the horizon buckets.
    """
    if preds.empty:
        empty = pd.DataFrame(columns=["model", "mase", "wape", "smape", "bias", "pinball", "coverage_80", "n_windows",
                                      *ORACLE_COLUMNS])
        return empty, pd.DataFrame(columns=["model", "bucket", "mase"])
    frame = preds.merge(scales[["model", "cutoff", "scale"]], on=["model", "cutoff"], how="left")
    if "yhat_oracle" not in frame:
        frame["yhat_oracle"] = np.nan
    frame["abs_err"] = (frame.actual - frame.yhat).abs()
    frame["abs_err_oracle"] = (frame.actual - frame.yhat_oracle).abs()
    frame["bucket"] = bucket_labels(frame, width_days)
    window = frame.groupby(["model", "cutoff"]).agg(mae=("abs_err", "mean"), mae_oracle=("abs_err_oracle", "mean"),
                                                    scale=("scale", "first"))
    window["mase"] = window.mae / window.scale.where(window.scale > 0)
    window["mase_oracle"] = window.mae_oracle / window.scale.where(window.scale > 0)
    rows = []
    for model, g in frame.groupby("model", sort=False):
        rows.append(
            {
                "model": model,
                "mase": float(window.loc[model].mase.mean()),
                "wape": metrics.wape(g.actual, g.yhat),
                "smape": metrics.smape(g.actual, g.yhat),
                "bias": metrics.bias(g.actual, g.yhat),
                "pinball": float(np.nanmean([metrics.pinball(g.actual, g[c], q) for c, q in (("q10", 0.1), ("q50", 0.5), ("q90", 0.9))])),
                "coverage_80": metrics.coverage(g.actual, g.q10, g.q90),
                "n_windows": int(window.loc[model].mase.notna().sum()),
                **_oracle_scores(g, window.loc[model]),
            }
        )
    by_bucket = frame.groupby(["model", "cutoff", "bucket"]).agg(mae=("abs_err", "mean"), scale=("scale", "first")).reset_index()
    by_bucket["mase"] = by_bucket.mae / by_bucket.scale.where(by_bucket.scale > 0)
    buckets = by_bucket.groupby(["model", "bucket"], as_index=False)["mase"].mean()
    return pd.DataFrame(rows), buckets


#: Leaderboard columns of the oracle score (NaN without ``oracle_regressors``).
ORACLE_COLUMNS = ["mase_oracle", "wape_oracle", "oracle_gain"]


def _oracle_scores(g: pd.DataFrame, windows: pd.DataFrame) -> dict:
    """MASE and WAPE with the recorded regressors, and the MASE they buy (honest - oracle),
    over the windows that have both."""
    both = windows.mase_oracle.notna() & windows.mase.notna()
    if not both.any():
        return dict.fromkeys(ORACLE_COLUMNS, float("nan"))
    mase_oracle = float(windows.mase_oracle[both].mean())
    scored = g[g.yhat_oracle.notna()]
    return {"mase_oracle": mase_oracle, "wape_oracle": metrics.wape(scored.actual, scored.yhat_oracle),
            "oracle_gain": float(windows.mase[both].mean()) - mase_oracle}


#: Leaderboard column each ``selection_metric`` chooses by, and how a reason names it.
METRICS = {"mase": ("mase", "MASE"), "pinball": ("staffing_pinball", "staffing pinball loss")}


def choose_champion(board: pd.DataFrame, candidates: list[str], min_windows: int, default_model: str,
                    metric: str = "mase") -> tuple[str | None, str]:
    """The champion's label (``None``: no champion) and the reason.

    ``metric`` (``mase`` or ``pinball``, see :data:`METRICS`) is what the
    lowest wins by; a champion always has a finite MASE as well.
    """
    column, name = METRICS[metric]
    board = board[np.isfinite(board.mase.astype(float))]
    scored = board[(board.n_windows >= 1) & np.isfinite(board[column].astype(float))]
    if scored.empty:
        return None, "no scored window"
    eligible = scored[scored.n_windows >= min_windows]
    if eligible.empty:
        if default_model in set(scored.model):
            return default_model, f"no model has {min_windows} successful windows: default model"
        return None, f"no model has {min_windows} successful windows and the default model {default_model} scored none"
    values = eligible[column].astype(float)
    tied = eligible[np.isclose(values, values.min(), rtol=1e-9, atol=1e-12)].model.tolist()
    if len(tied) > 1 and default_model in tied:
        return default_model, "tie: default model"
    order = {label: i for i, label in enumerate(candidates)}
    winner = min(tied, key=lambda label: order.get(label, len(order)))
    return winner, f"lowest {name}" if len(tied) == 1 else "tie: earlier candidate"


def _scores(g: pd.DataFrame) -> np.ndarray:
    a = np.log1p(g.actual.to_numpy(dtype=float))
    lo = np.log1p(g.q10.to_numpy(dtype=float))
    hi = np.log1p(g.q90.to_numpy(dtype=float))
    s = np.maximum(lo - a, a - hi)
    return s[np.isfinite(s)]


def _adjustment(scores: np.ndarray) -> float:
    if scores.size == 0:
        return 0.0
    level = min(1.0, COVERAGE * (1 + 1 / scores.size))
    return float(np.quantile(scores, level, method="higher"))


def _covered(g: pd.DataFrame, q: float) -> np.ndarray:
    adjusted = adjust_interval(g, q)
    a = g.actual.to_numpy(dtype=float)
    ok = np.isfinite(a)
    return (a[ok] >= adjusted.q10.to_numpy()[ok]) & (a[ok] <= adjusted.q90.to_numpy()[ok])


def conformal(preds: pd.DataFrame) -> tuple[float, float]:
    """The interval adjustment from all windows, and its cross-fitted coverage."""
    adjustment = _adjustment(_scores(preds))
    cutoffs = preds.cutoff.unique()
    if len(cutoffs) < 2:
        return adjustment, float("nan")
    hits = []
    for c in cutoffs:
        held = preds[preds.cutoff == c]
        q = _adjustment(_scores(preds[preds.cutoff != c]))
        hits.append(_covered(held, q))
    hits = np.concatenate(hits)
    return adjustment, float(hits.mean()) if hits.size else float("nan")


def select_region(preds: pd.DataFrame, tasks: pd.DataFrame, candidates: list[str], width_days: int, min_windows: int,
                  default_model: str, top_k: int, staffing=None, timezone: str = "UTC", metric: str = "mase",
                  region: str = "") -> dict:
    """Leaderboard, horizon metrics and champion of one region.

    Returns a dict with ``leaderboard`` and ``buckets`` frames (combination
    included), and ``champion``: ``model, status, mase, seasonal_naive_mase,
    interval_adjustment, coverage_80, calibrated_coverage_80, reason,
    staffing`` (the calibration's JSON, or None); ``status`` is ``champion``,
    or ``no_champion`` (``model`` None, the reason says why).  With
    ``staffing`` (a :class:`~forecasting.config.backtest.StaffingConfig`) the
    leaderboard has the staffing scores, and ``staffing`` the region's rows
    of the staffing report (:mod:`forecasting.runs.staffing_report`).
    """
    scales = tasks[tasks.status == "ok"][["model", "cutoff", "scale"]]
    board, buckets = leaderboard(preds, scales, width_days)
    if top_k >= 2 and len(board):
        ranked = board[(board.n_windows >= min_windows) & np.isfinite(board.mase.astype(float))].sort_values("mase")
        # Sorted: the same members are the same candidate, whatever their rank.
        members = sorted(ranked.model.head(top_k).tolist())
        if len(members) >= 2:
            combo = combine(preds, members)
            combo_scales = scales[scales.model == members[0]].assign(model=combo.model.iloc[0]) if len(combo) else scales.iloc[0:0]
            cboard, cbuckets = leaderboard(combo, combo_scales, width_days)
            board = pd.concat([board, cboard], ignore_index=True)
            buckets = pd.concat([buckets, cbuckets], ignore_index=True)
            preds = pd.concat([preds, combo], ignore_index=True)
            candidates = candidates + cboard.model.tolist()
    staff = {}
    if staffing is not None and len(board):
        scores, staff = staffing_scores(preds, staffing, timezone, width_days)
        board = board.drop(columns=STAFFING_COLUMNS, errors="ignore").merge(scores, on="model", how="left")
    else:
        board = board.assign(**dict.fromkeys(STAFFING_COLUMNS, np.nan))
    model, reason = choose_champion(board, candidates, min_windows, default_model, metric)
    if model is None and reason == "no scored window":
        reason = f"no scored window: {failure_summary(tasks)}"
    row = board.set_index("model")
    champ_preds = preds[preds.model == model]
    adjustment, calibrated = conformal(champ_preds) if len(champ_preds) else (0.0, float("nan"))
    baseline = row.mase.get("seasonal_naive", np.nan)
    champion = {
        "model": model,
        "status": "champion" if model is not None else "no_champion",
        "mase": float(row.mase.get(model, np.nan)) if model is not None else np.nan,
        "seasonal_naive_mase": float(baseline),
        "interval_adjustment": adjustment,
        "coverage_80": float(row.coverage_80.get(model, np.nan)),
        "calibrated_coverage_80": calibrated,
        "reason": reason,
        "staffing": champion_calibration(preds, model, staffing, timezone, width_days),
    }
    report = staffing_report(region, model, staff, staffing, timezone) if staffing is not None else None
    return {"leaderboard": board, "buckets": buckets, "champion": champion, "predictions": preds, "staffing": report}



def failure_summary(tasks: pd.DataFrame) -> str:
    """Why a region's windows failed, in a few words: the most common message, and how many windows."""
    failed = tasks[tasks.status != "ok"]
    if failed.empty:
        return "no window ran"
    messages = failed.message.fillna(failed.status)
    top = messages.value_counts()
    return f"{len(failed)} of {len(tasks)} windows failed, e.g. {top.index[0]}"
