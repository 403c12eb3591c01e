"""Reading a region's weather forecasts from the cache (table ``weather_forecasts``).

:class:`~forecasting.data.cache.RegionData` holds them as one long frame,
:func:`empty_weather_forecasts` gives its columns and dtypes.  Caches
written before the table existed have none: :func:`has_weather_forecasts`
tells, and their regions read as an empty frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.data import schema
from forecasting.data.timestamps import from_epoch_seconds

#: Columns of :attr:`RegionData.weather_forecasts <forecasting.data.cache.RegionData>`.
COLUMNS = ("name", "issued_at", "ts", "value")

# Rows converted at a time: bounds the Python objects alive at once.
_CHUNK = 100_000


def empty_weather_forecasts() -> pd.DataFrame:
    """The weather forecasts of a region that has none.

    Returns
    -------
    pandas.DataFrame
        No rows; columns ``name`` (pandas' dtype for ``str``), ``issued_at``
        and ``ts`` (UTC ``datetime64``, of the resolution
        :func:`~forecasting.data.timestamps.from_epoch_seconds` gives) and
        ``value`` (float64): the dtypes of a region that has forecasts.
    """
    utc = from_epoch_seconds(np.empty(0, dtype=np.int64))
    return pd.DataFrame({"name": pd.Series([], dtype=str), "issued_at": utc, "ts": utc, "value": pd.Series([], dtype=float)})


def weather_forecast_frame(names, issued_at, ts, values) -> pd.DataFrame:
    """The long frame of :func:`empty_weather_forecasts`'s form from epoch-second arrays, sorted.

    Parameters
    ----------
    names : array-like of str
        Variable of each row.
    issued_at, ts : array-like of int
        Issue time and forecast slot start of each row, epoch seconds UTC.
    values : array-like of float
        Forecast values (NaN allowed).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``name``, ``ts``, ``issued_at``, with a 0..n-1 index.
    """
    # Codes of the (few) names: one str object per name shared by every row.
    labels, codes = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    return _frame(labels, codes, issued_at, ts, values)


def _frame(labels: np.ndarray, codes: np.ndarray, issued_at, ts, values) -> pd.DataFrame:
    """``labels`` sorted, ``codes`` indexing them."""
    issued_at, ts = np.asarray(issued_at, dtype=np.int64), np.asarray(ts, dtype=np.int64)
    if not len(ts):
        return empty_weather_forecasts()
    order = np.lexsort((issued_at, ts, codes))
    return pd.DataFrame({
        "name": pd.Series(labels[codes[order]], dtype=str),
        "issued_at": from_epoch_seconds(issued_at[order]),
        "ts": from_epoch_seconds(ts[order]),
        "value": np.asarray(values, dtype=float)[order],
    })


def has_weather_forecasts(conn: sa.Connection) -> bool:
    """Whether the cache has the ``weather_forecasts`` table (caches written before it do not)."""
    query = sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name")
    return conn.execute(query, {"name": schema.weather_forecasts.name}).first() is not None


def read_weather_forecasts(conn: sa.Connection, region: str) -> pd.DataFrame:
    """One region's weather forecasts, in one indexed range query.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection to a cache that has the table (:func:`has_weather_forecasts`).
    region : str
        Region id; a region without forecasts gives an empty frame.

    Returns
    -------
    pandas.DataFrame
        As :func:`weather_forecast_frame`.
    """
    w = schema.weather_forecasts
    # The primary key's order: SQLite reads the range without sorting.
    query = sa.select(w.c.name, w.c.issued_at, w.c.ts, w.c.value).where(w.c.region == region).order_by(
        w.c.name, w.c.issued_at, w.c.ts)
    codes, names, issued, ts, values = [], {}, [], [], []
    for chunk in conn.execute(query).partitions(_CHUNK):
        n = len(chunk)
        codes.append(np.fromiter((names.setdefault(r[0], len(names)) for r in chunk), dtype=np.int64, count=n))
        issued.append(np.fromiter((r[1] for r in chunk), dtype=np.int64, count=n))
        ts.append(np.fromiter((r[2] for r in chunk), dtype=np.int64, count=n))
        values.append(np.fromiter((np.nan if r[3] is None else r[3] for r in chunk), dtype=float, count=n))
    if not codes:
        return empty_weather_forecasts()
    # Rows come ordered by name, so codes number the names in sorted order.
    labels = np.array(list(names), dtype=object)
    return _frame(labels, np.concatenate(codes), np.concatenate(issued), np.concatenate(ts), np.concatenate(values))
