"""Building a SQLite cache: :class:`CacheWriter`.

The cache is built in a temporary file beside the destination and moved
into place only when complete (:func:`forecasting.files.atomic_path`), so a
failed build never leaves a half-written cache.  The finished file is in
rollback-journal mode (no ``-wal`` side files) so that it can be shipped as
one file.  Reading it: :mod:`forecasting.data.cache`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from forecasting.data import schema
from forecasting.errors import CacheError
from forecasting.files import atomic_path


class CacheWriter:
    """Build a cache file atomically.

    Use as a context manager; the file appears at ``path`` only if the block
    exits without an exception.

    Parameters
    ----------
    path : path-like
        Destination of the cache.  Replaced atomically if it exists.
    freq : str
        Slot length, one of :data:`forecasting.data.schema.FREQUENCIES`.
    source : dict, optional
        Provenance recorded in the ``meta`` table (generator, seed, files...).
    """

    def __init__(self, path, freq: str, source: dict | None = None):
        self.path = Path(path)
        self.freq = freq
        self.source = dict(source or {})
        self._target: contextlib.AbstractContextManager | None = None
        self._engine: sa.Engine | None = None

    def __enter__(self) -> "CacheWriter":
        if self.freq not in schema.FREQUENCIES:
            raise CacheError(f"unsupported slot frequency {self.freq!r}; use one of {', '.join(schema.FREQUENCIES)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Entered by hand: the cache is written between __enter__ and __exit__.
        self._target = atomic_path(self.path)
        tmp = self._target.__enter__()
        try:
            self._engine = sa.create_engine(f"sqlite+pysqlite:///{tmp}")
            schema.metadata.create_all(self._engine)
            self._write_meta()
        except BaseException as exc:
            self._close(exc)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
                with self._engine.connect() as conn:
                    # Rollback-journal mode: one self-contained file to ship.
                    conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            except BaseException as err:
                self._close(err)
                raise
        self._close(exc)

    def _close(self, exc: BaseException | None) -> None:
        """Close the database; move it into place if ``exc`` is None, else drop it."""
        engine, target = self._engine, self._target
        self._engine = self._target = None
        if engine is not None:
            engine.dispose()
        if exc is None:
            target.__exit__(None, None, None)
        else:
            target.__exit__(type(exc), exc, exc.__traceback__)

    def _write_meta(self) -> None:
        rows = [
            {"key": "schema_version", "value": str(schema.SCHEMA_VERSION)},
            {"key": "freq", "value": self.freq},
            {"key": "created_at", "value": pd.Timestamp.now(tz="UTC").isoformat()},
            {"key": "source", "value": json.dumps(self.source, sort_keys=True, default=str)},
        ]
        self._insert(schema.meta, rows)

    def _insert(self, table: sa.Table, rows) -> None:
        if isinstance(rows, pd.DataFrame):
            if rows.empty:
                return
            rows = _records(rows)
        if not rows:
            return
        with self._engine.begin() as conn:
            conn.execute(table.insert(), rows)

    def set_filled_slots(self, per_region: dict) -> None:
        """Record how many orders slots of each region are zeros filled in (no row in the input).

        Kept in ``meta`` (key ``filled_slots``, a JSON object), so caches
        written before it still open; :func:`forecasting.data.cache_info.cache_info`
        reports the count as unknown for them.
        """
        self._insert(schema.meta, [{"key": "filled_slots", "value": json.dumps(per_region, sort_keys=True)}])

    def add_regions(self, frame: pd.DataFrame) -> None:
        """Columns ``region, name, timezone``."""
        self._insert(schema.regions, frame[["region", "name", "timezone"]])

    def add_orders(self, frame: pd.DataFrame) -> None:
        """Columns ``region, ts`` (epoch seconds, UTC) and ``orders`` (NaN allowed)."""
        self._insert(schema.orders, frame[["region", "ts", "orders"]])

    def add_exogenous(self, frame: pd.DataFrame) -> None:
        """Long format: columns ``region, name, ts, value``."""
        self._insert(schema.exogenous, frame[["region", "name", "ts", "value"]])

    def add_weather_forecasts(self, frame: pd.DataFrame) -> None:
        """Long format: columns ``region, name, issued_at, ts`` (epoch seconds, UTC) and ``value`` (NaN allowed).

        One row per variable, issue and forecast slot; ``issued_at`` is when
        the forecast was made and need not be a slot start.
        """
        self._insert(schema.weather_forecasts, frame[["region", "name", "issued_at", "ts", "value"]])

    def add_events(self, frame: pd.DataFrame) -> None:
        """Columns ``region`` (None for everywhere), ``start_ts, end_ts, kind, name``."""
        self._insert(schema.events, frame[["region", "start_ts", "end_ts", "kind", "name"]])

    def add_promotions(self, frame: pd.DataFrame) -> None:
        """Columns ``region, start_ts, end_ts, name``."""
        self._insert(schema.promotions, frame[["region", "start_ts", "end_ts", "name"]])

    def add_holidays(self, frame: pd.DataFrame) -> None:
        """Columns ``date`` (YYYY-MM-DD local date), ``name, region`` (None for everywhere)."""
        self._insert(schema.holidays, frame[["date", "name", "region"]])


def _records(frame: pd.DataFrame) -> list[dict]:
    # Plain Python scalars (and None for missing values) for the DB-API driver.
    out = frame.astype(object).where(frame.notna(), None)
    cols = list(out.columns)
    return [dict(zip(cols, row)) for row in out.itertuples(index=False, name=None)]
