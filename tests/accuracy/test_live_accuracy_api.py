"""``forecasting.live_accuracy``: the notebook's view of the live scores, through the public name."""

from __future__ import annotations

import pandas as pd
import pytest

import forecasting
from forecasting.accuracy.tables import accuracy_table
from forecasting.errors import UsageError
from forecasting.store.scores import ScoreStore


def test_live_accuracy_scores_and_returns_the_commands_table(history, tmp_path):
    h = history.copy(tmp_path)
    table = forecasting.live_accuracy(h.out / "results.sqlite", h.cache, regions="r000,r002")
    assert set(table.region) == {"r000", "r002"} and (table.status == "scored").all()
    store = ScoreStore(h.url)
    try:
        stored = accuracy_table(store, ["r000", "r002"])
    finally:
        store.close()
    pd.testing.assert_frame_equal(table, stored)
    assert forecasting.live_accuracy(h.url, h.cache, since="2099-01-01").empty


def test_a_missing_store_is_refused_before_one_is_created(tmp_path, synthetic_cache):
    with pytest.raises(UsageError, match="no results store"):
        forecasting.live_accuracy(tmp_path / "typo.sqlite", synthetic_cache)
    assert not (tmp_path / "typo.sqlite").exists()
