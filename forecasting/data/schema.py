"""SQLAlchemy Core schema of the SQLite cache shipped to every worker.

Times are stored as integer seconds since the Unix epoch, in UTC: compact,
fast to index and to read back into pandas, and free of time-zone ambiguity.
Each region carries its IANA time zone; calendar features are computed in
local time from it.  Dates of holidays are local calendar dates
(``YYYY-MM-DD`` text).

Exogenous numeric series (weather, and any column of an imported features
CSV) live in one long table, ``exogenous(region, ts, name, value)``; weather
is the two variables ``temperature`` (degrees Celsius) and ``precipitation``
(mm per hour).

Weather forecasts, as they were known when issued, live in
``weather_forecasts(region, name, issued_at, ts, value)``: the value a
forecast issued at ``issued_at`` gave variable ``name`` (the names of
``exogenous``) for the slot starting at ``ts``.  A slot has one row per
forecast that covered it, so a backtest can use only the forecasts issued
before its origin.  The table was added without bumping the version: caches
written before it lack it, still open, and read as having no forecasts.

``meta`` holds ``schema_version``, ``freq``, ``created_at``, ``source``
(JSON provenance) and, in imported caches, ``filled_slots``: a JSON object
of region -> number of its orders slots that had no input row and were
stored as 0.  That key was added without bumping the version: caches
without it still open, and their filled slots are unknown.
"""

from __future__ import annotations

import sqlalchemy as sa

#: Bumped whenever the tables below change incompatibly.
SCHEMA_VERSION = 1

#: Slot lengths the cache supports, as pandas frequency strings.
FREQUENCIES = ("15min", "30min", "h")

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

regions = sa.Table(
    "regions",
    metadata,
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("ts", sa.Integer, primary_key=True),
    # NULL marks a slot known to exist but whose count is unknown.
    sa.Column("orders", sa.Float, nullable=True),
    sqlite_with_rowid=False,
)

exogenous = sa.Table(
    "exogenous",
    metadata,
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("ts", sa.Integer, primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
    sqlite_with_rowid=False,
)

weather_forecasts = sa.Table(
    "weather_forecasts",
    metadata,
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    # When the forecast was issued (epoch seconds, UTC); not on the slot grid.
    sa.Column("issued_at", sa.Integer, primary_key=True),
    sa.Column("ts", sa.Integer, primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    # NULL region: the event matters everywhere.
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("start_ts", sa.Integer, nullable=False),
    sa.Column("end_ts", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_events_region_start", "region", "start_ts"),
)

promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("promotion_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("start_ts", sa.Integer, nullable=False),
    sa.Column("end_ts", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_promotions_region_start", "region", "start_ts"),
)

holidays = sa.Table(
    "holidays",
    metadata,
    sa.Column("holiday_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("date", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=True),
    sa.Index("ix_holidays_region_date", "region", "date"),
)
