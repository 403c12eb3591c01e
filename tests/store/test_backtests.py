"""Backtests in the results store: their writes fail as cleanly as the nightly run's."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.models.spec import ModelSpec
from forecasting.errors import StoreError
from forecasting.runs.backtest import tasks_for
from forecasting.runs.outcomes import RegionFailure
from forecasting.store.backtests import BacktestStore, load_champions
from forecasting.store.runs import ResultsStore


@pytest.fixture
def tasks():
    return tasks_for(["r000"], "c.sqlite", [ModelSpec("seasonal_naive")], ["2024-02-05", "2024-02-12"],
                     ForecastConfig(horizon="7D"), "bt1")


def test_a_locked_store_fails_a_window_with_a_store_error_and_keeps_nothing_of_it(tmp_path, tasks):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    store = BacktestStore(url, busy_timeout=0.2)
    store.start_backtest("bt1", "c.sqlite", {}, tasks)
    blocker = sqlite3.connect(tmp_path / "r.sqlite", timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=rf"results store {url}: recording a window's outcome failed: database is locked"):
            store.record_window("bt1", tasks[0], RegionFailure("r000", tasks[0].key, "ModelError", "cannot fit", "tb"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.tasks("bt1").status.tolist() == ["pending", "pending"]
    store.close()


def test_a_backtest_store_is_not_a_nightly_store_but_shares_its_database(tmp_path, tasks):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    backtest = BacktestStore(url)
    assert not hasattr(backtest, "start_run")
    backtest.start_backtest("bt1", "c.sqlite", {}, tasks)
    backtest.save_champions(pd.DataFrame([{"region": "r000", "model": "seasonal_naive", "mase": 0.9, "seasonal_naive_mase": 0.9,
                                           "interval_adjustment": 0.1, "reason": "lowest"}]), "bt1")
    backtest.close()
    nightly = ResultsStore(url)
    champions = load_champions(nightly)
    nightly.close()
    assert champions[["region", "model", "backtest_id"]].values.tolist() == [["r000", "seasonal_naive", "bt1"]]
