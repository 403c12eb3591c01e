"""The results store: one transaction per region, idempotent, atomic exports."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.runs.tasks import RegionFailure, RegionResult
from forecasting.store.results import ResultsStore, export_run


def _result(region, value):
    idx = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    frame = pd.DataFrame({"yhat": value, "q10": value - 1, "q50": value, "q90": value + 1}, index=idx)
    return RegionResult(region, "2024-01-01", "seasonal_naive", frame, timings={"total": 0.1})


@pytest.fixture
def store(tmp_path):
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    s.start_run("run1", "nightly", "2024-01-01", "c.sqlite", "serial", ForecastConfig(), ["a", "b"])
    yield s
    s.close()


def test_recording_a_region_twice_replaces_it(store):
    store.record("run1", _result("a", 5.0))
    store.record("run1", _result("a", 7.0))
    frame = store.forecasts("run1")
    assert len(frame) == 4 and (frame.yhat == 7.0).all()
    outcomes = store.region_outcomes("run1").set_index("region")
    assert outcomes.loc["a", "attempts"] == 2 and outcomes.loc["b", "status"] == "pending"


def test_export_writes_csvs_and_json(store, tmp_path):
    store.record("run1", _result("a", 5.0))
    store.record("run1", RegionFailure("b", "forecast-2024-01-01-b", "RegionDataError", "too short", "Traceback ..."))
    store.finish_run("run1", "partial")
    paths = export_run(store, "run1", tmp_path / "out")
    lines = paths["forecasts.csv"].read_text().splitlines()
    assert lines[0] == "region,timestamp,model,yhat,q10,q50,q90"
    assert lines[1].startswith("a,2024-01-01T00:00:00Z,seasonal_naive,5.0000")
    assert paths["failures.csv"].read_text().splitlines()[1] == "b,RegionDataError,too short"


def test_bad_store_url_is_a_usage_error():
    from forecasting.errors import UsageError

    with pytest.raises(UsageError, match="--store"):
        ResultsStore("notadb://x")
