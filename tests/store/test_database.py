"""Opening a results store made by an earlier version: the columns added since appear, empty (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from forecasting.store.database import Store, add_missing_columns
from forecasting.store.schema import metadata

#: Nullable columns added after stores were first written (a store from before has none of them).
LATER_COLUMNS = {("backtest_predictions", "yhat_oracle"), ("champions", "staffing"), ("forecasts", "staff")}


def _old_store(url):
    """A store as an earlier version wrote it: today's tables without the later columns, one champion in it."""
    store = Store(url)
    try:
        with store.engine.begin() as conn:
            for table, column in LATER_COLUMNS:
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(sa.text("INSERT INTO champions (region, model, mase, interval_adjustment, backtest_id, selected_at) "
                                 "VALUES ('r', 'gbm', 0.5, 0.0, 'bt-old', 0)"))
    finally:
        store.close()


def _columns(engine, table):
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_an_old_store_gets_the_later_columns_and_keeps_its_rows(store_url):
    _old_store(store_url)
    store = Store(store_url)
    try:
        for table, column in LATER_COLUMNS:
            assert column in _columns(store.engine, table)
        with store.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT model, staffing FROM champions")).one()
        assert row == ("gbm", None)
        assert add_missing_columns(store.engine) == []  # once only
    finally:
        store.close()


def test_a_column_another_process_added_first_is_no_error(store_url):
    """Two drivers opening an old store at once: the one whose ALTER comes second finds the column there.

    The other driver's ALTER is committed just before this one's runs (after
    this one saw the column missing).  SQLite reports the duplicate column
    as an OperationalError; PostgreSQL as a ProgrammingError (DuplicateColumn),
    and aborts the transaction.
    """
    _old_store(store_url)
    other = sa.create_engine(store_url)
    engine = sa.create_engine(store_url)
    raced = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def first_the_other_driver(conn, cursor, statement, *args):
        if statement.startswith("ALTER TABLE champions ADD COLUMN") and not raced:
            raced.append(statement)
            with other.begin() as c:
                c.execute(sa.text(statement))

    try:
        added = add_missing_columns(engine)
        assert raced  # the other driver did go first
        assert sorted(added) == sorted(f"{t}.{c}" for t, c in LATER_COLUMNS)
        assert all(column in _columns(engine, table) for table, column in LATER_COLUMNS)
        with engine.connect() as conn:  # the connection that lost the race is usable again
            assert conn.execute(sa.text("SELECT model, staffing FROM champions")).one() == ("gbm", None)
    finally:
        engine.dispose()
        other.dispose()


def test_every_column_a_store_may_lack_is_nullable():
    added = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns if (t.name, c.name) in LATER_COLUMNS}
    assert added == LATER_COLUMNS
    assert all(metadata.tables[t].columns[c].nullable for t, c in LATER_COLUMNS)


def test_each_store_url_is_on_the_database_its_name_says(store_url, request):
    """The postgresql case is on a PostgreSQL server (no silent SQLite): the rest of the suite relies on it."""
    store = Store(store_url)
    try:
        with store.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version()" if store.engine.dialect.name == "postgresql"
                                           else "SELECT 'SQLite ' || sqlite_version()")).scalar()
    finally:
        store.close()
    expected = request.node.callspec.params["store_url"]
    assert store.engine.dialect.name == expected and version.lower().startswith(expected)
