"""The files of a run: CSVs and JSON exported from the results store."""

from __future__ import annotations

from forecasting.runs.outcomes import RegionFailure
from forecasting.store.exports import export_run


def test_export_writes_csvs_and_json(store, region_result, tmp_path):
    store.record("run1", region_result("a", 5.0))
    store.record("run1", RegionFailure("b", "forecast-2024-01-01-b", "RegionDataError", "too short", "Traceback ..."))
    store.finish_run("run1", "partial")
    paths = export_run(store, "run1", tmp_path / "out")
    lines = paths["forecasts.csv"].read_text().splitlines()
    assert lines[0] == "region,timestamp,model,yhat,q10,q50,q90,staff"
    assert lines[1].startswith("a,2024-01-01T00:00:00Z,seasonal_naive,5.0000")
    assert paths["failures.csv"].read_text().splitlines()[1] == "b,RegionDataError,too short"
