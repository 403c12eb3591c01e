"""The run report's live-accuracy plot: MASE and interval coverage per lead time, beside seasonal naive's.

Functions
---------
draw_lead_accuracy
    Two panels on one figure: MASE per lead-time group (the forecasts and
    seasonal naive over the same slots), and the q10-q90 coverage of both
    against the nominal 80%.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecasting.reports.figures import FORECAST_COLOR, HISTORY_COLOR, require_columns

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["draw_lead_accuracy"]

#: Nominal coverage of the q10-q90 interval.
NOMINAL = 0.8
_WIDTH = 0.38


def draw_lead_accuracy(fig: "Figure", by_lead: pd.DataFrame) -> list:
    """Draw live MASE and coverage per lead-time group, the forecasts' bars beside seasonal naive's.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        An empty figure (:func:`forecasting.reports.figures.new_figure`).
    by_lead : pandas.DataFrame
        One row per lead group, in the order to show (:func:`forecasting.accuracy.tables.accuracy_by_lead`):
        ``lead, mase, naive_mase, coverage, naive_coverage``; NaN (a group
        without a baseline, say) leaves its bar out.

    Returns
    -------
    list of matplotlib.axes.Axes
        The MASE and the coverage axes.

    Raises
    ------
    ValueError
        If ``by_lead`` lacks one of the columns.
    """
    require_columns(by_lead, ("lead", "mase", "naive_mase", "coverage", "naive_coverage"), "by_lead")
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, top=1 - 0.3 / height, bottom=0.42 / height, wspace=0.22)
    ax_mase, ax_cover = fig.subplots(1, 2)
    x = np.arange(len(by_lead))
    for ax, metric, title in ((ax_mase, "mase", "MASE (lower is better)"), (ax_cover, "coverage", "q10-q90 coverage")):
        own = pd.to_numeric(by_lead[metric], errors="coerce").to_numpy(dtype=float)
        naive = pd.to_numeric(by_lead[f"naive_{metric}"], errors="coerce").to_numpy(dtype=float)
        first = metric == "mase"  # one legend for the bars, in the first panel
        ax.bar(x - _WIDTH / 2, np.nan_to_num(own), _WIDTH, color=FORECAST_COLOR, label="forecasts" if first else None)
        ax.bar(x + _WIDTH / 2, np.nan_to_num(naive), _WIDTH, color=HISTORY_COLOR, label="seasonal naive, same slots" if first else None)
        top = np.nanmax(np.concatenate([own, naive, [NOMINAL if metric == "coverage" else 0.0, 1e-9]]))
        for xs, values in ((x - _WIDTH / 2, own), (x + _WIDTH / 2, naive)):
            for xi, v in zip(xs, values):
                if np.isfinite(v):
                    ax.text(xi, v + top * 0.015, f"{v:.0%}" if metric == "coverage" else f"{v:.2f}", ha="center", va="bottom", fontsize=6.5)
        if metric == "coverage":
            ax.axhline(NOMINAL, color="0.25", linestyle="--", linewidth=0.9, label="nominal 80%")
            ax.set_ylim(0, max(1.0, top) * 1.25)
            ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        else:
            ax.set_ylim(0, top * 1.3)
        ax.set_xticks(x, [str(v) for v in by_lead.lead], fontsize=7.5)
        ax.tick_params(axis="y", labelsize=7.5)
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", color="0.9", linewidth=0.7)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", fontsize=7, ncols=2, frameon=True, framealpha=0.9)
    return [ax_mase, ax_cover]
