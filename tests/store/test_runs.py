"""The nightly runs in the results store: one transaction per region, idempotent (SQLite and PostgreSQL)."""

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


def test_a_later_run_of_the_same_date_replaces_the_forecasts_of_the_regions_it_forecasts(store, region_result):
    from forecasting.config.forecast import ForecastConfig

    store.record_many("run1", [region_result("a", 5.0), region_result("b", 6.0)])
    store.finish_run("run1", "succeeded")
    store.start_run("run2", "nightly", "2024-01-01", "c.sqlite", "serial", ForecastConfig(), ["a"])
    store.record("run2", region_result("a", 9.0))
    store.start_run("run3", "nightly", "2024-01-02", "c.sqlite", "serial", ForecastConfig(), ["a"])
    store.record("run3", region_result("a", 1.0))  # another date: replaces nothing
    assert store.forecasts("run1").region.unique().tolist() == ["b"]
    assert (store.forecasts("run2").yhat == 9.0).all() and len(store.forecasts("run3")) == 4
    assert store.later_run("run1")["run_id"] == "run2" and store.later_run("run2") is None
    assert store.region_outcomes("run1").status.tolist() == ["ok", "ok"]  # its outcomes stay as they were


def test_a_resumed_run_recomputes_only_what_is_not_ok(store, region_result):
    from forecasting.runs.outcomes import RegionFailure

    store.mark_running("run1", ["a", "b"])
    store.record("run1", region_result("a", 5.0))
    store.record("run1", RegionFailure("b", "forecast-2024-01-01-b", "RegionDataError", "too short", "Traceback ..."))
    run = store.finish_run("run1", "partial", "1 region failed")
    assert (run["status"], run["n_ok"], run["n_failed"], run["message"]) == ("partial", 1, 1, "1 region failed")
    assert store.resume_run("run1") == ["b"]
    run = store.run("run1")
    assert (run["status"], run["finished_at"], run["message"]) == ("running", None, None)
    assert store.recent_runs().run_id.tolist() == ["run1"] and len(store.forecasts("run1", "a")) == 4


def test_bad_store_url_is_a_usage_error():
    from forecasting.errors import UsageError

    with pytest.raises(UsageError, match="--store"):
        ResultsStore("notadb://x")


def test_slot_rows_are_the_frames_slots_with_the_shared_keys():
    import math

    import pandas as pd

    from forecasting.store.database import slot_rows

    idx = pd.date_range("2024-03-31 00:00", periods=3, freq="h", tz="Europe/Berlin")  # across a DST change
    frame = pd.DataFrame({"actual": [1.5, float("nan"), 3.0], "yhat": [1, 2, 3]}, index=idx)
    rows = slot_rows(frame, ("actual", "yhat"), {"run_id": "r", "region": "a"})
    assert [r["ts"] for r in rows] == [int(t.timestamp()) for t in idx]
    assert all(type(r["ts"]) is int and type(r["yhat"]) is float for r in rows)
    assert [r["yhat"] for r in rows] == [1.0, 2.0, 3.0] and math.isnan(rows[1]["actual"])
    assert all(list(r) == ["ts", "actual", "yhat", "run_id", "region"] and r["run_id"] == "r" and r["region"] == "a"
               for r in rows)
    nulls = slot_rows(frame, ("actual", "yhat"), {"region": "a"}, nan_as_null=True)
    assert [r["actual"] for r in nulls] == [1.5, None, 3.0] and [r["yhat"] for r in nulls] == [1.0, 2.0, 3.0]


def test_regions_recorded_together_are_written_all_or_none(store, region_result):
    store.record_many("run1", [region_result("a", 5.0), region_result("b", 6.0)])
    assert sorted(store.forecasts("run1").groupby("region").yhat.first().items()) == [("a", 5.0), ("b", 6.0)]
    broken = region_result("b", 8.0)
    object.__setattr__(broken, "forecast", broken.forecast.drop(columns="q90"))  # fails half-way through the group
    with pytest.raises(KeyError):
        store.record_many("run1", [region_result("a", 7.0), broken])
    assert sorted(store.forecasts("run1").groupby("region").yhat.first().items()) == [("a", 5.0), ("b", 6.0)]
    assert store.region_outcomes("run1").attempts.tolist() == [1, 1]


#: Positional and named parameter styles of each database's driver.
PARAMSTYLES = {"sqlite": ("qmark", "named"), "postgresql": ("format", "pyformat")}


@pytest.mark.parametrize("named_style", [False, True], ids=["positional", "named"])
def test_insert_rows_writes_what_sqlalchemys_insert_writes(store_url, named_style, region_result):
    import sqlalchemy as sa

    from forecasting.models.base import FORECAST_COLUMNS
    from forecasting.store.database import insert_rows, open_engine, slot_rows
    from forecasting.store.schema import forecasts

    paramstyle = PARAMSTYLES[sa.engine.make_url(store_url).get_backend_name()][named_style]
    frame = region_result("a", 5.0).forecast
    url = store_url
    engine = open_engine(url)
    named = sa.create_engine(url, paramstyle=paramstyle)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO runs (run_id, kind, run_date, cache_path, cluster, config_json, config_hash, "
                                 "code_version, started_at, status, n_regions, n_ok, n_failed) VALUES "
                                 "('r', 'nightly', '2024-01-01', 'c', 's', '{}', 'h', 'v', 0, 'running', 2, 0, 0)"))
            conn.execute(forecasts.insert(), slot_rows(frame, FORECAST_COLUMNS, {"run_id": "r", "region": "a", "model": "m"}))
        with named.begin() as conn:
            insert_rows(conn, forecasts, slot_rows(frame, FORECAST_COLUMNS, {"run_id": "r", "region": "b", "model": "m"}))
            insert_rows(conn, forecasts, [])
        with engine.connect() as conn:
            got = conn.execute(sa.select(forecasts).order_by(forecasts.c.region, forecasts.c.ts)).all()
    finally:
        engine.dispose()
        named.dispose()
    a, b = [[tuple(r[i] for i in range(len(r)) if i != 1) for r in got if r.region == region] for region in "ab"]
    assert len(a) == len(frame) and a == b


def test_a_long_model_label_is_stored_whole(store, region_result):
    """PostgreSQL enforces a VARCHAR's length (SQLite does not): a combination of tuned models names itself at length."""
    from forecasting.models.spec import ModelSpec

    members = [ModelSpec("gbm", (("learning_rate", 0.05), ("max_depth", 6), ("max_iter", 300))).label, "mstl", "seasonal_naive"]
    label = ModelSpec("combination", (("members", tuple(members)),)).label
    assert len(label) > 64
    result = region_result("a", 5.0)
    object.__setattr__(result, "model", label)
    store.record("run1", result)
    assert store.forecasts("run1").model.unique().tolist() == [label]
    assert store.region_outcomes("run1").set_index("region").loc["a", "model"] == label
