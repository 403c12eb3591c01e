"""A region's forecast against its history and actuals, as a plot.

:func:`draw_region_forecast` is the one drawing of a region's forecast:
the backtest writes it to a PNG file per champion
(:func:`plot_region_forecast`), the run report embeds the same PNG bytes
(:func:`forecasting.reports.figures.png_bytes`) in its page.  The plots of a
whole backtest (leaderboard, error by horizon) are in
:mod:`forecasting.reports.backtest_plots`.

Functions
---------
draw_region_forecast
    Draw one region's history tail, actuals, forecast and 80% interval on a figure.
plot_region_forecast
    The same, written atomically as a PNG file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from forecasting.reports.figures import (
    ACTUAL_COLOR, FORECAST_COLOR, HISTORY_COLOR, PAST_COLORS, new_figure, no_data, require_columns, save_png,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DPI", "FIGSIZE", "draw_region_forecast", "plot_region_forecast"]

#: Default resolution of the PNGs, in dots per inch.
DPI = 100
#: Default figure size, in inches (width, height).
FIGSIZE = (10.0, 4.0)
WINDOW_COLUMNS = ("actual", "yhat", "q10", "q90")

# Fixed margins in inches rather than a layout engine: one draw per plot, not
# two, which halves the time of a report with many regions.
_LEFT, _RIGHT, _TOP, _TITLE, _BOTTOM = 0.62, 0.15, 0.08, 0.28, 0.48


def draw_region_forecast(
    fig: "Figure",
    history: pd.Series,
    window: pd.DataFrame,
    model: str,
    timezone: str = "UTC",
    *,
    title: str | None = None,
    past: pd.DataFrame | None = None,
) -> "Axes":
    """Draw one region's forecast against the actuals around its start.

    Draws the tail of the history before the cutoff (grey), the actuals in
    the forecast window (black), the point forecast (blue) with its shaded
    q10-q90 band labelled "80% interval", and a dashed vertical line at the
    cutoff, the first timestamp of ``window``.  Missing values (NaN) show as
    gaps.  Margins are fixed in inches, so any figure size works.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        An empty figure without a layout engine
        (:func:`forecasting.reports.figures.new_figure`).
    history : pandas.Series
        Orders before the cutoff on a UTC :class:`~pandas.DatetimeIndex`
        (naive timestamps are taken as UTC), for instance the last two
        weeks; later values are ignored.  May contain NaN and may be empty.
    window : pandas.DataFrame
        The forecast window, indexed by UTC timestamps, with columns
        ``actual``, ``yhat``, ``q10`` and ``q90``; any of them may hold NaN
        (``actual`` all NaN when nothing is known yet).
    model : str
        Name of the model that made the forecast, in the legend.
    timezone : str, default "UTC"
        IANA time zone (e.g. ``"Europe/Berlin"``) in which the time axis is
        labelled; the data stay in UTC, only the ticks are local.
    title : str, optional
        Title above the plot; none by default.
    past : pandas.DataFrame, optional
        Earlier forecasts of the history's slots, indexed by UTC timestamps,
        with columns ``lead`` (days), ``yhat``, ``q10`` and ``q90``
        (:func:`forecasting.reports.live.past_forecasts`): the shortest
        lead is drawn as a line with its q10-q90 band, each other lead as a
        dashed line, in :data:`~forecasting.reports.figures.PAST_COLORS`;
        a day without one shows as a gap.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValueError
        If ``window`` lacks one of the required columns.
    TypeError
        If ``history`` or ``window`` is not indexed by timestamps.
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` names no known time zone (before anything is drawn).
    """
    from matplotlib import dates as mdates

    require_columns(window, WINDOW_COLUMNS, "window")
    tz = str(timezone) if timezone else "UTC"
    pd.Timestamp("2000-01-01", tz=tz)  # fail early, and clearly, on an unknown zone

    hist = pd.Series(history, copy=False)
    hist = pd.Series(pd.to_numeric(hist, errors="coerce").to_numpy(dtype=float), index=_utc_index(hist.index, "history")).sort_index()
    win = window.set_axis(_utc_index(window.index, "window"), axis=0).sort_index()
    cols = {c: pd.to_numeric(win[c], errors="coerce").to_numpy(dtype=float) for c in WINDOW_COLUMNS}
    if len(win):
        hist = hist[hist.index < win.index[0]]
    x_hist = _date_numbers(hist.index)
    x_win = _date_numbers(win.index)

    width, height = fig.get_size_inches()
    top = _TOP + (_TITLE if title else 0.0)
    fig.subplots_adjust(left=_LEFT / width, right=1 - _RIGHT / width, top=1 - top / height, bottom=_BOTTOM / height)
    ax = fig.add_subplot()

    if len(x_win):
        lo, hi = np.fmin(cols["q10"], cols["q90"]), np.fmax(cols["q10"], cols["q90"])
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x_win, lo, hi, where=band, color=FORECAST_COLOR, alpha=0.2, linewidth=0, label="80% interval", interpolate=False)
    drawn_past = _draw_past(ax, past, win.index[0] if len(win) else None)  # under the history: what happened stays on top
    if len(x_hist):
        ax.plot(x_hist, hist.to_numpy(), color=HISTORY_COLOR, linewidth=1.1, label="history")
    if np.isfinite(cols["actual"]).any():  # no "actual" in the legend before anything is known
        ax.plot(x_win, cols["actual"], color=ACTUAL_COLOR, linewidth=1.1, label="actual")
    if len(x_win):
        ax.plot(x_win, cols["yhat"], color=FORECAST_COLOR, linewidth=1.5, label=f"forecast ({model})")
        ax.axvline(x_win[0], color="0.25", linestyle="--", linewidth=0.9, label="cutoff")

    values = np.concatenate([hist.to_numpy(), *cols.values(), *drawn_past]) if len(win) or len(hist) else np.empty(0)
    finite = values[np.isfinite(values)]
    if not (len(x_hist) or len(x_win)):
        no_data(ax)
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

    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"time ({tz})" if tz.upper() in ("UTC", "ETC/UTC") else f"local time ({tz})", fontsize=8, labelpad=2)
    ax.set_ylabel("orders", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.get_offset_text().set_fontsize(8)
    ax.grid(True, color="0.9", linewidth=0.7)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # Data first, then the band and the cutoff, whatever order they were drawn in.
        order = sorted(range(len(labels)), key=lambda i: labels[i] in ("80% interval", "cutoff") or labels[i].startswith("past"))
        rows = 1 if len(handles) <= 5 else 2  # past forecasts add two entries: a second row
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left", fontsize=7.5,
                  ncols=-(-len(handles) // rows), frameon=True, framealpha=0.9)
        ax.set_ylim(top=ax.get_ylim()[1] * (1.18 + 0.14 * (rows - 1)))  # room for the legend above the data
    return ax


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
    title: bool = True,
) -> Path:
    """Plot one region's forecast against the actuals to a PNG file.

    :func:`draw_region_forecast` on a new figure, written with
    :func:`forecasting.reports.figures.save_png`.

    Parameters
    ----------
    path : path-like
        Destination PNG; its folder is created if needed and an existing
        file is replaced atomically.
    region : str
        Region name, used in the title.
    history, window, model, timezone
        As for :func:`draw_region_forecast`.
    dpi : float, default 100
        Resolution of the PNG.
    figsize : (float, float), default (10, 4)
        Figure size in inches.
    title : bool, default True
        Title the plot "REGION: MODEL forecast vs actual"; without it the
        file is the run report's plot of the same data at the same size.

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
    zoneinfo.ZoneInfoNotFoundError
        If ``timezone`` names no known time zone (before anything is drawn).
    """
    fig = new_figure(figsize, dpi)
    draw_region_forecast(fig, history, window, model, timezone, title=f"{region}: {model} forecast vs actual" if title else None)
    return save_png(fig, path)


def _draw_past(ax: "Axes", past: pd.DataFrame | None, cutoff) -> list:
    """Draw earlier forecasts (see ``past`` of :func:`draw_region_forecast`); return the values drawn."""
    if past is None or past.empty:
        return []
    require_columns(past, ("lead", "yhat", "q10", "q90"), "past")
    frame = past.set_axis(_utc_index(past.index, "past"), axis=0)
    if cutoff is not None:
        frame = frame[frame.index < cutoff]
    drawn = []
    for n, (lead, part) in enumerate(sorted(frame.groupby("lead"), key=lambda item: item[0])):
        part = part[~part.index.duplicated()].sort_index()
        if len(part) > 1:  # on the slots' own grid, so a day no run forecast is a gap, not a straight line
            step = (part.index[1:] - part.index[:-1]).min()
            part = part.reindex(pd.date_range(part.index[0], part.index[-1], freq=step))
        x = _date_numbers(part.index)
        color = PAST_COLORS[n % len(PAST_COLORS)]
        yhat = pd.to_numeric(part.yhat, errors="coerce").to_numpy(dtype=float)
        if n == 0:
            lo, hi = (pd.to_numeric(part[c], errors="coerce").to_numpy(dtype=float) for c in ("q10", "q90"))
            band = np.isfinite(lo) & np.isfinite(hi)
            if band.any():
                ax.fill_between(x, np.fmin(lo, hi), np.fmax(lo, hi), where=band, color=color, alpha=0.22, linewidth=0, interpolate=False)
            drawn += [lo, hi]
        label = f"past, day {int(lead)}" + (" (80%)" if n == 0 else "")
        ax.plot(x, yhat, color=color, linewidth=1.0 if n == 0 else 0.9, linestyle="-" if n == 0 else (0, (3, 2)), label=label)
        drawn.append(yhat)
    return drawn


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
