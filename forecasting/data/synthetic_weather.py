"""Weather forecasts for the synthetic cache, as a forecaster issuing them daily would have.

A forecast is issued every day at 06:00 local time for the slots of the
next ten days (from the slot after the issue).  Its value is the weather
the cache records plus an error that grows with the lead time:

* temperature: a smooth error (correlated over about six hours) of
  standard deviation ``0.8 + 0.35 * lead_days`` degrees Celsius;
* precipitation: the recorded rain times a lognormal error (mean 1) that
  widens with lead, rain missed and rain forecast on dry slots more often
  the further ahead, never below 0.

Forecasts issued near the end of the history reach past it, where nothing
is recorded: there the weather goes on from its last recorded state (the
temperature's anomaly decays as the history's does, rain spells continue
with the same chances), so the latest issues still cover ten days.

All of it comes from its own random stream per region (the seed and the
region's position, apart from the region's main stream), so asking for
forecasts leaves the rest of the cache unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.timestamps import freq_seconds, to_epoch_seconds

#: Local hour at which each day's forecast is issued.
ISSUE_HOUR = 6
#: How far ahead each forecast reaches (days).
HORIZON_DAYS = 10
# Spawn key of the forecasts' stream: distinct from every region's main one.
_STREAM = (1,)
# How fast a temperature forecast's error changes along its lead (hours).
_ERROR_HOURS = 6.0


def climate_temperature(local: pd.DatetimeIndex) -> np.ndarray:
    """The synthetic weather's mean temperature (degrees Celsius) at local times: seasonal plus daily cycle."""
    hour = local.hour + local.minute / 60.0
    doy = np.asarray(local.day_of_year, dtype=float)
    return 10 + 9 * np.sin(2 * np.pi * (doy - 110) / 365.25) + 4 * np.sin(2 * np.pi * (hour - 9) / 24)


def weather_forecasts(seed: int, i: int, region: str, tz: str, index: pd.DatetimeIndex, freq: str,
                      temperature: np.ndarray, precipitation: np.ndarray) -> pd.DataFrame:
    """Daily forecasts of region ``i``'s recorded weather.

    Parameters
    ----------
    seed, i : int
        The spec's seed and the region's position: they seed the stream.
    region, tz : str
        Region id and IANA time zone.
    index : pandas.DatetimeIndex
        The history's slots (UTC, complete, of ``freq``).
    freq : str
        Slot length.
    temperature, precipitation : numpy.ndarray
        The recorded weather on ``index``.

    Returns
    -------
    pandas.DataFrame
        Long rows ``region, name, issued_at, ts, value`` (epoch seconds) in
        the ``weather_forecasts`` table's key order.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, i], spawn_key=_STREAM))
    step = freq_seconds(freq)
    horizon = HORIZON_DAYS * 86400
    # The weather past the history, far enough for the last issue's horizon.
    local_end = index[-1].tz_convert(tz).normalize() + pd.Timedelta(days=HORIZON_DAYS + 2)
    after = pd.date_range(index[-1] + pd.Timedelta(seconds=step), local_end.tz_convert("UTC"), freq=freq, inclusive="left")
    last_anomaly = temperature[-1] - climate_temperature(index[-1:].tz_convert(tz))[0]
    temp_after, rain_after = _continue(rng, after.tz_convert(tz), step, last_anomaly, precipitation[-1] > 0)
    ts = to_epoch_seconds(index.append(after))
    temp_all, rain_all = np.concatenate([temperature, temp_after]), np.concatenate([precipitation, rain_after])

    # Local wall-clock days, then their 06:00 (which daylight-saving changes never skip or repeat).
    days = pd.date_range(*(t.tz_convert(tz).tz_localize(None).normalize() for t in (index[0], index[-1])), freq="D")
    issued = to_epoch_seconds((days + pd.Timedelta(hours=ISSUE_HOUR)).tz_localize(tz))
    issued = issued[(issued >= ts[0]) & (issued <= ts[len(index) - 1])]
    n_lead = horizon // step
    # Slots of each issue: from the first after it, n_lead of them (the grid is complete).
    rows = np.searchsorted(ts, issued, side="right")[:, None] + np.arange(n_lead)
    lead_days = (ts[rows] - issued[:, None]) / 86400.0

    phi = np.exp(-step / 3600.0 / _ERROR_HOURS)
    z = np.empty(rows.shape)
    z[:, 0] = rng.standard_normal(len(issued))
    shocks = rng.standard_normal(rows.shape) * np.sqrt(1 - phi**2)
    for k in range(1, n_lead):
        z[:, k] = phi * z[:, k - 1] + shocks[:, k]
    temp_fc = temp_all[rows] + (0.8 + 0.35 * lead_days) * z

    rain = rain_all[rows]
    sigma = 0.25 + 0.06 * lead_days
    wet = rain * rng.lognormal(-sigma**2 / 2, sigma)
    missed = rng.random(rows.shape) < 0.05 + 0.025 * lead_days
    false_rain = rng.random(rows.shape) < 0.005 + 0.004 * lead_days
    rain_fc = np.where(rain > 0, np.where(missed, 0.0, wet), np.where(false_rain, rng.gamma(1.5, 0.5, rows.shape), 0.0))

    issued_rows, slot_rows = np.repeat(issued, n_lead), ts[rows].ravel()
    return pd.concat(
        [
            pd.DataFrame({"region": region, "name": name, "issued_at": issued_rows, "ts": slot_rows,
                          "value": np.round(np.maximum(values, 0.0) if name == "precipitation" else values, 2).ravel()})
            for name, values in (("precipitation", rain_fc), ("temperature", temp_fc))
        ],
        ignore_index=True,
    )


def _continue(rng: np.random.Generator, local: pd.DatetimeIndex, step: int, anomaly: float, raining: bool):
    """The weather at ``local`` slots after the history: its anomaly decaying, its rain spells going on."""
    n = len(local)
    # The history's daily AR(1) (0.8 a day, shocks of 1.5) per slot, with its stationary spread.
    phi = 0.8 ** (step / 86400.0)
    shocks = rng.normal(0.0, 1.5 / np.sqrt(1 - 0.8**2) * np.sqrt(1 - phi**2), n)
    anomalies = np.empty(n)
    for t in range(n):
        anomaly = phi * anomaly + shocks[t]
        anomalies[t] = anomaly
    start, stay = rng.random(n) < 0.02, rng.random(n) < 0.85
    wet = np.empty(n, dtype=bool)
    for t in range(n):
        raining = stay[t] if raining else start[t]
        wet[t] = raining
    return climate_temperature(local) + anomalies, np.where(wet, rng.gamma(2.0, 0.8, n), 0.0)
