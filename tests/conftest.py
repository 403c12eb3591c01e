"""Shared fixtures: small real caches built by the project's own generator."""

from __future__ import annotations

import os

# Jobs run with one BLAS/OpenMP thread (forecasting.runs.tasks.run_task); tests that
# call model code directly do too.  OpenMP's spinning threads on a loaded
# 2-core machine (CI, a laptop running a build) otherwise slow a fit down by
# orders of magnitude.  Must be set before the libraries load.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil
import sqlite3

import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

#: Small enough to keep the suite fast, long enough for weekly models.
SMALL = SyntheticSpec(regions=6, days=63, freq="h", seed=7)


@pytest.fixture(scope="session")
def synthetic_cache(tmp_path_factory):
    """A 6-region, 9-week hourly synthetic cache (read-only: copy before changing)."""
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    build_synthetic_cache(SMALL, path)
    return path


@pytest.fixture(scope="session")
def poisoned_cache(tmp_path_factory, synthetic_cache):
    """The synthetic cache with two bad regions: r001 all NaN, r004 only 5 days long.

    Changed with plain SQL, the way a bad upstream load would leave it.
    """
    path = tmp_path_factory.mktemp("poisoned") / "cache.sqlite"
    shutil.copy(synthetic_cache, path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE orders SET orders = NULL WHERE region = 'r001'")
        conn.execute("DELETE FROM orders WHERE region = 'r004' AND ts < (SELECT max(ts) - 5 * 86400 FROM orders WHERE region = 'r004')")
    conn.close()
    return path


@pytest.fixture(scope="session")
def fast_config():
    """Two cheap candidates, so tests exercise model selection quickly."""
    return ForecastConfig.from_dict({"horizon": "7D", "models": {"seasonal_naive": {}, "gbm": {"max_iter": 30}}, "selection_window": "7D"})
