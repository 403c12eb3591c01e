"""Opening the results store, and the one way it is written.

:class:`Store` is what the nightly runs (:class:`~forecasting.store.runs.ResultsStore`)
and the backtests (:class:`~forecasting.store.backtests.BacktestStore`) share:
the engine on a SQLAlchemy URL with every table of
:mod:`forecasting.store.schema` created, and :meth:`Store._write`, one
transaction per outcome that turns a store that cannot be written into a
:class:`~forecasting.errors.StoreError` naming the store.  A crash or a
failed write therefore leaves each outcome either as it was or complete.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Iterator

import pandas as pd
import sqlalchemy as sa

from forecasting.data.timestamps import to_epoch_seconds
from forecasting.errors import StoreError, UsageError
from forecasting.store.schema import metadata
from forecasting.store.urls import missing_driver, shown_error, shown_url


def store_url(out_dir: Path, url: str | None) -> str:
    """The store's URL: ``url`` if given, else ``sqlite:///OUT/results.sqlite``."""
    return url or f"sqlite:///{Path(out_dir).resolve() / 'results.sqlite'}"


def open_engine(url: str, busy_timeout: float = 30.0) -> sa.Engine:
    """An engine on ``url`` with every table of the results store created.

    Every message shows ``url`` without its password, on one line
    (:mod:`forecasting.store.urls`).

    Raises
    ------
    UsageError
        If ``url`` is not a database URL SQLAlchemy can use, its database
        driver is not installed, or the database cannot be opened (missing
        folder, not a database file, a server that does not answer).
    """
    try:
        # SQLite: how long a write waits for another process's lock.
        kwargs = {"connect_args": {"timeout": busy_timeout}} if url.startswith("sqlite") else {}
        try:
            engine = sa.create_engine(url, **kwargs)
        except ImportError as exc:
            # The dialect imports its DBAPI module here (postgresql+psycopg2:// without psycopg2):
            # the user's install to complete, not a bug.  Only this call: an ImportError later is ours.
            raise UsageError(missing_driver(url, exc)) from None
        metadata.create_all(engine)
        add_missing_columns(engine)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise UsageError(f"--store: not a usable database URL {shown_url(url)!r}: {shown_error(exc, url)}") from None
    except sa.exc.DatabaseError as exc:
        # OperationalError (no such folder, not writable, no server) and a file that is not
        # a database at all (sqlite3.DatabaseError: a corrupt or foreign file).
        raise UsageError(f"--store: cannot open {shown_url(url)!r}: {shown_error(exc.orig, url)}") from None
    return engine


def add_missing_columns(engine: sa.Engine) -> list[str]:
    """Add to a store made by an earlier version the nullable columns added since.

    Columns are only ever added to the results store, always nullable, so a
    store made before them reads as one whose rows have them empty (NULL).
    ``create_all`` makes missing tables but never alters existing ones; this
    does that, once.  Returns ``table.column`` of each column added.  Two
    processes opening an old store at once may both try: the loser's
    ``ALTER`` fails, and the column is there.  SQLite reports that as an
    OperationalError, PostgreSQL as a ProgrammingError (DuplicateColumn);
    each ``ALTER`` has a transaction of its own, so the one that failed
    (which PostgreSQL aborts) is rolled back before the column is looked for.
    """
    existing = sa.inspect(engine)
    added = []
    for table in metadata.sorted_tables:
        have = {c["name"] for c in existing.get_columns(table.name)}
        for column in table.columns:
            # A required column missing is no older version's store: left for the queries to report.
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise
            added.append(f"{table.name}.{column.name}")
    return added


class Store:
    """The results store's engine and its write transaction.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL; tables are created if missing.
    busy_timeout : float
        SQLite only: seconds a write waits for another writer before
        failing with :class:`~forecasting.errors.StoreError`.
    """

    def __init__(self, url: str, busy_timeout: float = 30.0):
        self.engine = open_engine(url, busy_timeout)
        self.url = url

    def close(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[sa.Connection]:
        """One write transaction; a store that cannot be written raises StoreError.

        ``what`` names the write in the error (``"recording a region's outcome"``).
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            # Locked past the timeout, disk full, read-only: the transaction was
            # rolled back, so nothing partial is visible.
            raise StoreError(f"results store {shown_url(self.url)}: {what} failed: {shown_error(exc.orig, self.url)}") from None


def slot_rows(frame: pd.DataFrame, columns, keys: dict, nan_as_null: bool = False) -> list[dict]:
    """Rows of a per-slot table: ``keys``, ``ts`` (epoch seconds) and ``columns`` of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by UTC slot starts.
    columns : sequence of str
        Float columns of ``frame`` to store.
    keys : dict
        Values shared by every row (run id, region...).
    nan_as_null : bool
        Store NaN as NULL (for nullable columns such as ``actual``).
    """
    # Plain lists zipped into dicts: DataFrame.to_dict("records") cost ~4.4 ms for a 672-slot forecast,
    # a quarter of the driver thread's busy time at 1,000 regions in `python -m bench scale`; this takes ~0.7 ms.
    names = ["ts", *columns, *keys]
    values = [to_epoch_seconds(frame.index).tolist()]
    for col in columns:
        floats = frame[col].to_numpy(dtype=float).tolist()
        values.append([None if v != v else v for v in floats] if nan_as_null else floats)
    shared = tuple(keys.values())
    return [dict(zip(names, (*slot, *shared))) for slot in zip(*values)]


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` with one executemany of the driver.

    ``conn.execute(table.insert(), rows)`` processes every row's parameters
    in Python: 3.5 of the 5.5 ms it took to insert a 672-slot forecast
    (``python -m bench scale``).  Here the statement is compiled once per
    dialect and keys and the rows go to the database driver as they are,
    as tuples where its parameter style is positional (SQLite's is).
    """
    if not rows:
        return
    sql, order = _insert_statement(table, conn.dialect, tuple(rows[0]))
    conn.exec_driver_sql(sql, [tuple(r[k] for k in order) for r in rows] if order else rows)


@functools.lru_cache(maxsize=64)
def _insert_statement(table: sa.Table, dialect, keys: tuple) -> tuple[str, tuple | None]:
    compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
    return compiled.string, tuple(compiled.positiontup) if compiled.positional else None
