"""PNG plots of a whole backtest: its leaderboard and its error by horizon.

Both are written atomically (:func:`forecasting.reports.figures.save_png`)
from figures built off pyplot, so they are safe from worker threads.  The
per-region forecast plots are :mod:`forecasting.reports.plots`.

Functions
---------
plot_error_by_horizon
    Mean MASE per horizon bucket, one line per model.
plot_leaderboard
    Mean MASE per model and the number of regions each model is champion of.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from forecasting.reports.figures import FORECAST_COLOR, new_figure, no_data, require_columns, save_png

__all__ = ["plot_error_by_horizon", "plot_leaderboard"]

#: Default resolution of the PNGs, in dots per inch.
DPI = 100
#: Default figure size, in inches (width, height).
FIGSIZE = (10.0, 4.0)
#: Name of the baseline model in leaderboards.
SEASONAL_NAIVE = "seasonal_naive"

_BASELINE_COLOR = "tab:red"
_CHAMPION_COLOR = "tab:green"


def _mase_series(frame: pd.DataFrame, column: str = "mase") -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


# --------------------------------------------------------------------------- error by horizon


def plot_error_by_horizon(
    path,
    metrics: pd.DataFrame,
    *,
    dpi: float = DPI,
    figsize: Sequence[float] = FIGSIZE,
) -> Path:
    """Plot mean MASE per horizon bucket, one line per model.

    Each point is the mean, over regions, of the MASE of one model in one
    horizon bucket; NaN scores are left out of the mean.  A dashed line at
    1.0 marks the seasonal-naive level (MASE below 1 beats last week's
    values).

    Parameters
    ----------
    path : path-like
        Destination PNG; its folder is created if needed and an existing
        file is replaced atomically.
    metrics : pandas.DataFrame
        Columns ``model``, ``bucket`` and ``mase``, one row per region,
        model and bucket.  ``bucket`` is an orderable label such as
        ``"d01-07"``, ``"d08-14"``; the x axis shows the buckets in sorted
        order (an ordered categorical keeps its own order).
    dpi : float, default 100
        Resolution of the PNG.
    figsize : (float, float), default (10, 4)
        Figure size in inches.

    Returns
    -------
    pathlib.Path
        ``path``, now holding the PNG.

    Raises
    ------
    ValueError
        If ``metrics`` lacks one of the required columns.
    """
    require_columns(metrics, ("model", "bucket", "mase"), "metrics")
    frame = pd.DataFrame({"model": metrics["model"], "bucket": metrics["bucket"], "mase": _mase_series(metrics)})
    frame = frame.dropna(subset=["model", "bucket"])
    buckets = list(frame["bucket"].drop_duplicates().sort_values())
    scores = frame.dropna(subset=["mase"])
    means = scores.groupby(["model", "bucket"], observed=True, sort=False)["mase"].mean()
    models = sorted({m for m, _ in means.index}, key=str)
    position = {b: i for i, b in enumerate(buckets)}

    fig = new_figure(figsize, dpi, layout="constrained")
    ax = fig.add_subplot()
    colors = _model_colors(models)
    for model in models:
        row = means.loc[model]
        y = np.full(len(buckets), np.nan)
        for bucket, value in row.items():
            y[position[bucket]] = value
        ax.plot(range(len(buckets)), y, marker="o", markersize=5, linewidth=1.8, color=colors[model], label=str(model))
    ax.axhline(1.0, color=_BASELINE_COLOR, linestyle="--", linewidth=1.2, label="seasonal naive level")

    ax.set_xticks(range(len(buckets)), [str(b) for b in buckets])
    if buckets:
        ax.set_xlim(-0.3, len(buckets) - 0.7)
    if not models:
        no_data(ax, "no finite MASE values")
    top = np.nanmax(means.to_numpy()) if len(means) else 1.0
    ax.set_ylim(0, max(top, 1.0) * 1.12)
    n_regions = int(metrics["region"].nunique()) if "region" in metrics.columns else None
    ax.set_title("Forecast error by horizon" + (f" (mean over {n_regions} regions)" if n_regions else ""))
    ax.set_xlabel("horizon bucket (days ahead)")
    ax.set_ylabel("mean MASE")
    ax.grid(True, axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
    return save_png(fig, path)


def _model_colors(models: Sequence) -> dict:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(models) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


# --------------------------------------------------------------------------- leaderboard


def plot_leaderboard(
    path,
    leaderboard: pd.DataFrame,
    champions: pd.DataFrame,
    *,
    dpi: float = DPI,
    figsize: Sequence[float] | None = None,
) -> Path:
    """Plot the model leaderboard and how many regions each model wins.

    Two panels share the model axis, best model at the top.  Left:
    horizontal bars of each model's mean MASE over regions, with a dashed
    vertical line at the seasonal-naive mean.  Right: the number of regions
    of which each model is the champion.  NaN scores are ignored; a model
    with no finite score is listed last, marked "n/a".

    Parameters
    ----------
    path : path-like
        Destination PNG; its folder is created if needed and an existing
        file is replaced atomically.
    leaderboard : pandas.DataFrame
        Columns ``region``, ``model`` and ``mase``: every candidate's score
        in every region.
    champions : pandas.DataFrame
        Columns ``region``, ``model``, ``mase`` and ``seasonal_naive_mase``:
        one row per region with the chosen model.  Rows whose ``model`` is
        missing (no champion) count for no model.
    dpi : float, default 100
        Resolution of the PNG.
    figsize : (float, float), optional
        Figure size in inches; by default 10 wide and tall enough for the
        models (at least 4).

    Returns
    -------
    pathlib.Path
        ``path``, now holding the PNG.

    Raises
    ------
    ValueError
        If a frame lacks one of the required columns.

    Notes
    -----
    The seasonal-naive line is the mean of ``champions.seasonal_naive_mase``
    (the baseline's score in each region); if that column holds no finite
    value, the mean score of the ``seasonal_naive`` model in ``leaderboard``
    is used, and without either the line is left out.
    """
    from matplotlib.ticker import MaxNLocator

    require_columns(leaderboard, ("region", "model", "mase"), "leaderboard")
    require_columns(champions, ("region", "model", "mase", "seasonal_naive_mase"), "champions")

    board = pd.DataFrame({"model": leaderboard["model"], "mase": _mase_series(leaderboard)}).dropna(subset=["model"])
    means = board.groupby("model", observed=True)["mase"].mean()  # NaN scores skipped; all-NaN models -> NaN
    wins = champions["model"].dropna().value_counts()
    models = list(means.sort_values(na_position="last", kind="stable").index)
    models += sorted((m for m in wins.index if m not in means.index), key=str)

    baseline = _mase_series(champions, "seasonal_naive_mase").mean()
    if not np.isfinite(baseline) and SEASONAL_NAIVE in means.index:
        baseline = means[SEASONAL_NAIVE]
    n_regions = pd.concat([leaderboard["region"], champions["region"]]).dropna().nunique()

    if figsize is None:
        figsize = (FIGSIZE[0], max(FIGSIZE[1], 1.6 + 0.38 * len(models)))
    fig = new_figure(figsize, dpi, layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})

    y = np.arange(len(models))
    mean_values = np.array([means.get(m, np.nan) for m in models], dtype=float)
    win_values = np.array([int(wins.get(m, 0)) for m in models])
    colors = ["0.55" if m == SEASONAL_NAIVE else FORECAST_COLOR for m in models]

    finite = np.isfinite(mean_values)
    left.barh(y[finite], mean_values[finite], color=[c for c, f in zip(colors, finite) if f], height=0.6)
    xmax = max([*mean_values[finite], baseline if np.isfinite(baseline) else 0.0, 0.0])
    xmax = xmax if xmax > 0 else 1.0
    for yi, value in zip(y, mean_values):
        if not np.isfinite(value):
            left.text(xmax * 0.01, yi, "n/a", va="center", fontsize="small", color="0.3")
        elif value >= 0.2 * xmax:  # long bar: label inside, clear of the baseline line
            left.text(value - xmax * 0.015, yi, f"{value:.2f}", va="center", ha="right", fontsize="small", color="white")
        else:
            left.text(value + xmax * 0.015, yi, f"{value:.2f}", va="center", ha="left", fontsize="small")
    if np.isfinite(baseline):
        line = left.axvline(baseline, color=_BASELINE_COLOR, linestyle="--", linewidth=1.4)
        fig.legend([line], [f"seasonal naive mean MASE ({baseline:.2f})"], loc="outside lower center", fontsize="small", frameon=False)
    left.set_xlim(0, xmax * 1.08)
    left.set_xlabel("mean MASE over regions (lower is better)")
    left.set_ylabel("model")
    left.set_title("Mean MASE by model")

    right.barh(y, win_values, color=_CHAMPION_COLOR, height=0.6)
    wmax = max(int(win_values.max()) if len(win_values) else 0, 1)
    for yi, count in zip(y, win_values):
        right.text(count + wmax * 0.01, yi, str(count), va="center", fontsize="small")
    right.set_xlim(0, wmax * 1.15)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("regions won")
    right.set_title("Champion in how many regions")
    right.tick_params(axis="y", left=False)

    left.set_yticks(y, [str(m) for m in models])
    if len(models):
        left.set_ylim(len(models) - 0.5, -0.5)  # best at the top
    else:
        no_data(left)
        no_data(right)
    for ax in (left, right):
        ax.grid(True, axis="x", color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
    fig.suptitle(f"Model leaderboard ({n_regions} region{'s' if n_regions != 1 else ''})")
    return save_png(fig, path)
