"""Backtests in the results store: their writes fail as cleanly as the nightly run's (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa

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


def test_a_backtest_store_is_not_a_nightly_store_but_shares_its_database(store_url, tasks):
    url = store_url
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


def _verdict(region, status, model=None, mase=None):
    return {"region": region, "model": model, "mase": mase, "seasonal_naive_mase": 1.0, "interval_adjustment": 0.0,
            "reason": "lowest MASE" if model else "no scored window: 2 of 2 windows failed", "status": status}


def test_a_champion_needs_a_score_and_a_skipped_region_keeps_its_old_one(store_url, tasks):
    store = BacktestStore(store_url)
    store.start_backtest("bt1", "c.sqlite", {}, tasks)
    store.save_champions(pd.DataFrame([_verdict("a", "champion", "mstl", 0.8), _verdict("b", "champion", "gbm", 0.7)]), "bt1")
    with pytest.raises(ValueError, match="without a model or a MASE: c"):
        store.save_champions(pd.DataFrame([_verdict("c", "champion", "mstl", float("nan"))]), "bt1")
    # A later backtest: no scored window for a (its old champion goes), b not in its range (its champion stays).
    store.save_champions(pd.DataFrame([_verdict("a", "no_champion"), _verdict("b", "skipped")]), "bt1")
    champions = load_champions(store).set_index("region")
    verdicts = store.verdicts("bt1").set_index("region")
    store.close()
    assert champions.model.to_dict() == {"b": "gbm"}
    assert verdicts.status.to_dict() == {"a": "no_champion", "b": "skipped"}


def test_a_store_from_before_verdicts_opens_and_its_scoreless_champions_are_not_used(store_url):
    BacktestStore(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # as an older version left it: no verdicts table, a default model without a MASE
        conn.execute(sa.text("DROP TABLE backtest_regions"))
        conn.execute(sa.text("INSERT INTO champions (region, model, mase, interval_adjustment, reason, backtest_id, selected_at) "
                             "VALUES ('a', 'seasonal_naive', NULL, 0, 'no model has 3 successful windows: default model', 'bt0', 0),"
                             " ('b', 'mstl', 0.8, 0, 'lowest MASE', 'bt0', 0)"))
    engine.dispose()
    store = ResultsStore(store_url)
    champions = load_champions(store)
    store.close()
    assert champions.region.tolist() == ["b"]
    store = BacktestStore(store_url)
    assert store.verdicts("bt0").empty  # the table is created on opening
    store.close()


def test_a_resumed_backtest_keeps_its_finished_windows_and_their_predictions(store_url, tasks):
    from forecasting.runs.outcomes import WindowResult

    store = BacktestStore(store_url)
    try:
        assert store.start_backtest("bt1", "c.sqlite", {}, tasks) == set()
        idx = pd.date_range("2024-02-05", periods=3, freq="h", tz="UTC")
        frame = pd.DataFrame({"actual": [1.0, float("nan"), 3.0], "yhat": 2.0, "q10": 1.0, "q50": 2.0, "q90": 3.0,
                              "yhat_oracle": float("nan")}, index=idx)
        task = tasks[0]
        for yhat in (2.0, 2.5):
            store.record_window("bt1", task, WindowResult("r000", task.key, task.model.label, task.cutoff, frame.assign(yhat=yhat),
                                                          scale=1.5, duration=0.1, worker="w", scale_sq=2.25))
        store.finish_backtest("bt1", "interrupted")
        assert store.start_backtest("bt1", "c.sqlite", {}, tasks) == {tasks[0].key}  # resumed: the finished window kept
        got = store.predictions("bt1", "r000")
        status = store.tasks("bt1").set_index("key").status.to_dict()
    finally:
        store.close()
    assert len(got) == 3 and (got.yhat == 2.5).all()  # recorded twice: replaced, not doubled
    assert got.actual.isna().tolist() == [False, True, False] and got.yhat_oracle.isna().all()  # NaN stored as NULL
    assert got.timestamp.tolist() == list(idx)
    assert status == {tasks[0].key: "ok", tasks[1].key: "pending"}
