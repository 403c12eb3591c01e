"""SQLite behind a URL with a user and a password, and the ``forecasting`` command that knows it.

``sqlite+planted://bob:PASSWORD@//path/store.sqlite`` is SQLAlchemy's own
pysqlite dialect, except that the user and password stay out of what it
hands SQLite, as a server's driver hands them to the server and not to a
file: a real store, on a URL with a password in it, without a server.

``python planted_store.py ARGS...`` is ``forecasting ARGS...`` in a process of
its own (its own logging set-up, nothing of pytest's) with this dialect known.
"""

from __future__ import annotations

import sys

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite


class PlantedSQLite(SQLiteDialect_pysqlite):
    """pysqlite, given the URL without its credentials."""

    supports_statement_cache = True

    def create_connect_args(self, url):
        # (URL.set ignores None: the named tuple's own _replace clears them.)
        return super().create_connect_args(url._replace(username=None, password=None))


registry.register("sqlite.planted", __name__, "PlantedSQLite")

if __name__ == "__main__":
    from forecasting.cli.main import main

    sys.exit(main(sys.argv[1:]))
