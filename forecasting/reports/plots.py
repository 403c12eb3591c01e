"""PNG plots for backtest reports.

Every function draws one figure and writes it, atomically, as a PNG: the
image goes to a temporary file in the destination folder which is then
renamed into place, so a reader never sees half a file and a failure leaves
any earlier file as it was.

The figures are built on :class:`matplotlib.figure.Figure` with the Agg
canvas directly, never through :mod:`matplotlib.pyplot`: nothing global
changes (no backend switch, no figure manager, no open-figure registry), so
the functions are safe to call from worker threads and from programs that
use pyplot themselves.  Matplotlib is imported inside the functions, so
importing this module stays cheap.

Functions
---------
plot_region_forecast
    One region's history tail, actuals, forecast and 80% interval.
plot_error_by_horizon
    Mean MASE per horizon bucket, one line per model.
plot_leaderboard
    Mean MASE per model and the number of regions each model is champion of.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from forecasting.files import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_region_forecast", "plot_error_by_horizon", "plot_leaderboard"]

#: Default resolution of the PNGs, in dots per inch.
DPI = 100
#: Default figure size, in inches (width, height).
FIGSIZE = (10.0, 4.0)
#: Name of the baseline model in leaderboards.
SEASONAL_NAIVE = "seasonal_naive"

_HISTORY_COLOR = "0.6"
_ACTUAL_COLOR = "black"
_FORECAST_COLOR = "tab:blue"
_BASELINE_COLOR = "tab:red"
_CHAMPION_COLOR = "tab:green"


# --------------------------------------------------------------------------- helpers


def _new_figure(figsize: Sequence[float]) -> "Figure":
    """A figure with an Agg canvas attached, unknown to pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=tuple(figsize), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: "Figure", path, dpi: float) -> Path:
    """Write ``fig`` to ``path`` as a PNG through a temporary file, then free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi)
    finally:
        fig.clear()
    return path


def _utc_index(index: pd.Index, what: str) -> pd.DatetimeIndex:
    """``index`` as a UTC DatetimeIndex (naive timestamps are taken as UTC)."""
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(index)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} must be indexed by timestamps, not {type(index).__name__}") from exc
    if index.tz is None:
        return index.tz_localize("UTC")
    return index.tz_convert("UTC")


def _date_numbers(index: pd.DatetimeIndex) -> np.ndarray:
    """Matplotlib date numbers (days since the epoch, UTC) of a UTC index."""
    from matplotlib import dates as mdates

    if len(index) == 0:
        return np.empty(0, dtype=float)
    return np.asarray(mdates.date2num(index.tz_localize(None).to_numpy(dtype="datetime64[us]")), dtype=float)


def _no_data(ax: "Axes", message: str = "no data") -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4", fontsize=12)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns)) or 'none'}")


def _mase_series(frame: pd.DataFrame, column: str = "mase") -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


# --------------------------------------------------------------------------- region forecast


def plot_region_forecast(
    path,
    region: str,
    history: pd.Series,
    window: pd.DataFrame,
    model: str,
    timezone: str = "UTC",
    *,
    dpi: float = DPI,
    figsize: Sequence[float] = FIGSIZE,
) -> Path:
    """Plot one region's forecast against the actuals around the cutoff.

    Draws the tail of the history before the cutoff (grey), the actuals in
    the forecast window (black), the point forecast (blue) with its shaded
    q10-q90 band labelled "80% interval", and a dashed vertical line at the
    cutoff, the first timestamp of ``window``.  Missing values (NaN) show as
    gaps.

    Parameters
    ----------
    path : path-like
        Destination PNG; its folder is created if needed and an existing
        file is replaced atomically.
    region : str
        Region name, used in the title.
    history : pandas.Series
        Orders before the cutoff on a UTC :class:`~pandas.DatetimeIndex`
        (naive timestamps are taken as UTC), for instance the last two
        weeks.  May contain NaN and may be empty.
    window : pandas.DataFrame
        The forecast window, indexed by UTC timestamps, with columns
        ``actual``, ``yhat``, ``q10`` and ``q90``; ``actual`` (and the
        others) may contain NaN.
    model : str
        Name of the model that made the forecast, used in the title.
    timezone : str, default "UTC"
        IANA time zone (e.g. ``"Europe/Berlin"``) in which the time axis is
        labelled; the data stay in UTC, only the ticks are local.
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
        If ``window`` lacks one of the required columns.
    TypeError
        If ``history`` or ``window`` is not indexed by timestamps.
    """
    from matplotlib import dates as mdates

    _require(window, ("actual", "yhat", "q10", "q90"), "window")
    tz = str(timezone) if timezone else "UTC"
    pd.Timestamp("2000-01-01", tz=tz)  # fail early, and clearly, on an unknown zone

    hist = pd.Series(history, copy=False)
    hist = pd.Series(pd.to_numeric(hist, errors="coerce").to_numpy(dtype=float), index=_utc_index(hist.index, "history")).sort_index()
    win = window.set_axis(_utc_index(window.index, "window"), axis=0).sort_index()
    cols = {c: pd.to_numeric(win[c], errors="coerce").to_numpy(dtype=float) for c in ("actual", "yhat", "q10", "q90")}
    if len(win):
        hist = hist[hist.index < win.index[0]]
    x_hist = _date_numbers(hist.index)
    x_win = _date_numbers(win.index)

    fig = _new_figure(figsize)
    ax = fig.add_subplot()

    if len(x_win):
        lo, hi = np.fmin(cols["q10"], cols["q90"]), np.fmax(cols["q10"], cols["q90"])
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x_win, lo, hi, where=band, color=_FORECAST_COLOR, alpha=0.2, linewidth=0, label="80% interval", interpolate=False)
    if len(x_hist):
        ax.plot(x_hist, hist.to_numpy(), color=_HISTORY_COLOR, linewidth=1.2, label="history")
    if len(x_win):
        ax.plot(x_win, cols["actual"], color=_ACTUAL_COLOR, linewidth=1.2, label="actual")
        ax.plot(x_win, cols["yhat"], color=_FORECAST_COLOR, linewidth=1.6, label=f"forecast ({model})")
        ax.axvline(x_win[0], color="0.25", linestyle="--", linewidth=1, label="cutoff")

    values = np.concatenate([hist.to_numpy(), *cols.values()]) if len(win) or len(hist) else np.empty(0)
    finite = values[np.isfinite(values)]
    if not (len(x_hist) or len(x_win)):
        _no_data(ax)
        ax.set_xticks([])
    elif finite.size and finite.min() >= 0:
        ax.set_ylim(bottom=0, top=max(finite.max() * 1.08, 1.0))

    if len(x_hist) or len(x_win):
        locator = mdates.AutoDateLocator(tz=tz, minticks=5, maxticks=12)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz, show_offset=True))
        xs = np.concatenate([x_hist, x_win])
        pad = 0.0 if xs.max() > xs.min() else 1 / 24  # a single timestamp: show an hour either side
        ax.set_xlim(xs.min() - pad, xs.max() + pad)

    ax.set_title(f"{region}: {model} forecast vs actual")
    ax.set_xlabel(f"time ({tz})" if tz.upper() in ("UTC", "ETC/UTC") else f"local time ({tz})")
    ax.set_ylabel("orders")
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # Data first, then the band and the cutoff, whatever order they were drawn in.
        order = sorted(range(len(labels)), key=lambda i: labels[i] in ("80% interval", "cutoff"))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left", fontsize="small", ncols=5, frameon=True, framealpha=0.9)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the legend above the data
    return _save(fig, path, dpi)


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
    _require(metrics, ("model", "bucket", "mase"), "metrics")
    frame = pd.DataFrame({"model": metrics["model"], "bucket": metrics["bucket"], "mase": _mase_series(metrics)})
    frame = frame.dropna(subset=["model", "bucket"])
    buckets = list(frame["bucket"].drop_duplicates().sort_values())
    scores = frame.dropna(subset=["mase"])
    means = scores.groupby(["model", "bucket"], observed=True, sort=False)["mase"].mean()
    models = sorted({m for m, _ in means.index}, key=str)
    position = {b: i for i, b in enumerate(buckets)}

    fig = _new_figure(figsize)
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
        _no_data(ax, "no finite MASE values")
    top = np.nanmax(means.to_numpy()) if len(means) else 1.0
    ax.set_ylim(0, max(top, 1.0) * 1.12)
    n_regions = int(metrics["region"].nunique()) if "region" in metrics.columns else None
    ax.set_title("Forecast error by horizon" + (f" (mean over {n_regions} regions)" if n_regions else ""))
    ax.set_xlabel("horizon bucket (days ahead)")
    ax.set_ylabel("mean MASE")
    ax.grid(True, axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
    return _save(fig, path, dpi)


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

    _require(leaderboard, ("region", "model", "mase"), "leaderboard")
    _require(champions, ("region", "model", "mase", "seasonal_naive_mase"), "champions")

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
    fig = _new_figure(figsize)
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})

    y = np.arange(len(models))
    mean_values = np.array([means.get(m, np.nan) for m in models], dtype=float)
    win_values = np.array([int(wins.get(m, 0)) for m in models])
    colors = ["0.55" if m == SEASONAL_NAIVE else _FORECAST_COLOR for m in models]

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
        _no_data(left)
        _no_data(right)
    for ax in (left, right):
        ax.grid(True, axis="x", color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
    fig.suptitle(f"Model leaderboard ({n_regions} region{'s' if n_regions != 1 else ''})")
    return _save(fig, path, dpi)
