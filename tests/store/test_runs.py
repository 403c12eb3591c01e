"""The nightly runs in the results store: one transaction per region, idempotent."""

from __future__ import annotations

import pytest

from forecasting.store.runs import ResultsStore


def test_recording_a_region_twice_replaces_it(store, region_result):
    store.record("run1", region_result("a", 5.0))
    store.record("run1", region_result("a", 7.0))
    frame = store.forecasts("run1")
    assert len(frame) == 4 and (frame.yhat == 7.0).all()
    outcomes = store.region_outcomes("run1").set_index("region")
    assert outcomes.loc["a", "attempts"] == 2 and outcomes.loc["b", "status"] == "pending"


def test_bad_store_url_is_a_usage_error():
    from forecasting.errors import UsageError

    with pytest.raises(UsageError, match="--store"):
        ResultsStore("notadb://x")
