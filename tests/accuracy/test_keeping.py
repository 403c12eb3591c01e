"""What the store keeps: one forecast per region and run date, nothing deleted by age unless a retention is set,
and baselines for runs stored without one."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from forecasting.accuracy.tables import accuracy_table
from forecasting.accuracy.update import update_scores
from forecasting.config.forecast import ForecastConfig
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly
from forecasting.store.schema import baseline_forecasts, forecasts, runs, score_days, score_progress
from forecasting.store.scores import ScoreStore

from live_history import CONFIG


def _count(store, table, by="run_id") -> dict:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(table.c[by], sa.func.count()).group_by(table.c[by])).all())


def _run_dates(store) -> dict:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(runs.c.run_id, runs.c.run_date)).all())


def test_a_rerun_of_a_date_keeps_exactly_one_set_of_forecasts_and_scores(history, tmp_path):
    h = history.copy(tmp_path)
    store = ScoreStore(h.url)
    try:
        update_scores(store, h.cache)
        first = accuracy_table(store)
        last = h.run_ids[-1]
        run_date = _run_dates(store)[last]
        per_run = _count(store, forecasts)[last]
    finally:
        store.close()
    rerun = run_nightly(h.cache, h.out, SerialExecutor(), ForecastConfig.from_dict(CONFIG), run_date=run_date)
    store = ScoreStore(h.url)
    try:
        dates = _run_dates(store)
        same_date = [r for r, d in dates.items() if d == run_date]
        assert sorted(same_date) == sorted([last, rerun.run_id])
        assert last not in _count(store, forecasts) and _count(store, forecasts)[rerun.run_id] == per_run
        for table in (baseline_forecasts, score_days, score_progress):
            assert last not in _count(store, table), table.name  # the replaced run's rows went with its forecasts
        update_scores(store, h.cache)
        again = accuracy_table(store)
    finally:
        store.close()
    # The same forecasts again (the same window, the same models): the same scores, counted once.
    pd.testing.assert_frame_equal(first, again, check_exact=False, rtol=1e-9)


def test_nothing_is_deleted_by_age_unless_a_retention_is_set(history, tmp_path):
    h = history.copy(tmp_path)
    store = ScoreStore(h.url)
    try:
        update_scores(store, h.cache)
        kept = _count(store, forecasts)
        assert set(kept) == set(h.run_ids)  # four nights, none deleted
        scored = accuracy_table(store)
        dates = _run_dates(store)
    finally:
        store.close()
    newest = max(dates.values())
    next_date = (pd.Timestamp(newest) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    summary = run_nightly(h.cache, h.out, SerialExecutor(), ForecastConfig.from_dict({**CONFIG, "retention_days": 2}),
                          run_date=next_date)
    store = ScoreStore(h.url)
    try:
        left = _count(store, forecasts)
        old = {r for r, d in dates.items() if d < (pd.Timestamp(next_date) - pd.Timedelta(days=2)).strftime("%Y-%m-%d")}
        assert old and set(left) == set(h.run_ids) - old | {summary.run_id}
        assert not old & set(_count(store, baseline_forecasts))
        assert old <= set(_count(store, score_days))  # their live scores stay
        after = accuracy_table(store)
    finally:
        store.close()
    # The scores of the deleted forecasts are still reported (the new run's first day has actuals too).
    merged = scored.merge(after, on=["region", "model", "lead"], suffixes=("", "_after"))
    assert len(merged) and (merged.n_runs_after >= merged.n_runs).all()


def test_runs_stored_without_a_baseline_get_the_engines_seasonal_naive(history, tmp_path):
    h = history.copy(tmp_path)
    store = ScoreStore(h.url)
    try:
        update_scores(store, h.cache)
        with_stored = accuracy_table(store)
        with store.engine.begin() as conn:  # as a store from before baselines were kept
            for table in (baseline_forecasts, score_days, score_progress):
                conn.execute(table.delete())
        report = update_scores(store, h.cache)
        recomputed = accuracy_table(store)
        pairs = len(store.scorable())
    finally:
        store.close()
    assert report.baselines == pairs > 0
    pd.testing.assert_frame_equal(with_stored, recomputed, check_exact=False, rtol=1e-9)
