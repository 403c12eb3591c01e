"""The one forecasting engine: cut a region at an origin, fit a model, forecast the window.

Everything that forecasts goes through here.  The nightly job is a window at
the run date; a backtest window is a window at a cutoff; choosing between
several models on the nightly job's hold-out is a window inside the history
(:meth:`Window.holdout`).  So whatever is changed about cutting history,
checking it, building features or fitting changes all three at once.

The origin is a date: history ends, and the forecast starts, at local midnight
of that date in the region's time zone.  A fit sees only orders strictly
before it, and the window's regressors are what was known before it: weather
forecasts issued before the origin, else a climatology of the weather recorded
before it (:mod:`forecasting.engine.exogenous`).  The nightly run and every
backtest window follow this one rule; :func:`oracle_future` gives a backtest
the recorded values instead, to measure what knowing them is worth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecasting.config.fields import parse_duration
from forecasting.data.cache import RegionData
from forecasting.engine.features import build_features
from forecasting.errors import RegionDataError

if TYPE_CHECKING:
    from forecasting.config.forecast import ForecastConfig

#: Recent history the data-quality checks look at.
RECENT = pd.Timedelta("28D")


@dataclass(frozen=True)
class Window:
    """A region's history up to an origin and the slots after it to forecast.

    Attributes
    ----------
    region : str
        Region id.
    origin : str
        ``YYYY-MM-DD`` (run date or cutoff); for a hold-out, the first held-out slot.
    y : pandas.Series
        Orders strictly before the origin on a complete slot index (NaN where unknown).
    X, X_future : pandas.DataFrame
        Features of the history slots and of the slots to forecast.
    actual : pandas.Series
        Orders known in the forecast slots (all NaN at a run date: the future).
    diagnostics : dict
        History length and missing fraction, from :func:`check_history`.
    """

    region: str
    origin: str
    y: pd.Series
    X: pd.DataFrame
    X_future: pd.DataFrame
    actual: pd.Series
    diagnostics: dict = field(default_factory=dict)

    @property
    def future(self) -> pd.DatetimeIndex:
        """The slots to forecast."""
        return self.X_future.index

    def holdout(self, slots: int, data: RegionData | None = None, known_in_advance=()) -> "Window | None":
        """The last ``slots`` of history as a window of their own, or ``None`` when
        fewer than ``slots`` would remain to fit on.

        The history's features are this window's.  With ``data`` the held-out
        slots' features are built again as known at the hold-out's start
        (weather forecasts issued before it, else a climatology), so the
        hold-out scores a model as the nightly run will use it; without it,
        they are the history's (the weather as recorded).
        """
        if len(self.y) - slots < slots:
            return None
        held = self.X.iloc[-slots:]
        if data is not None:
            held = build_features(data, held.index, known_at=held.index[0], known_in_advance=known_in_advance)
        return Window(
            self.region, str(self.y.index[-slots]), self.y.iloc[:-slots], self.X.iloc[:-slots], held, self.y.iloc[-slots:],
        )


def cut(data: RegionData, origin: str, config: "ForecastConfig", staleness: bool = True) -> Window:
    """Cut a region at ``origin``: checked history, features, the window to forecast.

    Parameters
    ----------
    data : RegionData
        The region as the cache holds it.
    origin : str
        ``YYYY-MM-DD``: history ends at its local midnight.
    config : ForecastConfig
        ``horizon`` and the data-quality thresholds.
    staleness : bool
        Refuse a history whose latest known slot is more than
        ``max_staleness`` before the origin.  A rule for the nightly run (is
        the feed still alive?); a backtest window passes ``False``.

    Raises
    ------
    RegionDataError
        No usable history before the origin (see :func:`check_history`).
    """
    y, future = history_and_horizon(data, origin, config)
    diagnostics = check_history(y, config, data.region, staleness)
    features = build_features(data, y.index.append(future), known_at=future[0], known_in_advance=config.known_regressors)
    actual = data.orders.reindex(future)
    return Window(data.region, origin, y, features.iloc[: len(y)], features.iloc[len(y):], actual, diagnostics)


def oracle_future(data: RegionData, window: Window) -> pd.DataFrame:
    """The window's future features with every regressor as recorded (weather included):
    what no forecast could have known, for a backtest's oracle score."""
    return build_features(data, window.future)


def fit_forecast(window: Window, spec, horizon: int | None = None) -> pd.DataFrame:
    """Fit a fresh ``spec.build()`` on the window's history and forecast its slots.

    ``horizon`` (slots) is what the model is told to prepare for, by default
    the window's length; the nightly hold-out passes the run's horizon so a
    candidate is scored as it will be used.
    """
    return fit(window, spec, horizon).predict(window.X_future)


def fit(window: Window, spec, horizon: int | None = None):
    """A fresh ``spec.build()`` fitted on the window's history (see :func:`fit_forecast`)."""
    return spec.build().fit(window.y, window.X, horizon=horizon or len(window.future))


def history_and_horizon(data: RegionData, origin: str, config: "ForecastConfig") -> tuple[pd.Series, pd.DatetimeIndex]:
    """Split a region at the origin's local midnight.

    Returns the history strictly before the cutoff (on a complete index up
    to the cutoff, NaN where unknown) and the slots to forecast.
    """
    try:
        cutoff = pd.Timestamp(origin).tz_localize(data.timezone).tz_convert("UTC")
    except (ValueError, TypeError) as exc:
        raise RegionDataError(data.region, f"run date {origin!r}: {exc}") from None
    orders = data.orders[data.orders.index < cutoff]
    if orders.dropna().empty:
        raise RegionDataError(data.region, f"no order history before the run date {origin}")
    index = pd.date_range(orders.index[0], cutoff, freq=data.freq, inclusive="left")
    y = orders.reindex(index)
    y.index.freq = data.freq
    future = pd.date_range(cutoff, cutoff + config.horizon_delta, freq=data.freq, inclusive="left")
    return y, future


def check_history(y: pd.Series, config: "ForecastConfig", region: str, staleness: bool = True) -> dict:
    """Refuse histories no model should be trusted with; return diagnostics.

    ``staleness``: also refuse a history that stopped more than
    ``max_staleness`` before its end (see :func:`cut`).
    """
    observed = y.dropna()
    span = y.index[-1] - observed.index[0] + y.index.freq
    min_history = parse_duration(config.min_history, "min_history")
    if span < min_history:
        raise RegionDataError(region, f"history too short: {span.days} days, need at least {min_history.days} days")
    stale = y.index[-1] - observed.index[-1]
    if staleness and stale > parse_duration(config.max_staleness, "max_staleness"):
        raise RegionDataError(region, f"stale data: the latest known slot is {observed.index[-1]}, {stale} before the run date")
    recent = y[y.index >= y.index[-1] - RECENT]
    missing = float(recent.isna().mean())
    if missing > config.max_missing_fraction:
        raise RegionDataError(region, f"{missing:.0%} of the last 4 weeks are missing (limit {config.max_missing_fraction:.0%})")
    if not np.isfinite(observed.to_numpy()).all():
        raise RegionDataError(region, "history contains infinite values")
    if (recent.fillna(0) == 0).all():
        raise RegionDataError(region, "no orders at all in the last 4 weeks")
    return {"history_slots": int(len(y)), "history_start": str(y.index[0]), "missing_fraction_4w": missing}
