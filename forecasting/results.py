"""What :func:`forecasting.backtest` and :func:`forecasting.forecast` return: DataFrames, a plot, a table in Jupyter."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd

#: Rows of each table shown when a result renders in a notebook.
SHOWN_ROWS = 10
#: Days of history drawn before a forecast window.
HISTORY_DAYS = 14


@dataclass(frozen=True, repr=False)
class BacktestResult:
    """A finished backtest.

    Attributes
    ----------
    backtest_id : str
        Its id in the store (the same inputs give the same id).
    leaderboard : pandas.DataFrame
        A row per region and model: ``region, model, mase, wape, smape, bias, coverage_80, n_windows``.
    champions : pandas.DataFrame
        A row per region: ``region, model, mase, seasonal_naive_mase, status, reason`` and the
        calibration columns; ``status`` is ``champion``, ``no_champion`` or ``skipped``.
    windows : pandas.DataFrame
        A row per region, model, cutoff and slot: ``region, model, cutoff, timestamp, actual,
        yhat, q10, q50, q90`` (timestamps in UTC).
    failures : pandas.DataFrame
        Tasks that failed: ``region, model, cutoff, status, error_type, message``.
    cutoffs : dict
        Each backtested region's cutoffs.
    cache : str
        The cache backtested.
    store : str or None
        The results store's URL, or ``None`` when it was temporary.
    folder : pathlib.Path or None
        Where the CSV reports are, or ``None`` when they were temporary.
    n_tasks, n_reused : int
        Tasks in all, and those a store already held (resumed).
    wall_seconds : float
    """

    backtest_id: str
    leaderboard: pd.DataFrame
    champions: pd.DataFrame
    windows: pd.DataFrame
    failures: pd.DataFrame
    cutoffs: dict
    cache: str
    store: str | None = None
    folder: Path | None = None
    n_tasks: int = 0
    n_reused: int = 0
    wall_seconds: float = 0.0

    def plot(self, region: str, model: str | None = None, cutoff: str | None = None):
        """One window of a region against its actuals and the two weeks before.

        Parameters
        ----------
        region : str
        model : str, optional
            A model label of the leaderboard; default the region's champion (else the baseline).
        cutoff : str, optional
            One of the region's cutoffs; default its last.

        Returns
        -------
        matplotlib.figure.Figure
            A figure unknown to pyplot (nothing to close); Jupyter shows it.

        Raises
        ------
        KeyError
            A region, model or cutoff with no window in this backtest.
        """
        mine = self.windows[self.windows.region == region]
        if mine.empty:
            raise KeyError(f"region {region!r} has no window in backtest {self.backtest_id}")
        if model is None:
            won = self.champions[(self.champions.region == region) & (self.champions.status == "champion")]
            model = won.model.iloc[0] if len(won) else mine.model.iloc[0]
        mine = mine[mine.model == model]
        if mine.empty:
            raise KeyError(f"model {model!r} has no window for region {region!r}; models: "
                           f"{', '.join(sorted(self.windows[self.windows.region == region].model.unique()))}")
        cutoff = str(cutoff) if cutoff is not None else mine.cutoff.max()
        window = mine[mine.cutoff == cutoff]
        if window.empty:
            raise KeyError(f"cutoff {cutoff!r} is not one of region {region!r}'s: {', '.join(sorted(mine.cutoff.unique()))}")
        window = window.set_index("timestamp")[["actual", "yhat", "q10", "q90"]]
        return _figure(self.cache, region, window, f"{region}: {model}, cutoff {cutoff}", model)

    def _repr_html_(self) -> str:
        won = self.champions[self.champions.status == "champion"]
        counts = ", ".join(f"{m} x{n}" for m, n in won.model.value_counts().items()) or "none"
        head = (f"<p><b>backtest {escape(self.backtest_id)}</b>: {self.n_tasks} tasks ({self.n_reused} reused), "
                f"{len(self.failures)} failed, {self.wall_seconds:.0f} s; champions: {escape(counts)}</p>")
        return head + _table("champions", self.champions) + _table("leaderboard", self.leaderboard)

    def __repr__(self) -> str:
        return (f"BacktestResult({self.backtest_id}: {len(self.champions)} regions, {len(self.leaderboard)} leaderboard rows, "
                f"{len(self.windows)} window rows, {len(self.failures)} failures)")


@dataclass(frozen=True, repr=False)
class ForecastResult:
    """A finished forecast run (what ``forecasting run`` computes).

    Attributes
    ----------
    run_id, run_date, status : str
        Its id in the store, the first day forecast, and ``succeeded``, ``partial`` or ``failed``.
    forecasts : pandas.DataFrame
        A row per region and slot: ``region, timestamp, model, yhat, q10, q50, q90, staff`` (UTC;
        ``staff``, the staffing quantile, is NaN where the champion has no staffing calibration).
    failures : pandas.DataFrame
        A row per region not forecast: ``region, status, error_type, message, traceback, worker``.
    cache : str
    store : str or None
        The results store's URL, or ``None`` when it was temporary.
    folder : pathlib.Path or None
        The run's files (``forecasts.csv``, ``run.json``...), or ``None`` when temporary.
    wall_seconds : float
    """

    run_id: str
    run_date: str
    status: str
    forecasts: pd.DataFrame
    failures: pd.DataFrame
    cache: str
    store: str | None = None
    folder: Path | None = None
    wall_seconds: float = 0.0

    def plot(self, region: str):
        """A region's forecast after the last two weeks of its history (a matplotlib figure)."""
        mine = self.forecasts[self.forecasts.region == region]
        if mine.empty:
            raise KeyError(f"region {region!r} has no forecast in run {self.run_id}")
        window = mine.set_index("timestamp")[["yhat", "q10", "q90"]].assign(actual=float("nan"))
        model = mine.model.iloc[0]
        return _figure(self.cache, region, window, f"{region}: {model}, run date {self.run_date}", model)

    def _repr_html_(self) -> str:
        regions = self.forecasts.region.nunique() if len(self.forecasts) else 0
        head = (f"<p><b>run {escape(self.run_id)}</b> ({escape(self.status)}), run date {escape(self.run_date)}: "
                f"{regions} regions forecast, {len(self.failures)} failed, {self.wall_seconds:.0f} s</p>")
        return head + _table("failures", self.failures.drop(columns="traceback", errors="ignore")) + _table("forecasts", self.forecasts)

    def __repr__(self) -> str:
        return (f"ForecastResult({self.run_id} {self.status}: {len(self.forecasts)} forecast rows, "
                f"{len(self.failures)} failures)")


def _table(title: str, frame: pd.DataFrame) -> str:
    more = f" (first {SHOWN_ROWS} of {len(frame)})" if len(frame) > SHOWN_ROWS else ""
    return f"<p>{escape(title)}{more}</p>" + frame.head(SHOWN_ROWS).to_html(index=False, na_rep="")


def _figure(cache: str, region: str, window: pd.DataFrame, title: str, model: str):
    from forecasting.data.cache import open_cache
    from forecasting.reports.figures import new_figure
    from forecasting.reports.plots import DPI, FIGSIZE, draw_region_forecast

    data = open_cache(cache).load_region(region)
    start = window.index[0]
    idx = data.orders.index
    history = data.orders[(idx >= start - pd.Timedelta(days=HISTORY_DAYS)) & (idx < start)]
    fig = new_figure(FIGSIZE, DPI)
    draw_region_forecast(fig, history, window, model, data.timezone, title=title)
    return fig
