"""Exogenous regressors as they were known at a forecast origin.

What a regressor column holds for a slot depends on whether the slot lies
before or after the origin, and on the kind of regressor:

=====================  ==========================  =========================================
regressor              slots before the origin     slots at or after the origin
=====================  ==========================  =========================================
weather and every      the recorded value (a gap:  the latest forecast issued strictly
other exogenous        the climatology)            before the origin; the climatology where
variable                                           none covers the slot
variables named in     the recorded value          the recorded value (they are planned:
``known_regressors``                               known in advance)
=====================  ==========================  =========================================

The climatology is the mean of the variable at the same local slot of day
and calendar month over the recorded values *before the origin*; where that
cell is empty, the mean at the same slot of day; then the variable's mean;
then 0.  Calendar, holidays, the moon, events and promotions are built in
:mod:`forecasting.engine.features` and are known in advance by nature or
because they are scheduled (the cache holds no time of scheduling, so an
event imported after the fact is taken as scheduled).

With no origin (``known_at=None``) every slot gets its recorded value and
the climatology is over all of them: the *oracle* regressors, which a
backtest with ``--oracle-regressors`` scores beside the honest ones to show
how much of a model's accuracy comes from knowing the weather.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Exogenous variables that get a ``wx_`` rather than an ``x_`` prefix.
WEATHER_VARIABLES = ("temperature", "precipitation")


def column_name(variable: str) -> str:
    """The feature column of an exogenous variable: ``wx_<name>`` for weather, else ``x_<name>``."""
    return f"wx_{variable}" if variable in WEATHER_VARIABLES else f"x_{variable}"


def exogenous_features(data, utc: pd.DatetimeIndex, target_slot: np.ndarray, target_month: np.ndarray,
                       slot_of: callable, spd: int, known_at: pd.Timestamp | None = None,
                       known_in_advance=()) -> dict:
    """One float array per exogenous variable of ``data`` on the UTC slots ``utc``.

    Parameters
    ----------
    data : RegionData
        The region: its ``exogenous`` (recorded, wide) and ``weather_forecasts`` (long).
    utc : DatetimeIndex
        The slots, tz-aware UTC.
    target_slot, target_month : ndarray
        Local slot of day and month (1-12) of each slot, for the climatology.
    slot_of : callable
        Local wall-clock index -> slot of day, as the features compute it.
    spd : int
        Slots per day.
    known_at : Timestamp, optional
        The origin (tz-aware UTC): slots from it on get only what was known
        before it.  ``None``: the recorded values everywhere (oracle).
    known_in_advance : iterable of str
        Variables recorded ahead of time, used as recorded even after the origin.
    """
    exog = data.exogenous
    if exog is None or exog.shape[1] == 0:
        return {}
    exog_index = as_utc(exog.index)
    wall = exog_index.tz_convert(data.timezone).tz_localize(None)
    key_slot = np.clip(slot_of(wall), 0, spd - 1)
    key_cell = key_slot * 12 + (wall.month.to_numpy() - 1)
    target_slot = np.clip(target_slot, 0, spd - 1)
    target_cell = target_slot * 12 + (target_month - 1)
    before = np.ones(len(exog_index), dtype=bool) if known_at is None else (exog_index < known_at)
    future = np.zeros(len(utc), dtype=bool) if known_at is None else (utc >= known_at)
    recorded = exog.set_axis(exog_index, axis=0).reindex(utc)
    known_in_advance = set(known_in_advance)

    out = {}
    for col in exog.columns:
        hist = pd.to_numeric(exog[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(hist) & before
        cell = _group_mean(key_cell[ok], hist[ok], spd * 12)
        by_slot = _group_mean(key_slot[ok], hist[ok], spd)
        overall = float(hist[ok].mean()) if ok.any() else 0.0
        clim = cell[target_cell]
        clim = np.where(np.isfinite(clim), clim, by_slot[target_slot])
        clim = np.where(np.isfinite(clim), clim, overall)
        values = pd.to_numeric(recorded[col], errors="coerce").to_numpy(dtype=float)
        if col not in known_in_advance and future.any():
            values = np.where(future, latest_forecast(data, col, utc, known_at), values)
        out[column_name(col)] = np.where(np.isfinite(values), values, clim)
    return out


def latest_forecast(data, variable: str, utc: pd.DatetimeIndex, known_at: pd.Timestamp) -> np.ndarray:
    """For each slot of ``utc``, the value of the latest forecast of ``variable``
    issued strictly before ``known_at`` (NaN where none covers the slot)."""
    fc = getattr(data, "weather_forecasts", None)
    if fc is None or fc.empty:
        return np.full(len(utc), np.nan)
    rows = fc[(fc["name"] == variable) & (fc["issued_at"] < known_at) & (fc["ts"] >= known_at)]
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    if rows.empty:
        return np.full(len(utc), np.nan)
    latest = rows.sort_values(["ts", "issued_at"]).drop_duplicates("ts", keep="last")
    return pd.Series(latest["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(latest["ts"])).reindex(utc).to_numpy()


def as_utc(index) -> pd.DatetimeIndex:
    """``index`` as a tz-aware UTC index (naive timestamps are taken as UTC)."""
    idx = pd.DatetimeIndex(index)
    return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")


def _group_mean(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    sums = np.bincount(keys, weights=values, minlength=n)
    counts = np.bincount(keys, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
