"""A realistic, deterministic synthetic cache for demos, tests and benchmarks.

Each region's demand is a product of effects that real food-delivery data
shows, so every model family has something to find:

* a daily profile with a lunch and a (bigger) dinner peak and almost nothing
  between 4 and 7 a.m. local time;
* a weekly pattern (weekends busy, Mondays quiet) and a mild yearly cycle;
* growth of 0-30 % a year;
* holidays (most raise demand, Christmas Eve lowers it);
* weather: rain raises orders, cold a little too;
* sports events (a spike during and just before the game) and promotions;
* the moon (a few percent on bright nights);
* gamma-Poisson (negative binomial) count noise;
* region sizes spanning two orders of magnitude.

Every region draws from its own random stream, derived from the seed and the
region's position, so adding regions never changes the existing ones.
Schedules known in advance (holidays, events, promotions) extend
``future_days`` past the history; weather is only recorded for the past.
Optionally, daily weather forecasts as they were issued
(:mod:`forecasting.data.synthetic_weather`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.data.cache import RegionData
from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import freq_seconds, from_epoch_seconds, to_epoch_seconds
from forecasting.data.schema import FREQUENCIES
from forecasting.errors import UsageError
from forecasting.data.moon import moon_illumination
from forecasting.data.forecast_rows import weather_forecast_frame
from forecasting.data.synthetic_weather import climate_temperature, weather_forecasts

TIMEZONES = ("Europe/Berlin", "Europe/London", "Europe/Madrid", "Europe/Amsterdam", "America/New_York")
EVENT_KINDS = ("football", "basketball", "concert")
# (month, day, name, demand multiplier): fixed-date holidays every year.
HOLIDAYS = (
    (1, 1, "New Year's Day", 1.35),
    (5, 1, "Labour Day", 1.2),
    (10, 3, "Unity Day", 1.15),
    (12, 24, "Christmas Eve", 0.6),
    (12, 25, "Christmas Day", 1.3),
    (12, 26, "Boxing Day", 1.25),
    (12, 31, "New Year's Eve", 0.8),
)
WEEKDAY_FACTORS = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.25, 1.1])


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate.

    Parameters
    ----------
    regions : int
        Number of regions (``r000``, ``r001``, ...).
    days : int
        Days of history.
    freq : str
        Slot length: ``15min``, ``30min`` or ``h``.
    seed : int
        Seed; the same spec always gives the same cache.
    start : str
        First local day of history (``YYYY-MM-DD``).
    future_days : int
        How far schedules (holidays, events, promotions) extend past the history.
    weather_forecasts : bool
        Also generate weather forecasts, issued daily at 06:00 local time for
        ten days ahead; off by default, and the rest is the same either way.
    """

    regions: int = 20
    days: int = 365
    freq: str = "h"
    seed: int = 0
    start: str = "2024-01-01"
    future_days: int = 90
    weather_forecasts: bool = False

    def validate(self) -> "SyntheticSpec":
        if self.regions < 1:
            raise UsageError(f"--regions must be at least 1, got {self.regions}")
        if self.days < 1:
            raise UsageError(f"--days must be at least 1, got {self.days}")
        if self.freq not in FREQUENCIES:
            raise UsageError(f"--freq must be one of {', '.join(FREQUENCIES)}, got {self.freq!r}")
        try:
            pd.Timestamp(self.start)
        except ValueError:
            raise UsageError(f"--start is not a date: {self.start!r}") from None
        return self


def build_synthetic_cache(spec: SyntheticSpec, out) -> None:
    """Generate ``spec`` and write it, atomically, as a cache at ``out``."""
    spec = spec.validate()
    # Without forecasts the provenance stays what it was before the option.
    source = {"generator": "synthetic", **{k: v for k, v in spec.__dict__.items() if k != "weather_forecasts" or v}}
    with CacheWriter(out, freq=spec.freq, source=source) as writer:
        holidays = _holiday_frame(spec)
        writer.add_holidays(holidays[["date", "name"]].assign(region=None))
        ids = []
        for i in range(spec.regions):
            region = generate_region(spec, i, holidays)
            ids.append(region["info"]["region"])
            writer.add_regions(pd.DataFrame([region["info"]]))
            writer.add_orders(region["orders"])
            writer.add_exogenous(region["exogenous"])
            writer.add_events(region["events"])
            writer.add_promotions(region["promotions"])
            if spec.weather_forecasts:
                writer.add_weather_forecasts(region["weather_forecasts"])
        # Every slot is generated: none is a zero filled in for a missing row.
        writer.set_filled_slots({region: 0 for region in ids})


def synthetic_region(spec: SyntheticSpec, i: int = 0) -> RegionData:
    """Region number ``i`` of ``spec`` in memory, as a cache built from ``spec`` would load it.

    For code that needs realistic data without a cache file (the model
    contract checks of :func:`forecasting.models.check_model`).
    """
    spec = spec.validate()
    holidays = _holiday_frame(spec)
    region = generate_region(spec, i, holidays)
    info, orders = region["info"], region["orders"]
    series = pd.Series(orders["orders"].to_numpy(dtype=float), index=from_epoch_seconds(orders["ts"]), name="orders")
    series.index.freq = spec.freq
    exog = region["exogenous"].pivot(index="ts", columns="name", values="value").sort_index()
    exog.index = from_epoch_seconds(exog.index)
    exog.columns.name = None
    wf = region.get("weather_forecasts")
    forecasts = {} if wf is None else {"weather_forecasts": weather_forecast_frame(wf["name"], wf["issued_at"], wf["ts"], wf["value"])}

    def intervals(frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
        out = frame[extra].reset_index(drop=True)
        out.insert(0, "start", from_epoch_seconds(frame["start_ts"]))
        out.insert(1, "end", from_epoch_seconds(frame["end_ts"]))
        return out

    return RegionData(
        region=info["region"], name=info["name"], timezone=info["timezone"], freq=spec.freq, orders=series,
        exogenous=exog.astype(float), events=intervals(region["events"], ["kind", "name"]),
        promotions=intervals(region["promotions"], ["name"]),
        holidays=pd.DataFrame({"date": pd.to_datetime(holidays["date"]), "name": holidays["name"]}), **forecasts,
    )


def _holiday_frame(spec: SyntheticSpec) -> pd.DataFrame:
    first = pd.Timestamp(spec.start)
    last = first + pd.Timedelta(days=spec.days + spec.future_days)
    rows = [
        (pd.Timestamp(year=y, month=m, day=d), name, mult)
        for y in range(first.year, last.year + 1)
        for m, d, name, mult in HOLIDAYS
    ]
    frame = pd.DataFrame(rows, columns=["day", "name", "multiplier"])
    frame = frame[(frame.day >= first) & (frame.day < last)].reset_index(drop=True)
    frame["date"] = frame.day.dt.strftime("%Y-%m-%d")
    return frame


def generate_region(spec: SyntheticSpec, i: int, holidays: pd.DataFrame) -> dict:
    """Generate region number ``i``: its info row and its table frames."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, i]))
    region = f"r{i:03d}"
    tz = TIMEZONES[i % len(TIMEZONES)]
    step = freq_seconds(spec.freq)
    start_local = pd.Timestamp(spec.start).tz_localize(tz)
    end_local = start_local + pd.Timedelta(days=spec.days)
    future_end = end_local + pd.Timedelta(days=spec.future_days)
    index = pd.date_range(start_local.tz_convert("UTC"), end_local.tz_convert("UTC"), freq=spec.freq, inclusive="left")
    local = index.tz_convert(tz)
    n = len(index)
    hour = local.hour + local.minute / 60.0
    years = np.asarray((index - index[0]) / pd.Timedelta("365D"), dtype=float)

    # Region sizes: a golden-ratio sequence spreads them over two orders of
    # magnitude whatever the number of regions.
    size = 10 ** (0.3 + 2.0 * ((i * 0.6180339887) % 1.0))
    dinner_peak = 19.3 + rng.uniform(-0.5, 0.5)
    profile = (
        0.03
        + 0.9 * _bump(hour, 12.5, 1.1)
        + 1.3 * _bump(hour, dinner_peak, 1.4)
        + 0.25 * ((hour >= 10) & (hour < 23))
    )
    profile = np.where((hour >= 4) & (hour < 7), profile * 0.05, profile)
    weekly = WEEKDAY_FACTORS[local.day_of_week] * rng.uniform(0.95, 1.05, 7)[local.day_of_week]
    yearly = 1 + 0.08 * np.cos(2 * np.pi * (local.day_of_year - 15) / 365.25)
    growth = (1 + rng.uniform(0.0, 0.3)) ** years

    local_day = local.normalize().tz_localize(None)
    hol_mult = holidays.set_index("day")["multiplier"]
    holiday = np.asarray(local_day.map(hol_mult).fillna(1.0), dtype=float)

    temperature, precipitation = _weather(rng, local, n)
    weather = (1 + 0.08 * np.minimum(precipitation, 4.0)) * (1 + 0.01 * np.maximum(0.0, 10.0 - temperature))

    events = _events(rng, region, tz, start_local, future_end)
    promotions = _promotions(rng, region, start_local, future_end)
    ts = to_epoch_seconds(index)
    event_mult = np.ones(n)
    for s, e in zip(events.start_ts, events.end_ts):
        event_mult[(ts >= s) & (ts < e)] *= 1.5
        event_mult[(ts >= s - 3600) & (ts < s)] *= 1.2
    promo_mult = np.ones(n)
    for s, e in zip(promotions.start_ts, promotions.end_ts):
        promo_mult[(ts >= s) & (ts < e)] *= 1.2

    moon = 1 + 0.03 * moon_illumination(index)
    mean = size * profile * weekly * yearly * growth * holiday * weather * event_mult * promo_mult * moon
    mean = mean * step / 3600.0
    dispersion = 20.0
    counts = rng.negative_binomial(dispersion, dispersion / (dispersion + mean))

    exogenous = pd.concat(
        [
            pd.DataFrame({"region": region, "name": "temperature", "ts": ts, "value": np.round(temperature, 2)}),
            pd.DataFrame({"region": region, "name": "precipitation", "ts": ts, "value": np.round(precipitation, 2)}),
        ],
        ignore_index=True,
    )
    out = {
        "info": {"region": region, "name": f"Region {i:03d}", "timezone": tz},
        "orders": pd.DataFrame({"region": region, "ts": ts, "orders": counts.astype(float)}),
        "exogenous": exogenous,
        "events": events,
        "promotions": promotions,
    }
    if spec.weather_forecasts:
        out["weather_forecasts"] = weather_forecasts(spec.seed, i, region, tz, index, spec.freq, temperature, precipitation)
    return out


def _bump(x, centre: float, width: float):
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def _weather(rng: np.random.Generator, local: pd.DatetimeIndex, n: int) -> tuple[np.ndarray, np.ndarray]:
    days = np.asarray((local - local[0]) / pd.Timedelta("1D"), dtype=float)
    # Day-to-day anomalies: an AR(1) on days, interpolated to slots.
    n_days = int(np.ceil(days[-1])) + 2
    anomaly = np.zeros(n_days)
    shocks = rng.normal(0.0, 1.5, n_days)
    for d in range(1, n_days):
        anomaly[d] = 0.8 * anomaly[d - 1] + shocks[d]
    temperature = climate_temperature(local) + np.interp(days, np.arange(n_days), anomaly)
    # Rain comes in spells: a two-state Markov chain per slot.
    start, stay = rng.random(n) < 0.02, rng.random(n) < 0.85
    raining = np.zeros(n, dtype=bool)
    for t in range(1, n):
        raining[t] = stay[t] if raining[t - 1] else start[t]
    precipitation = np.where(raining, rng.gamma(2.0, 0.8, n), 0.0)
    return temperature, precipitation


def _events(rng, region: str, tz: str, start_local: pd.Timestamp, end_local: pd.Timestamp) -> pd.DataFrame:
    n_days = (end_local - start_local).days
    n = rng.poisson(n_days / 10)
    days = np.sort(rng.integers(0, n_days, n))
    begin_hour = rng.integers(17, 21, n)
    duration = rng.integers(2, 4, n)
    starts = [
        (start_local + pd.Timedelta(days=int(d))).normalize() + pd.Timedelta(hours=int(h))
        for d, h in zip(days, begin_hour)
    ]
    starts_utc = pd.DatetimeIndex(starts, tz=tz) if starts else pd.DatetimeIndex([], tz="UTC")
    s = to_epoch_seconds(starts_utc)
    kinds = rng.choice(EVENT_KINDS, n)
    return pd.DataFrame(
        {
            "region": region,
            "start_ts": s,
            "end_ts": s + duration * 3600,
            "kind": kinds,
            "name": [f"{k} game {j}" if k != "concert" else f"concert {j}" for j, k in enumerate(kinds)],
        }
    )


def _promotions(rng, region: str, start_local: pd.Timestamp, end_local: pd.Timestamp) -> pd.DataFrame:
    n_days = (end_local - start_local).days
    n = rng.poisson(n_days / 30)
    first = np.sort(rng.integers(0, n_days, n))
    length = rng.integers(2, 8, n)
    starts = pd.DatetimeIndex([start_local + pd.Timedelta(days=int(d)) for d in first]) if n else pd.DatetimeIndex([], tz="UTC")
    s = to_epoch_seconds(starts)
    return pd.DataFrame(
        {"region": region, "start_ts": s, "end_ts": s + length * 86400, "name": [f"promotion {j}" for j in range(n)]}
    )
