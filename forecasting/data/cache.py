"""Opening and reading a SQLite cache: :func:`open_cache`, :class:`RegionData`.

Readers open the file read-only and immutable (``mode=ro&immutable=1``): many
worker processes may read it at once, none can write to it, and SQLite skips
locking altogether.  A reader fetches one region at a time; nothing here
loads every region's history.  Building a cache:
:mod:`forecasting.data.cache_writer`.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.data import schema
from forecasting.data.forecast_rows import empty_weather_forecasts, has_weather_forecasts, read_weather_forecasts
from forecasting.data.timestamps import freq_seconds, from_epoch_seconds, to_epoch_seconds
from forecasting.errors import CacheError, RegionDataError

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class RegionData:
    """Everything the cache knows about one region.

    Attributes
    ----------
    region, name, timezone : str
        Identity of the region; ``timezone`` is an IANA name.
    freq : str
        Slot length (pandas frequency string).
    orders : pandas.Series
        Orders per slot on a complete UTC index from the first to the last
        slot; NaN where the count is unknown (gaps).
    exogenous : pandas.DataFrame
        Wide frame of numeric regressors (one column per variable) on UTC
        slots, possibly extending past the last order (forecasts, schedules).
    events, promotions : pandas.DataFrame
        ``start``/``end`` UTC timestamps (end exclusive) plus ``kind``/``name``.
    holidays : pandas.DataFrame
        ``date`` (local calendar date, ``datetime64``) and ``name``.
    weather_forecasts : pandas.DataFrame
        Long frame ``name`` (str), ``issued_at``, ``ts`` (UTC timestamps:
        issue time, forecast slot) and ``value`` (float), sorted by name, ts,
        issued_at; empty (:func:`empty_weather_forecasts`) when none.
    """

    region: str
    name: str
    timezone: str
    freq: str
    orders: pd.Series
    exogenous: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    promotions: pd.DataFrame = field(repr=False)
    holidays: pd.DataFrame = field(repr=False)
    weather_forecasts: pd.DataFrame = field(default_factory=empty_weather_forecasts, repr=False)


class CacheReader:
    """Read-only access to a cache file.

    Use :func:`open_cache` rather than the constructor: it validates the file
    and reuses one reader per file and process.
    """

    def __init__(self, path: Path):
        self.path = path
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro&immutable=1"
        self._engine = sa.create_engine(
            "sqlite+pysqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            poolclass=sa.pool.StaticPool,
        )
        try:
            with self._engine.connect() as conn:
                meta = dict(conn.execute(sa.select(schema.meta.c.key, schema.meta.c.value)).all())
                self.has_weather_forecasts = has_weather_forecasts(conn)
        except sa.exc.DatabaseError as exc:
            raise CacheError(f"not a forecasting cache ({_first_line(exc)})", path=str(path)) from None
        version = meta.get("schema_version")
        if version != str(schema.SCHEMA_VERSION):
            raise CacheError(
                f"cache schema version {version} is not the supported version {schema.SCHEMA_VERSION}; "
                "rebuild it with 'forecasting cache build' or 'forecasting cache import'",
                path=str(path),
            )
        self.meta = meta
        self.freq: str = meta["freq"]
        self.source: dict = json.loads(meta.get("source", "{}"))

    def connect(self) -> sa.Connection:
        """A read-only connection, for queries this class does not offer (summaries)."""
        return self._engine.connect()

    def regions(self) -> list[str]:
        """Region ids, sorted."""
        with self._engine.connect() as conn:
            return list(conn.execute(sa.select(schema.regions.c.region).order_by(schema.regions.c.region)).scalars())

    def region_summaries(self) -> pd.DataFrame:
        """Per region: ``name, timezone, first_ts, last_ts, n_slots`` (one SQL aggregate, no histories)."""
        o, r = schema.orders, schema.regions
        q = (
            sa.select(
                r.c.region,
                r.c.name,
                r.c.timezone,
                sa.func.min(o.c.ts).label("first_ts"),
                sa.func.max(o.c.ts).label("last_ts"),
                sa.func.count(o.c.ts).label("n_slots"),
            )
            .select_from(r.outerjoin(o, o.c.region == r.c.region))
            .group_by(r.c.region)
            .order_by(r.c.region)
        )
        with self._engine.connect() as conn:
            return pd.DataFrame(conn.execute(q).all(), columns=["region", "name", "timezone", "first_ts", "last_ts", "n_slots"])

    def last_timestamp(self) -> pd.Timestamp | None:
        """The latest order slot over all regions (UTC)."""
        with self._engine.connect() as conn:
            ts = conn.execute(sa.select(sa.func.max(schema.orders.c.ts))).scalar()
        return None if ts is None else from_epoch_seconds([ts])[0]

    def timezones(self) -> dict[str, str]:
        """Each region's IANA time zone.

        Returns
        -------
        dict of str to str
            Region id to time zone, for every region of the cache.
        """
        r = schema.regions
        with self._engine.connect() as conn:
            return dict(conn.execute(sa.select(r.c.region, r.c.timezone)).all())

    def orders_between(self, region: str, start, end) -> pd.Series:
        """One region's orders from ``start`` to ``end``, without loading the rest.

        Parameters
        ----------
        region : str
            Region id.  A region the cache does not hold has no orders.
        start, end : pandas.Timestamp or datetime-like
            First and last slot wanted, both included (tz-aware, or naive
            meaning UTC).

        Returns
        -------
        pandas.Series
            Orders named ``orders`` on a complete UTC slot index (of the
            cache's ``freq``) from the first to the last slot the cache holds
            in the range; NaN where the count is unknown or the slot is
            missing.  Empty when the range holds no slot.
        """
        lo, hi = (int(to_epoch_seconds([v])[0]) for v in (start, end))  # one at a time: either may be naive
        o = schema.orders
        q = sa.select(o.c.ts, o.c.orders).where((o.c.region == region) & (o.c.ts >= lo) & (o.c.ts <= hi)).order_by(o.c.ts)
        with self._engine.connect() as conn:  # one indexed range query
            rows = conn.execute(q).all()
        if not rows:
            return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"), name="orders")
        series = pd.Series([np.nan if v is None else float(v) for _, v in rows], index=from_epoch_seconds([t for t, _ in rows]))
        full = pd.date_range(series.index[0], series.index[-1], freq=self.freq)
        return series.reindex(full).rename("orders")

    def load_region(self, region: str) -> RegionData:
        """Load one region's history and exogenous data.

        Raises
        ------
        RegionDataError
            If the region is not in the cache.
        """
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(schema.regions).where(schema.regions.c.region == region)).first()
            if row is None:
                raise RegionDataError(region, f"not in the cache {self.path}")
            orders = conn.execute(
                sa.select(schema.orders.c.ts, schema.orders.c.orders)
                .where(schema.orders.c.region == region)
                .order_by(schema.orders.c.ts)
            ).all()
            x, h = schema.exogenous, schema.holidays
            exog = conn.execute(sa.select(x.c.name, x.c.ts, x.c.value).where(x.c.region == region)).all()
            events = _intervals(conn, schema.events, region, ["kind", "name"])
            promos = _intervals(conn, schema.promotions, region, ["name"])
            forecasts = read_weather_forecasts(conn, region) if self.has_weather_forecasts else empty_weather_forecasts()
            hol = conn.execute(sa.select(h.c.date, h.c.name).where(sa.or_(h.c.region == region, h.c.region.is_(None)))).all()
        step = freq_seconds(self.freq)
        if orders:
            ts = np.fromiter((t for t, _ in orders), dtype=np.int64, count=len(orders))
            vals = np.array([np.nan if v is None else v for _, v in orders], dtype=float)
            full = np.arange(ts[0], ts[-1] + step, step, dtype=np.int64)
            series = pd.Series(np.nan, index=from_epoch_seconds(full), dtype=float)
            series.iloc[((ts - ts[0]) // step).astype(np.int64)] = vals
        else:
            series = pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
        series.index.freq = self.freq
        series.name = "orders"
        if exog:
            long = pd.DataFrame(exog, columns=["name", "ts", "value"])
            wide = long.pivot(index="ts", columns="name", values="value").sort_index()
            wide.index = from_epoch_seconds(wide.index)
            wide.columns.name = None
            wide = wide.astype(float)
        else:
            wide = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
        holidays = pd.DataFrame(hol, columns=["date", "name"])
        holidays["date"] = pd.to_datetime(holidays["date"]) if len(holidays) else pd.Series(dtype="datetime64[ns]")
        return RegionData(
            region=row.region,
            name=row.name,
            timezone=row.timezone,
            freq=self.freq,
            orders=series,
            exogenous=wide,
            events=events,
            promotions=promos,
            holidays=holidays,
            weather_forecasts=forecasts,
        )


def _intervals(conn, table: sa.Table, region: str, extra: list[str]) -> pd.DataFrame:
    cols = [table.c.start_ts, table.c.end_ts] + [table.c[c] for c in extra]
    rows = conn.execute(
        sa.select(*cols).where(sa.or_(table.c.region == region, table.c.region.is_(None))).order_by(table.c.start_ts)
    ).all()
    frame = pd.DataFrame(rows, columns=["start_ts", "end_ts", *extra])
    frame.insert(0, "start", from_epoch_seconds(frame.pop("start_ts")))
    frame.insert(1, "end", from_epoch_seconds(frame.pop("end_ts")))
    return frame


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0]


def open_cache(path) -> CacheReader:
    """Open a cache read-only, validating that it is one.

    One reader is kept per file and process (keyed on path, size and
    modification time), so every task on a worker reuses the connection.

    Raises
    ------
    CacheError
        If the file is missing, not SQLite, truncated, or of another schema.
    """
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CacheError("cache file does not exist", path=str(path)) from None
    if not p.is_file():
        raise CacheError("cache path is not a file", path=str(path))
    with open(p, "rb") as fh:
        header = fh.read(100)
    if header[: len(SQLITE_MAGIC)] != SQLITE_MAGIC:
        raise CacheError("not an SQLite file", path=str(path))
    # A copy cut short (disk full, interrupted transfer) can still open, and an
    # immutable read takes missing pages for empty ones: compare the size the
    # header promises (page size x page count) with the file's.
    if len(header) < 100:
        raise CacheError(f"cache file is truncated ({st.st_size} bytes, less than an SQLite header); copy or build it again",
                         path=str(path))
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big") if header[24:28] == header[92:96] else 0
    if pages and st.st_size != page_size * pages:
        raise CacheError(
            f"cache file is truncated or damaged ({st.st_size} bytes, its header says {page_size * pages}); "
            "copy or build it again", path=str(path),
        )
    return _open_cached(p, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _open_cached(path: Path, size: int, mtime_ns: int) -> CacheReader:
    reader = CacheReader(path)
    try:
        # Touch the tables a job reads, so truncation shows here, not mid-run.
        with reader._engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM regions").scalar()
            conn.exec_driver_sql("PRAGMA quick_check").scalar()
    except sa.exc.DatabaseError as exc:
        raise CacheError(f"cache file is damaged ({_first_line(exc)})", path=str(path)) from None
    return reader
