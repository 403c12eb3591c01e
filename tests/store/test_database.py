"""Opening a results store made by an earlier version: the columns added since appear, empty."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from forecasting.store.database import Store, add_missing_columns
from forecasting.store.schema import metadata

#: Nullable columns added after stores were first written (a store from before has none of them).
LATER_COLUMNS = {("backtest_predictions", "yhat_oracle"), ("champions", "staffing"), ("forecasts", "staff")}


def _old_store(path):
    """A store as an earlier version wrote it: today's tables without the later columns, one champion in it."""
    store = Store(f"sqlite:///{path}")
    store.close()
    with sqlite3.connect(path) as conn:
        for table, column in LATER_COLUMNS:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("INSERT INTO champions (region, model, mase, interval_adjustment, backtest_id, selected_at) "
                     "VALUES ('r', 'gbm', 0.5, 0.0, 'bt-old', 0)")


def test_an_old_store_gets_the_later_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    _old_store(path)
    store = Store(f"sqlite:///{path}")
    try:
        inspector = sa.inspect(store.engine)
        for table, column in LATER_COLUMNS:
            assert column in {c["name"] for c in inspector.get_columns(table)}
        with store.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT model, staffing FROM champions")).one()
        assert row == ("gbm", None)
        assert add_missing_columns(store.engine) == []  # once only
    finally:
        store.close()


def test_every_column_a_store_may_lack_is_nullable():
    added = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns if (t.name, c.name) in LATER_COLUMNS}
    assert added == LATER_COLUMNS
    assert all(metadata.tables[t].columns[c].nullable for t, c in LATER_COLUMNS)
