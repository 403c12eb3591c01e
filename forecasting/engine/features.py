"""Feature matrix of a region on any UTC slot index, past or future.

:func:`build_features` turns a :class:`~forecasting.data.cache.RegionData`
into a float frame whose column prefixes say what each column is:

``cal_``
    Local-time calendar: ``cal_slot_of_day``, ``cal_dow`` (0 = Monday),
    ``cal_month``, ``cal_doy``.
``fourier_``
    ``fourier_day_sin{k}``/``fourier_day_cos{k}`` (daily period, k = 1..6)
    and ``fourier_week_sin{k}``/``fourier_week_cos{k}`` (weekly, k = 1..3),
    in local time.
``hol_``
    ``hol_holiday`` (the local date is a holiday), ``hol_next_day`` (the
    next local date is one).
``evt_``
    ``evt_active`` (number of events active in the slot), ``evt_soon`` (an
    event starts within the next two hours).
``promo_``
    ``promo_active`` (number of promotions active in the slot).
``wx_`` / ``x_``
    Weather (``temperature``, ``precipitation``) and every other exogenous
    variable ``c`` as ``x_c``: recorded before the origin, forecast (as
    issued before it) or climatology after it; see
    :mod:`forecasting.engine.exogenous` for which regressor follows which rule.
``moon_``
    ``moon_illumination`` in [0, 1].

Features never read ``data.orders``: they are known for future slots and
cannot leak the target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.cache import RegionData
from forecasting.data.moon import moon_illumination
from forecasting.engine.exogenous import WEATHER_VARIABLES, as_utc, exogenous_features  # noqa: F401 - WEATHER_VARIABLES: API

#: Harmonics of the daily and weekly Fourier terms.
FOURIER_DAY_ORDER = 6
FOURIER_WEEK_ORDER = 3

#: Prefixes of the columns models use as regressors.
REGRESSOR_PREFIXES = ("hol_", "evt_", "promo_", "wx_", "x_", "moon_")

#: How far ahead ``evt_soon`` looks.
EVENT_SOON = pd.Timedelta("2h")

_NS_PER_DAY = 86_400 * 10**9


def build_features(data: RegionData, index: pd.DatetimeIndex, known_at: pd.Timestamp | None = None,
                   known_in_advance=()) -> pd.DataFrame:
    """Features of ``data``'s region on the UTC slots ``index``.

    Parameters
    ----------
    data : RegionData
        The region.  Only its time zone, frequency, exogenous variables,
        events, promotions and holidays are used, never its orders.
    index : DatetimeIndex
        UTC slots (naive timestamps are taken as UTC); may extend past the
        last order into the future.
    known_at : Timestamp, optional
        The forecast origin (UTC): exogenous values of slots from it on are
        what was known before it (:mod:`forecasting.engine.exogenous`).
        ``None`` uses the recorded values everywhere (the oracle).
    known_in_advance : iterable of str
        Exogenous variables known in advance (planned), used as recorded.

    Returns
    -------
    DataFrame
        Float columns described in the module docstring, on ``index``.

    Notes
    -----
    Exogenous values are matched to slots by exact timestamp.  A slot with
    no value gets a climatology of the values recorded before ``known_at``
    (see :mod:`forecasting.engine.exogenous`).
    """
    utc = as_utc(index)
    ns = utc.as_unit("ns").asi8
    step_min = _step_minutes(data.freq)
    spd = 1440 // step_min
    wall = utc.tz_convert(data.timezone).tz_localize(None)

    cols: dict[str, np.ndarray] = {}
    slot = _slot_of_day(wall, step_min)
    dow = wall.day_of_week.to_numpy()
    cols["cal_slot_of_day"] = slot.astype(float)
    cols["cal_dow"] = dow.astype(float)
    cols["cal_month"] = wall.month.to_numpy().astype(float)
    cols["cal_doy"] = wall.day_of_year.to_numpy().astype(float)

    # Phases from the wall clock, so that the daily cycle follows local time
    # across DST changes (a 23- or 25-hour day keeps its shape).
    seconds = wall.hour.to_numpy() * 3600 + wall.minute.to_numpy() * 60 + wall.second.to_numpy()
    day_phase = 2 * np.pi * seconds / 86_400.0
    week_phase = 2 * np.pi * (dow + seconds / 86_400.0) / 7.0
    for k in range(1, FOURIER_DAY_ORDER + 1):
        cols[f"fourier_day_sin{k}"] = np.sin(k * day_phase)
        cols[f"fourier_day_cos{k}"] = np.cos(k * day_phase)
    for k in range(1, FOURIER_WEEK_ORDER + 1):
        cols[f"fourier_week_sin{k}"] = np.sin(k * week_phase)
        cols[f"fourier_week_cos{k}"] = np.cos(k * week_phase)

    local_day = wall.to_numpy().astype("datetime64[D]").astype(np.int64)
    hol_days = _holiday_days(data.holidays)
    cols["hol_holiday"] = np.isin(local_day, hol_days).astype(float)
    cols["hol_next_day"] = np.isin(local_day + 1, hol_days).astype(float)

    ev_start, ev_end = _intervals_ns(data.events)
    cols["evt_active"] = _active_count(ns, ev_start, ev_end)
    soon = np.searchsorted(ev_start, ns + EVENT_SOON.value, side="right") - np.searchsorted(ev_start, ns, side="right")
    cols["evt_soon"] = (soon > 0).astype(float)
    pr_start, pr_end = _intervals_ns(data.promotions)
    cols["promo_active"] = _active_count(ns, pr_start, pr_end)

    known = None if known_at is None else as_utc(pd.DatetimeIndex([known_at]))[0]
    cols.update(exogenous_features(data, utc, slot, wall.month.to_numpy(), lambda w: _slot_of_day(w, step_min), spd,
                                   known, known_in_advance))

    cols["moon_illumination"] = moon_illumination(utc)

    return pd.DataFrame(cols, index=index, dtype=float)


def fourier_columns(frame: pd.DataFrame, *, day: int | None = None, week: int | None = None) -> list[str]:
    """Names of the Fourier columns of ``frame``, in frame order.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`build_features`.
    day, week : int, optional
        Keep only daily / weekly harmonics up to this order (all if None;
        0 drops them).  Orders above those built are capped silently.
    """
    out = []
    for col in frame.columns:
        for period, limit in (("day", day), ("week", week)):
            for kind in ("sin", "cos"):
                prefix = f"fourier_{period}_{kind}"
                if col.startswith(prefix) and (limit is None or int(col[len(prefix):]) <= limit):
                    out.append(col)
    return out


def regressor_columns(frame: pd.DataFrame) -> list[str]:
    """Names of the regressor columns (``hol_ evt_ promo_ wx_ x_ moon_``) of ``frame``."""
    return [c for c in frame.columns if c.startswith(REGRESSOR_PREFIXES)]


def calendar_columns(frame: pd.DataFrame) -> list[str]:
    """Names of the local-calendar columns (``cal_``) of ``frame``."""
    return [c for c in frame.columns if c.startswith("cal_")]


def slot_of_day_codes(frame: pd.DataFrame, spd: int) -> np.ndarray:
    """Slot of day (0..spd-1) of every row, for per-slot statistics in models.

    Uses the local ``cal_slot_of_day`` column when present, else the UTC
    slot of day of the frame's index.

    Parameters
    ----------
    frame : DataFrame
        Features on a UTC slot index.
    spd : int
        Slots per day.
    """
    if "cal_slot_of_day" in frame.columns:
        codes = frame["cal_slot_of_day"].to_numpy()
        codes = np.where(np.isfinite(codes), codes, 0).astype(np.int64)
    else:
        ns = as_utc(frame.index).as_unit("ns").asi8
        codes = (ns % _NS_PER_DAY) // (_NS_PER_DAY // spd)
    return np.clip(codes, 0, spd - 1)


# --------------------------------------------------------------------------- helpers



def _step_minutes(freq: str) -> int:
    return int(pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds() // 60)


def _slot_of_day(wall: pd.DatetimeIndex, step_min: int) -> np.ndarray:
    minutes = wall.hour.to_numpy().astype(np.int64) * 60 + wall.minute.to_numpy()
    return minutes // step_min


def _holiday_days(holidays: pd.DataFrame) -> np.ndarray:
    if holidays is None or "date" not in holidays.columns or holidays.empty:
        return np.empty(0, dtype=np.int64)
    dates = pd.DatetimeIndex(pd.to_datetime(holidays["date"]).dropna())
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    return np.unique(dates.to_numpy().astype("datetime64[D]").astype(np.int64))


def _intervals_ns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted start and sorted end times (ns) of the valid intervals of ``frame``."""
    if frame is None or frame.empty or not {"start", "end"} <= set(frame.columns):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    start = pd.DatetimeIndex(pd.to_datetime(frame["start"], utc=True))
    end = pd.DatetimeIndex(pd.to_datetime(frame["end"], utc=True))
    ok = ~(start.isna() | end.isna()) & (end > start)
    return np.sort(start[ok].as_unit("ns").asi8), np.sort(end[ok].as_unit("ns").asi8)


def _active_count(ns: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    # Active at t <=> start <= t < end, and every interval has start < end,
    # so #active = #(start <= t) - #(end <= t): two binary searches, no loop.
    started = np.searchsorted(starts, ns, side="right")
    ended = np.searchsorted(ends, ns, side="right")
    return (started - ended).astype(float)
