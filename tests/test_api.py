"""The Python API, through its public names only: ``forecasting.backtest``, ``forecast``, ``champions``."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

import forecasting
from forecasting.errors import CacheError, ConfigError, UsageError

MODELS = ["seasonal_naive", "seasonal_median"]
#: The models every backtest includes (README, "Backtests and champion models").
BASELINES = ("seasonal_naive", "zero", "mean_week")


@pytest.fixture(scope="module")
def stored_backtest(synthetic_cache, tmp_path_factory):
    """A serial backtest of two models into a store that outlives the call."""
    store = tmp_path_factory.mktemp("api") / "results.sqlite"
    result = forecasting.backtest(synthetic_cache, models=MODELS, cutoffs=2, horizon="7D", cluster="serial", store=store)
    return result, store


def cache_orders(cache) -> pd.DataFrame:
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as conn:
        frame = pd.read_sql("SELECT region, ts, orders FROM orders", conn)
    conn.close()
    frame["timestamp"] = pd.to_datetime(frame.pop("ts"), unit="s", utc=True)
    return frame


def test_backtest_returns_every_region_and_model_on_the_leaderboard_and_a_verdict_per_region(stored_backtest, synthetic_cache):
    result, _ = stored_backtest
    regions = set(cache_orders(synthetic_cache).region)
    assert set(result.champions.region) == regions
    pairs = set(zip(result.leaderboard.region, result.leaderboard.model))
    assert pairs == {(r, m) for r in regions for m in (*MODELS, *BASELINES[1:])}  # the baselines are always there
    for row in result.champions[result.champions.status == "champion"].itertuples():
        board = result.leaderboard[(result.leaderboard.region == row.region) & (result.leaderboard.model == row.model)]
        assert len(board) == 1 and board.mase.iloc[0] == pytest.approx(row.mase)


def test_backtest_windows_hold_each_slot_with_its_actual_and_ordered_quantiles(stored_backtest, synthetic_cache):
    result, _ = stored_backtest
    windows = result.windows
    assert list(windows.columns) == ["region", "model", "cutoff", "timestamp", "actual", "yhat", "q10", "q50", "q90",
                                     "yhat_oracle"]
    assert windows.yhat_oracle.isna().all()  # not asked for
    per_window = windows.groupby(["region", "model", "cutoff"]).size()
    assert len(per_window) == len(result.champions) * len({*MODELS, *BASELINES}) * 2
    assert per_window.nunique() == 1 and per_window.iloc[0] == 7 * 24  # a week of hourly slots each
    assert (windows.q10 <= windows.q50).all() and (windows.q50 <= windows.q90).all()
    merged = windows.merge(cache_orders(synthetic_cache), on=["region", "timestamp"], how="left")
    known = merged.orders.notna()
    assert known.any()
    np.testing.assert_allclose(merged.actual[known], merged.orders[known])
    # Each window lies in the week after its cutoff's local midnight (time zones are within 14 hours of UTC).
    cutoff = pd.to_datetime(windows.cutoff).dt.tz_localize("UTC")
    assert (windows.timestamp >= cutoff - pd.Timedelta("14h")).all()
    assert (windows.timestamp < cutoff + pd.Timedelta("7D") + pd.Timedelta("14h")).all()


def test_a_later_forecast_with_the_same_store_uses_each_regions_champion(stored_backtest, synthetic_cache):
    result, store = stored_backtest
    champs = forecasting.champions(store)
    assert set(champs.region) == set(result.champions.region[result.champions.status == "champion"])
    run = forecasting.forecast(synthetic_cache, cluster="serial", store=store, horizon="3D")
    assert run.status == "succeeded" and run.failures.empty
    used = run.forecasts.groupby("region").model.unique()
    for row in champs.itertuples():
        assert list(used[row.region]) == [row.model]
    assert run.store and run.run_id in repr(run)


def test_forecast_with_models_named_ignores_champions(stored_backtest, synthetic_cache):
    _, store = stored_backtest
    run = forecasting.forecast(synthetic_cache, models=["gbm"], cluster="serial", store=store, horizon="2D",
                               regions=["r000", "r001"])
    assert set(run.forecasts.region) == {"r000", "r001"}
    assert set(run.forecasts.model) == {"gbm"}


def test_forecast_reports_a_bad_region_as_a_failure_and_forecasts_the_others(poisoned_cache):
    run = forecasting.forecast(poisoned_cache, models="seasonal_naive", cluster="serial", horizon="2D")
    assert set(run.failures.region) == {"r001", "r004"}
    assert run.failures.error_type.str.len().gt(0).all() and run.failures.message.str.len().gt(0).all()
    assert set(run.forecasts.region) == {f"r00{i}" for i in range(6)} - {"r001", "r004"}
    assert run.status in ("partial", "failed")
    assert run.store is None and run.folder is None  # nothing kept: no store or out given


def test_forecast_champion_without_champions_is_a_usage_error(synthetic_cache, tmp_path):
    with pytest.raises(UsageError, match="no champions"):
        forecasting.forecast(synthetic_cache, models="champion", cluster="serial", store=tmp_path / "empty.sqlite")


def test_an_existing_client_runs_the_tasks_and_stays_open(synthetic_cache):
    from distributed import Client, LocalCluster, get_task_stream

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with get_task_stream(client) as stream:
            result = forecasting.backtest(synthetic_cache, models=["seasonal_naive"], cutoffs=1, horizon="2D",
                                          regions=["r000", "r002"], cluster=client, progress=False)
        assert client.status == "running"  # the caller's client is not closed
        ran = {rec["key"] for rec in stream.data}
        assert len(ran) == 2 * len(BASELINES) and all("r000" in k or "r002" in k for k in ran)
    assert set(result.windows.region) == {"r000", "r002"}


def test_out_keeps_the_reports_and_without_it_nothing_is_written(synthetic_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kept = forecasting.backtest(synthetic_cache, models=["seasonal_naive"], cutoffs=1, horizon="2D", regions=["r000"],
                                cluster="serial", out=tmp_path / "bt", plots=True)
    assert (kept.folder / "leaderboard.csv").is_file() and (kept.folder / "plots").is_dir()
    assert kept.store.endswith("results.sqlite")
    before = sorted(tmp_path.rglob("*"))
    gone = forecasting.backtest(synthetic_cache, models=["seasonal_naive"], cutoffs=1, horizon="2D", regions=["r000"],
                                cluster="serial")
    assert gone.store is None and gone.folder is None and not gone.leaderboard.empty
    assert sorted(tmp_path.rglob("*")) == before


def test_plot_draws_a_regions_window_and_names_what_is_missing(stored_backtest):
    result, _ = stored_backtest
    fig = result.plot("r000")
    ax = fig.axes[0]
    assert "r000" in ax.get_title() and len(ax.lines) >= 2
    with pytest.raises(KeyError, match="nowhere"):
        result.plot("nowhere")
    with pytest.raises(KeyError, match="gbm"):
        result.plot("r000", model="gbm")


def test_results_render_as_html_tables_in_jupyter(stored_backtest, synthetic_cache):
    result, _ = stored_backtest
    html = result._repr_html_()
    assert result.backtest_id in html and html.count("<table") == 2
    run = forecasting.forecast(synthetic_cache, models="seasonal_naive", cluster="serial", horizon="1D", regions=["r000"])
    assert run.run_id in run._repr_html_() and "<table" in run._repr_html_()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"models": ["no_such_model"]}, ConfigError, "no_such_model"),
        ({"regions": ["r999"]}, UsageError, "r999"),
        ({"cluster": 42}, UsageError, "cluster"),
        ({"cluster": "nowhere"}, UsageError, "cluster"),
        ({"horizon": "28"}, ConfigError, "28D"),
    ],
)
def test_bad_arguments_raise_the_projects_errors_before_anything_runs(synthetic_cache, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        forecasting.backtest(synthetic_cache, **{"cluster": "serial", "out": tmp_path / "out", **kwargs})
    assert not (tmp_path / "out").exists()


def test_a_missing_cache_or_store_is_named(tmp_path):
    with pytest.raises(CacheError):
        forecasting.backtest(tmp_path / "missing.sqlite", cluster="serial")
    with pytest.raises(UsageError, match="missing.sqlite"):
        forecasting.champions(tmp_path / "missing.sqlite")


def test_serial_env_variable_turns_a_named_cluster_serial(synthetic_cache, monkeypatch):
    monkeypatch.setenv("FORECASTING_SERIAL", "1")
    run = forecasting.forecast(synthetic_cache, models="seasonal_naive", cluster="tcp://127.0.0.1:1", horizon="1D",
                               regions=["r000"])  # no scheduler there: only serial can succeed
    assert run.status == "succeeded"
