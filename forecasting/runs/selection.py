"""Choosing models from scored windows: the one place selection rules live.

Two sources of scored windows, one module:

* the nightly job's own hold-out (one window at the end of each region's
  history, scored per candidate): :func:`rank_candidates` orders the
  candidates to try, best first;
* a backtest's windows (many cutoffs): :func:`select_region` builds the
  leaderboard and picks the champion the nightly run then uses.

Pure functions on scores, or on one region's window predictions (columns
``model, cutoff, timestamp, actual, yhat, q10, q50, q90``) and task rows
(``model, cutoff, status, scale, scale_sq``).  Nothing here reads or writes
anything.  The leaderboard's metrics are :mod:`forecasting.runs.leaderboard`'s.

Rules (documented in the README):

* Nightly hold-out: the lowest RMSSE first; candidates whose hold-out failed
  (NaN) go last, in config order, since the hold-out may be what broke them.

* The combination candidate averages the point forecasts and quantiles of
  the ``top_k`` best models (by the selection metric) of the region.  It is
  chosen on the same windows it is scored on, so its score flatters it
  slightly.
* The champion has the lowest score by ``selection_metric``
  (:data:`METRICS`): RMSSE by default; MASE; the scaled pinball loss of
  q10/q50/q90 (``pinball``); or the pinball loss of its calibrated staffing
  quantile (``staffing``, see :mod:`forecasting.runs.staffing_report`), among models with at least
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
from forecasting.runs.leaderboard import COLUMNS, ORACLE_COLUMNS, bucket_labels, leaderboard  # noqa: F401  (re-exported)
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


#: Leaderboard column each ``selection_metric`` chooses by, and how a reason names it.
METRICS = {
    "rmsse": ("rmsse", "RMSSE"),
    "mase": ("mase", "MASE"),
    "pinball": ("spl", "scaled pinball loss"),
    "staffing": ("staffing_pinball", "staffing pinball loss"),
}


def choose_champion(board: pd.DataFrame, candidates: list[str], min_windows: int, default_model: str,
                    metric: str = "rmsse") -> tuple[str | None, str]:
    """The champion's label (``None``: no champion) and the reason.

    ``metric`` (a key of :data:`METRICS`) is what the lowest wins by, and
    every reason names it; a champion always has a finite MASE as well.
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
        return default_model, f"tie on {name}: default model"
    order = {label: i for i, label in enumerate(candidates)}
    winner = min(tied, key=lambda label: order.get(label, len(order)))
    return winner, f"lowest {name}" if len(tied) == 1 else f"tie on {name}: earlier candidate"


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
                  default_model: str, top_k: int, staffing=None, timezone: str = "UTC", metric: str = "rmsse",
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
    tasks = tasks if "scale_sq" in tasks else tasks.assign(scale_sq=np.nan)
    scales = tasks[tasks.status == "ok"][["model", "cutoff", "scale", "scale_sq"]]
    board, buckets = leaderboard(preds, scales, width_days)
    # The combination's members are the best by the selection metric (by
    # MASE when that is the staffing score, which is computed later).
    rank_by = METRICS[metric][0] if METRICS[metric][0] in board else "mase"
    if top_k >= 2 and len(board):
        ranked = board[(board.n_windows >= min_windows) & np.isfinite(board[rank_by].astype(float))
                       & np.isfinite(board.mase.astype(float))].sort_values(rank_by)
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
        "selection_metric": metric,
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
