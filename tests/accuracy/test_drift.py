"""Drift: a region whose level doubles is flagged, and the next run falls back or refits it as told."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pandas as pd
import pytest

from forecasting.accuracy.drift import backtest_ranges, find_drift
from forecasting.config.backtest import BacktestConfig
from forecasting.config.forecast import ForecastConfig
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.runs.backtest import run_backtest
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly
from forecasting.store.backtests import load_champions
from forecasting.store.scores import ScoreStore

from live_history import cut_cache, extend_cache

BACKTEST = BacktestConfig.from_dict({"models": {"seasonal_naive": {}, "gbm": {"max_iter": 20}}, "cutoffs": 3, "horizon": "7D",
                                     "min_windows": 2, "top_k": 0})
NIGHTLY = {"horizon": "7D", "drift_days": 3}


def _history(root, plant: bool):
    """Champions from a backtest, then three nightly runs while one region's level doubles (if ``plant``).

    The planted region is one whose champion is not seasonal naive, so that
    falling back to seasonal naive changes its model.  Returns the cache,
    the output folder and that region.
    """
    full = root / "full.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=3, days=70, freq="h", seed=5), full)
    cache = root / "cache.sqlite"
    cut_cache(full, cache, 14)
    run_backtest(cache, root / "out", SerialExecutor(), BACKTEST, plots=False)
    store = ScoreStore(f"sqlite:///{root / 'out' / 'results.sqlite'}")
    champions = load_champions(store)
    store.close()
    candidates = champions.region[champions.model != "seasonal_naive"].tolist()
    assert candidates, "the backtest chose seasonal naive everywhere: nothing for a fallback to change"
    planted = candidates[0]
    with sqlite3.connect(full) as conn:
        last = conn.execute("SELECT max(ts) FROM orders").fetchone()[0]
        if plant:  # from the first nightly run's first slot on (give or take the time zone): after the backtest's data
            conn.execute("UPDATE orders SET orders = 2 * orders WHERE region = ? AND ts > ?", (planted, last - 14 * 86400))
    conn.close()
    for _ in range(3):
        run_nightly(cache, root / "out", SerialExecutor(), ForecastConfig.from_dict(NIGHTLY))
        extend_cache(full, cache, 1)
    return cache, root / "out", planted


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _history(tmp_path_factory.mktemp("planted"), plant=True)


def _copy(history, tmp_path):
    cache, out, planted = history
    shutil.copytree(out, tmp_path / "out")
    shutil.copy(cache, tmp_path / "cache.sqlite")
    return tmp_path / "cache.sqlite", tmp_path / "out", planted


def _night(cache, out, **config):
    return run_nightly(cache, out, SerialExecutor(), ForecastConfig.from_dict({**NIGHTLY, **config}))


def test_a_region_whose_level_doubles_is_flagged_and_falls_back_to_seasonal_naive(planted, tmp_path):
    cache, out, region = _copy(planted, tmp_path)
    summary = _night(cache, out, on_drift="fallback")
    assert region in summary.drift.regions
    flag = summary.drift.flagged.set_index("region").loc[region]
    assert flag.live_mase > flag.backtest_high and "above its backtest range" in flag.reason
    store = ScoreStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        models = store.region_outcomes(summary.run_id).set_index("region").model
        champions = load_champions(store).set_index("region").model
        recorded = store.drift_flags(summary.run_id)
    finally:
        store.close()
    assert models[region] == "seasonal_naive"
    for other in set(models.index) - set(summary.drift.regions):  # the others keep their champions
        assert models[other] == champions[other]
    assert set(recorded.region) == set(summary.drift.regions) and set(recorded.action) == {"fallback"}
    run_json = json.loads((summary.folder / "run.json").read_text())
    assert region in [f["region"] for f in run_json["drift"]["flagged"]] and run_json["drift"]["action"] == "fallback"


def test_ignore_only_lists_the_flagged_region(planted, tmp_path):
    cache, out, region = _copy(planted, tmp_path)
    summary = _night(cache, out)  # on_drift: ignore, the default
    assert region in summary.drift.regions and summary.drift.action == "ignore"
    store = ScoreStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        model = store.region_outcomes(summary.run_id).set_index("region").model[region]
        assert model == load_champions(store).set_index("region").model[region]
    finally:
        store.close()


def test_refit_backtests_the_flagged_regions_only(planted, tmp_path):
    cache, out, region = _copy(planted, tmp_path)
    url = f"sqlite:///{out / 'results.sqlite'}"
    store = ScoreStore(url)
    before = load_champions(store).set_index("region")
    store.close()
    summary = _night(cache, out, on_drift="refit")
    store = ScoreStore(url)
    try:
        after = load_champions(store).set_index("region")
    finally:
        store.close()
    refit = set(summary.drift.regions)
    assert region in refit
    for other in after.index:
        assert (after.backtest_id[other] != before.backtest_id[other]) == (other in refit), other


def test_the_same_history_without_the_change_flags_nothing_above_its_range(tmp_path):
    cache, out, _ = _history(tmp_path, plant=False)
    store = ScoreStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        from forecasting.accuracy.update import update_scores

        update_scores(store, cache)
        flagged = find_drift(store, days=3, tolerance=ForecastConfig().drift_tolerance)
        ranges = backtest_ranges(store)
    finally:
        store.close()
    assert set(ranges.region) == {"r000", "r001", "r002"}
    assert not flagged.reason.str.contains("above its backtest range").any(), flagged.to_string()


def test_a_resumed_run_keeps_its_verdict_and_its_fallback(planted, tmp_path):
    cache, out, region = _copy(planted, tmp_path)
    summary = _night(cache, out, on_drift="fallback")
    assert region in summary.drift.regions
    # As if the driver died before the flagged region's outcome was written.
    with sqlite3.connect(out / "results.sqlite") as conn:
        conn.execute("DELETE FROM forecasts WHERE run_id = ? AND region = ?", (summary.run_id, region))
        conn.execute("UPDATE region_runs SET status = 'pending', model = NULL WHERE run_id = ? AND region = ?",
                     (summary.run_id, region))
    conn.close()
    resumed = run_nightly(cache, out, SerialExecutor(), ForecastConfig(), resume=summary.run_id)
    assert resumed.run_id == summary.run_id and resumed.drift.regions == summary.drift.regions
    store = ScoreStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        assert store.region_outcomes(summary.run_id).set_index("region").model[region] == "seasonal_naive"
    finally:
        store.close()
