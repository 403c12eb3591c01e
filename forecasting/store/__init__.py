"""The results store (SQLAlchemy): the tables in ``schema``, opening it in ``database``,
nightly runs in ``runs``, backtests in ``backtests``, run locks in ``lock``, a run's
files in ``exports``."""
