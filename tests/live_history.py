"""Helpers of the live-accuracy tests: nightly runs on consecutive dates, the cache growing with the actuals.

The cache is cut from a complete synthetic one and given its orders a day
at a time with plain SQL, the way the nightly load brings yesterday's.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from forecasting.config.forecast import ForecastConfig
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly

DAY = 86400
#: Two candidates, one week ahead: each night's run chooses between them on its hold-out.
CONFIG = {"horizon": "7D", "models": {"seasonal_naive": {}, "gbm": {"max_iter": 20}}, "selection_window": "7D"}


def cut_cache(full: Path, path: Path, days_held_back: int) -> None:
    """A copy of ``full`` without its last ``days_held_back`` days of orders."""
    shutil.copy(full, path)
    with sqlite3.connect(path) as conn:
        last = conn.execute("SELECT max(ts) FROM orders").fetchone()[0]
        conn.execute("DELETE FROM orders WHERE ts > ?", (last - days_held_back * DAY,))
    conn.close()


def extend_cache(full: Path, path: Path, days: int) -> None:
    """Give ``path`` the next ``days`` days of orders of ``full``."""
    with sqlite3.connect(path) as conn:
        conn.execute("ATTACH DATABASE ? AS full", (str(full),))
        last = conn.execute("SELECT max(ts) FROM orders").fetchone()[0]
        conn.execute("INSERT INTO orders SELECT * FROM full.orders WHERE ts > ? AND ts <= ?", (last, last + days * DAY))
    conn.close()


@dataclass(frozen=True)
class History:
    """Nightly runs on consecutive dates; ``cache`` now holds every actual they forecast."""

    full: Path
    cache: Path
    out: Path
    run_ids: list
    #: The store's URL where it is not ``out``'s SQLite file (a copy in PostgreSQL).
    store: str | None = None

    @property
    def url(self) -> str:
        return self.store or f"sqlite:///{self.out / 'results.sqlite'}"

    def copy(self, tmp_path: Path, store_url: str | None = None) -> "History":
        """A copy to change (the store and the cache); the store in ``store_url`` if that is a server's (PostgreSQL)."""
        shutil.copytree(self.out, tmp_path / "out")
        shutil.copy(self.cache, tmp_path / "cache.sqlite")
        copied = History(self.full, tmp_path / "cache.sqlite", tmp_path / "out", self.run_ids)
        if store_url is None or store_url.startswith("sqlite"):  # the copied file itself
            return copied
        copy_store(copied.url, store_url)
        return History(self.full, copied.cache, copied.out, self.run_ids, store_url)


def copy_store(source: str, target: str) -> None:
    """Every row of the results store at ``source`` into the (new, empty) store at ``target``."""
    import sqlalchemy as sa

    from forecasting.store.database import Store
    from forecasting.store.schema import metadata

    Store(target).close()  # its tables
    src, dst = sa.create_engine(source), sa.create_engine(target)
    try:
        with src.connect() as read, dst.begin() as write:
            for table in metadata.sorted_tables:  # parents first: PostgreSQL checks the foreign keys
                rows = [dict(r) for r in read.execute(sa.select(table)).mappings()]
                if rows:
                    write.execute(table.insert(), rows)
    finally:
        src.dispose()
        dst.dispose()


def nightly_history(root: Path, nights: int = 4, held_back: int = 14, regions: int = 3, config=None) -> History:
    full = root / "full.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=regions, days=70, freq="h", seed=5), full)
    cache = root / "cache.sqlite"
    cut_cache(full, cache, held_back)
    config = ForecastConfig.from_dict(config or CONFIG)
    run_ids = []
    for _ in range(nights):
        run_ids.append(run_nightly(cache, root / "out", SerialExecutor(), config).run_id)
        extend_cache(full, cache, 1)
    extend_cache(full, cache, 7)  # every slot of every run has its actual now
    return History(full, cache, root / "out", run_ids)
