"""The nightly run end to end on real SQLite and a real Dask LocalCluster."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from deploy.clusters import open_executor
from forecasting.runs.nightly import run_nightly
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"  # the day after the fixture's last day of history


def _run(cache, out, cluster, config, **kwargs):
    with open_executor(cluster, workers=2, retries=config.retries) as executor:
        return run_nightly(cache, out, executor, config, run_date=RUN_DATE, cluster=cluster, **kwargs)


@pytest.fixture(scope="module")
def runs(poisoned_cache, fast_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    serial = _run(poisoned_cache, out / "serial", "serial", fast_config)
    local = _run(poisoned_cache, out / "local", "local", fast_config)
    return serial, local


def _forecasts(summary):
    store = ResultsStore(summary.store)
    try:
        return store.forecasts(summary.run_id).drop(columns="run_id")
    finally:
        store.close()


def test_serial_and_local_runs_give_identical_forecasts(runs):
    serial, local = runs
    a, b = _forecasts(serial), _forecasts(local)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_poisoned_regions_fail_alone_with_their_tracebacks(runs):
    for summary in runs:
        assert summary.n_regions == 6
        failed = {f.region: f for f in summary.failures}
        assert set(failed) == {"r001", "r004"}
        assert summary.n_ok == 4
        assert failed["r001"].error_type == "RegionDataError"
        assert failed["r004"].error_type == "RegionDataError"
        assert "too short" in failed["r004"].message
        store = ResultsStore(summary.store)
        try:
            outcomes = store.region_outcomes(summary.run_id).set_index("region")
        finally:
            store.close()
        assert outcomes.loc["r001", "status"] == "failed"
        assert "Traceback" in outcomes.loc["r001", "traceback"]
        assert "forecast_region" in outcomes.loc["r001", "traceback"]
        assert (outcomes.drop(index=["r001", "r004"]).status == "ok").all()


def test_exports_are_complete(runs, fast_config):
    serial, _ = runs
    with open(serial.folder / "forecasts.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["region", "timestamp", "model", "yhat", "q10", "q50", "q90", "staff"]
    assert all(r["staff"] == "" for r in rows)  # no champion with a staffing calibration
    slots_per_region = pd.Timedelta(fast_config.horizon) / pd.Timedelta("1h")
    assert len(rows) == 4 * slots_per_region
    assert {r["region"] for r in rows} == {"r000", "r002", "r003", "r005"}
    assert all(float(r["q10"]) <= float(r["q50"]) <= float(r["q90"]) for r in rows)
    with open(serial.folder / "failures.csv", newline="") as fh:
        failures = list(csv.DictReader(fh))
    assert {f["region"] for f in failures} == {"r001", "r004"}
    assert all(f["error_type"] and f["message"] for f in failures)
    info = json.loads((serial.folder / "run.json").read_text())
    assert info["run_id"] == serial.run_id
    assert info["counts"] == {"regions": 6, "ok": 4, "failed": 2}
    assert info["versions"]["pandas"] == pd.__version__
    assert {f["region"] for f in info["failures"]} == {"r001", "r004"}


def test_forecasts_start_at_local_midnight_of_the_run_date(runs, synthetic_cache):
    from forecasting.data.cache import open_cache

    frame = _forecasts(runs[0])
    cache = open_cache(synthetic_cache)
    for region, group in frame.groupby("region"):
        tz = cache.load_region(region).timezone
        first = group.timestamp.min().tz_convert(tz)
        assert first == pd.Timestamp(RUN_DATE, tz=tz)


def test_only_requested_regions_run(synthetic_cache, fast_config, tmp_path):
    summary = _run(synthetic_cache, tmp_path, "serial", fast_config, regions=["r002", "r000"])
    assert summary.n_regions == 2 and summary.status == "succeeded"
    assert set(_forecasts(summary).region) == {"r000", "r002"}


def test_unknown_region_is_a_usage_error(synthetic_cache, fast_config, tmp_path):
    from forecasting.errors import UsageError

    with pytest.raises(UsageError, match="r999"):
        _run(synthetic_cache, tmp_path, "serial", fast_config, regions=["r999"])


def test_any_sqlalchemy_url_is_accepted_as_store(synthetic_cache, fast_config, tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    summary = _run(synthetic_cache, tmp_path / "out", "serial", fast_config, regions=["r000"], store=url)
    assert summary.store == url
    assert (tmp_path / "elsewhere.db").exists()
    assert not (tmp_path / "out" / "results.sqlite").exists()


def test_a_run_on_an_imported_cache(tmp_path, fast_config):
    """Real data (nycflights13 departures per airport) imported from CSV, then forecast."""
    from forecasting.data.importer import import_csv
    from forecasting.datasets import nycflights13 as nyc

    paths = nyc.write_csvs(tmp_path, origins=["JFK", "LGA"], start="2013-01-01", end="2013-02-15")
    cache = tmp_path / "nyc.sqlite"
    import_csv(paths["orders"], cache, features=paths["features"], timezone=nyc.TIMEZONE)
    with open_executor("local", workers=2) as executor:
        summary = run_nightly(cache, tmp_path / "out", executor, fast_config)
    assert summary.status == "succeeded" and summary.n_regions == 2
    assert summary.run_date == "2013-02-15"  # the day after the data ends
    frame = _forecasts(summary)
    local_hour = frame.timestamp.dt.tz_convert(nyc.TIMEZONE).dt.hour
    # Airports are quiet at 2-4 a.m. and busy in the morning; so must the forecast be.
    assert frame.yhat[local_hour.between(2, 4)].mean() < 0.2 * frame.yhat[local_hour.between(7, 9)].mean()


@pytest.mark.slow
def test_a_year_of_history_with_every_model_family(tmp_path):
    """Production-sized histories: all four families compete per region, serial == local."""
    from forecasting.config.forecast import ForecastConfig
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

    cache = tmp_path / "year.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=4, days=365, seed=11), cache)
    config = ForecastConfig.from_dict({"models": ["seasonal_naive", "mstl", "sarimax", "gbm"]})
    summaries = []
    for cluster in ("serial", "local"):
        with open_executor(cluster, workers=2) as executor:
            summaries.append(run_nightly(cache, tmp_path / cluster, executor, config, cluster=cluster))
    serial, local = summaries
    assert serial.status == local.status == "succeeded"
    pd.testing.assert_frame_equal(_forecasts(serial), _forecasts(local), check_exact=True)
    store = ResultsStore(serial.store)
    try:
        outcomes = store.region_outcomes(serial.run_id)
    finally:
        store.close()
    details = [json.loads(d) for d in outcomes.details_json]
    # Every family was scored on the hold-out of every region.
    assert all(set(d["scores"]) == {"seasonal_naive", "mstl", "sarimax", "gbm"} for d in details)


def test_a_plan_is_checked_once_and_the_run_does_not_look_at_its_inputs_again(synthetic_cache, fast_config, tmp_path):
    from forecasting.errors import UsageError
    from forecasting.runs.executors import SerialExecutor
    from forecasting.runs.nightly import plan_nightly

    with pytest.raises(UsageError, match="regions: not in the cache"):
        plan_nightly(synthetic_cache, fast_config, ["nowhere"], RUN_DATE)
    plan = plan_nightly(synthetic_cache, fast_config, ["r000"], RUN_DATE)
    # The arguments the plan was made of are not read again: a missing cache path and an
    # unknown region here would fail if they were.
    summary = run_nightly(tmp_path / "missing.sqlite", tmp_path / "out", SerialExecutor(), fast_config,
                          regions=["nowhere"], run_date="not a date", plan=plan)
    assert (summary.run_id, summary.run_date, summary.n_regions, summary.status) == (plan.run_id, RUN_DATE, 1, "succeeded")
