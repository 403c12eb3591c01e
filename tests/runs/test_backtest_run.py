"""Backtests end to end: streaming, resume, awkward series, champions used by run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deploy.clusters import open_executor
from forecasting.config.backtest import BacktestConfig
from forecasting.runs.backtest import run_backtest
from forecasting.store.backtests import BacktestStore, load_champions
from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import to_epoch_seconds
from forecasting.runs.nightly import run_nightly
from forecasting.errors import UsageError
from forecasting.store.runs import ResultsStore

CFG = BacktestConfig.from_dict({"models": {"seasonal_naive": {}, "mstl": {}, "gbm": {"max_iter": 20}}, "cutoffs": 3,
                                "horizon": "7D", "min_windows": 2})


def test_backtest_writes_reports_and_champions(synthetic_cache, tmp_path):
    with open_executor("local", workers=2) as executor:
        summary = run_backtest(synthetic_cache, tmp_path, executor, CFG, regions=["r000", "r003"])
    # 2 regions x (3 models + the zero and mean_week baselines) x 3 cutoffs; the combination is scored, not run.
    assert summary.n_tasks == 2 * 5 * 3 and summary.n_failed == 0
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert list(board.columns) == ["region", "model", "mase", "rmsse", "spl", "wape", "smape", "bias", "coverage_80", "n_windows",
                                   "zero_share", "intermittent", "mase_oracle", "wape_oracle", "oracle_gain",
                                   "staffing_pinball", "staffing_cost", "staffing_coverage"]
    assert board.mase_oracle.isna().all() and board.staffing_pinball.isna().all()  # neither unless asked for
    assert {"seasonal_naive", "zero", "mean_week", "mstl", "gbm[max_iter=20]"} <= set(board.model)
    assert board.model.str.startswith("combination(").any()
    champs = pd.read_csv(tmp_path / "champions.csv")
    assert list(champs.columns) == ["region", "model", "mase", "seasonal_naive_mase", "status", "reason", "selection_metric"]
    assert len(champs) == 2 and (champs.selection_metric == "rmsse").all()
    assert (champs.status == "champion").all() and champs.mase.notna().all()
    for name in ("leaderboard.png", "error_by_horizon.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "plots").glob("forecast_*.png"))) == 2


def test_an_interrupted_backtest_resumes_without_recomputing(synthetic_cache, tmp_path):
    with open_executor("serial") as executor:
        with pytest.raises(KeyboardInterrupt):
            run_backtest(synthetic_cache, tmp_path, executor, CFG, regions=["r002"], stop_after=5, plots=False)
        store = BacktestStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
        (bt_id,) = store.engine.connect().exec_driver_sql("SELECT backtest_id FROM backtests").scalars()
        before = store.tasks(bt_id).set_index("key")
        finished = before[before.status == "ok"]
        assert len(finished) == 5
        summary = run_backtest(synthetic_cache, tmp_path, executor, CFG, regions=["r002"], plots=False)
    assert summary.backtest_id == bt_id and summary.n_resumed == 5
    after = store.tasks(bt_id).set_index("key")
    assert (after.status == "ok").all()
    # The five finished tasks were not run again: same worker and duration as before.
    pd.testing.assert_frame_equal(after.loc[finished.index, ["duration_s", "worker"]], finished[["duration_s", "worker"]])
    store.close()


def _awkward_cache(path):
    """Short, intermittent and gappy regions, written with the cache writer."""
    rng = np.random.default_rng(1)
    idx = pd.date_range("2024-01-01", "2024-03-31", freq="h", inclusive="left", tz="UTC")
    hour, dow = idx.hour.to_numpy(), idx.day_of_week.to_numpy()
    base = 20 * np.exp(-0.5 * ((hour - 19) / 2.0) ** 2) + 5 * np.exp(-0.5 * ((hour - 12) / 1.5) ** 2)
    regular = rng.poisson(base + 1).astype(float)
    intermittent = np.where((dow == 0) | (hour < 11) | (hour > 22), 0.0, rng.poisson(base * 0.2))
    gappy = regular.copy()
    gappy[(idx >= "2024-02-10") & (idx < "2024-02-14")] = np.nan
    series = {"regular": regular, "intermittent": intermittent, "gappy": gappy}
    with CacheWriter(path, freq="h") as w:
        w.add_regions(pd.DataFrame({"region": [*series, "short"], "name": [*series, "short"], "timezone": "UTC"}))
        for name, values in series.items():
            keep = ~np.isnan(values)
            w.add_orders(pd.DataFrame({"region": name, "ts": to_epoch_seconds(idx[keep]), "orders": values[keep]}))
        tail = idx >= "2024-03-04"  # four weeks only
        w.add_orders(pd.DataFrame({"region": "short", "ts": to_epoch_seconds(idx[tail]), "orders": regular[tail]}))


def test_short_intermittent_and_gappy_series_still_backtest(tmp_path):
    cache = tmp_path / "awkward.sqlite"
    _awkward_cache(cache)
    cfg = BacktestConfig.from_dict({"models": ["seasonal_naive", "mstl", "sarimax", "gbm"], "cutoffs": 3, "horizon": "7D",
                                    "min_windows": 2, "top_k": 0})
    with open_executor("local", workers=2) as executor:
        summary = run_backtest(cache, tmp_path / "out", executor, cfg, plots=False)
    store = BacktestStore(summary.store)
    tasks = store.tasks(summary.backtest_id)
    store.close()
    ok = tasks[tasks.status == "ok"]
    assert set(ok.region) >= {"regular", "intermittent", "gappy"}
    # The short region's early cutoffs lack history: failed per task with a clear reason, not a crash.
    short = tasks[tasks.region == "short"]
    assert (short.status == "failed").any()
    assert short[short.status == "failed"].message.str.contains("history too short").all()
    champs = summary.champions.set_index("region")
    assert sorted(champs.index) == ["gappy", "intermittent", "regular", "short"]
    # No window of the short region succeeded: no champion (no score to name one by), and why.
    assert champs.loc["short", "status"] == "no_champion" and pd.isna(champs.loc["short", "model"])
    assert pd.isna(champs.loc["short", "mase"])
    assert champs.loc["short", "reason"].startswith("no scored window: ") and "history too short" in champs.loc["short", "reason"]
    # Elsewhere the champion is the leaderboard's lowest RMSSE, the default selection metric (top_k 0: no combination).
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    for region in ("regular", "intermittent", "gappy"):
        scores = board[board.region == region].set_index("model").rmsse
        assert scores.nsmallest(2).is_unique  # no tie, so the reason is known
        assert tuple(champs.loc[region, ["model", "reason"]]) == (scores.idxmin(), "lowest RMSSE")


def test_run_uses_the_champions_of_its_store(synthetic_cache, tmp_path, fast_config):
    with open_executor("serial") as executor:
        run_backtest(synthetic_cache, tmp_path, executor, CFG, regions=["r000", "r005"], plots=False)
        store = ResultsStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
        champs = load_champions(store).set_index("region")
        summary = run_nightly(synthetic_cache, tmp_path, executor, fast_config, regions=["r000", "r005", "r002"])
        outcomes = store.region_outcomes(summary.run_id).set_index("region")
        store.close()
    assert summary.status == "succeeded"
    for region in ("r000", "r005"):
        assert outcomes.loc[region, "model"] == champs.loc[region, "model"]
    assert outcomes.loc["r002", "model"] in {m.label for m in fast_config.models}  # no champion: the config's models


def test_champion_mode_without_champions_is_a_usage_error(synthetic_cache, tmp_path, fast_config):
    with open_executor("serial") as executor:
        with pytest.raises(UsageError, match="no champions"):
            run_nightly(synthetic_cache, tmp_path, executor, fast_config, use_champions=True)


def test_resume_reruns_windows_lost_to_dead_workers_but_not_model_failures(synthetic_cache, tmp_path):
    from forecasting.runs.backtest import tasks_for
    from forecasting.config.forecast import ForecastConfig
    from forecasting.models.spec import ModelSpec
    from forecasting.runs.outcomes import RegionFailure

    tasks = tasks_for(["r000"], str(synthetic_cache), [ModelSpec("seasonal_naive")], ["2024-02-05", "2024-02-12", "2024-02-19"],
                      ForecastConfig(horizon="7D"), "bt-lost")
    store = BacktestStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert store.start_backtest("bt-lost", "c", {}, tasks) == set()
    lost, broken, _ = tasks
    store.record_window("bt-lost", lost, RegionFailure("r000", lost.key, "KilledWorker", "worker died", "", retryable=True))
    store.record_window("bt-lost", broken, RegionFailure("r000", broken.key, "ModelError", "cannot fit", "tb"))
    done = store.start_backtest("bt-lost", "c", {}, tasks)
    store.close()
    assert done == {broken.key}  # the lost window runs again, the model failure does not
