"""Fixtures of the results-store tests: a store with one nightly run started, on SQLite and on PostgreSQL.

``store_url`` (tests/conftest.py) is parametrised over both databases, so
every test taking ``store`` or ``store_url`` runs on each.
"""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.runs.outcomes import RegionResult
from forecasting.store.runs import ResultsStore


def _result(region, value):
    idx = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    frame = pd.DataFrame({"yhat": value, "q10": value - 1, "q50": value, "q90": value + 1}, index=idx)
    return RegionResult(region, "2024-01-01", "seasonal_naive", frame, timings={"total": 0.1})


@pytest.fixture
def region_result():
    """``region_result(region, value)``: a successful outcome forecasting ``value`` for 4 hours."""
    return _result


@pytest.fixture
def store(store_url):
    s = ResultsStore(store_url)
    s.start_run("run1", "nightly", "2024-01-01", "c.sqlite", "serial", ForecastConfig(), ["a", "b"])
    yield s
    s.close()
