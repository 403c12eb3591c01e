"""Live accuracy against the rows themselves: nightly runs on consecutive dates, scored as their actuals arrive."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from forecasting.accuracy.scoring import ALL_LEADS, lead_bucket
from forecasting.accuracy.tables import accuracy_by_lead, accuracy_table
from forecasting.accuracy.update import update_scores
from forecasting.data.cache import open_cache
from forecasting.engine.metrics import bias, coverage, seasonal_scale, wape
from forecasting.store.schema import score_days, score_progress
from forecasting.store.scores import ScoreStore

from live_history import extend_cache


def _rows(history) -> pd.DataFrame:
    """Every stored forecast slot with its baseline, run date and actual, read with plain SQL and the cache reader."""
    with sqlite3.connect(history.out / "results.sqlite") as conn:
        rows = pd.read_sql(
            "SELECT f.run_id, f.region, f.ts, f.model, f.yhat, f.q10, f.q90, b.yhat AS naive_yhat, b.q10 AS naive_q10, "
            "b.q90 AS naive_q90, r.run_date FROM forecasts f JOIN runs r USING (run_id) "
            "LEFT JOIN baseline_forecasts b USING (run_id, region, ts)", conn)
    conn.close()
    cache = open_cache(history.cache)
    parts = []
    for region, frame in rows.groupby("region"):
        data = cache.load_region(region)
        stamps = pd.to_datetime(frame.ts, unit="s", utc=True)
        local = stamps.dt.tz_convert(data.timezone)
        scales = {}
        for run_date in frame.run_date.unique():
            cutoff = pd.Timestamp(run_date).tz_localize(data.timezone).tz_convert("UTC")
            y = data.orders[data.orders.index < cutoff]
            y.index.freq = data.freq
            scales[run_date] = seasonal_scale(y)
        parts.append(frame.assign(
            actual=data.orders.reindex(stamps).to_numpy(),
            lead=(local.dt.tz_localize(None).dt.normalize() - pd.to_datetime(frame.run_date)).dt.days.to_numpy() + 1,
            scale=frame.run_date.map(scales).to_numpy()))
    return pd.concat(parts, ignore_index=True)


def _by_hand(slots: pd.DataFrame) -> dict:
    out = {}
    for prefix in ("", "naive_"):
        f = slots[prefix + "yhat"]
        out[prefix + "mase"] = float(np.mean(np.abs(f - slots.actual) / slots.scale))
        out[prefix + "wape"] = wape(slots.actual, f)
        out[prefix + "bias"] = bias(slots.actual, f)
        out[prefix + "coverage"] = coverage(slots.actual, slots[prefix + "q10"], slots[prefix + "q90"])
    return out


def test_accuracy_matches_metrics_computed_by_hand_on_the_same_rows(history, tmp_path, store_url):
    h = history.copy(tmp_path, store_url)  # scored in SQLite or PostgreSQL; _rows reads the SQLite original
    store = ScoreStore(h.url)
    try:
        update_scores(store, h.cache)
        table = accuracy_table(store).set_index(["region", "model", "lead"])
        by_lead = accuracy_by_lead(store).set_index("lead")
    finally:
        store.close()
    rows = _rows(h)
    assert rows.naive_yhat.notna().all(), "every job stored its seasonal-naive baseline"
    assert rows.actual.notna().all() and len(rows.run_id.unique()) == 4
    rows["bucket"] = lead_bucket(rows.lead)
    checked = 0
    for (region, model), slots in rows.groupby(["region", "model"]):
        for bucket, part in [*slots.groupby("bucket"), (ALL_LEADS, slots)]:
            row = table.loc[(region, model, bucket)]
            assert row.n_slots == len(part) and row.n_runs == part.run_id.nunique()
            for name, value in _by_hand(part).items():
                assert row[name] == pytest.approx(value, rel=1e-9), (region, model, bucket, name)
            checked += 1
    assert checked >= 3 * 3  # every region, by lead time and overall
    for bucket, part in [*rows.groupby("bucket"), (ALL_LEADS, rows)]:
        for name, value in _by_hand(part).items():
            assert by_lead.loc[bucket, name] == pytest.approx(value, rel=1e-9), (bucket, name)


def test_rescoring_reads_only_new_slots_and_ends_where_one_full_pass_ends(history, tmp_path, store_url):
    """Scored as the actuals arrive (before each run, and a day at a time after) or once at the end: the same sums."""
    h = history.copy(tmp_path, store_url)  # scored in SQLite or PostgreSQL; _rows reads the SQLite original
    store = ScoreStore(h.url)
    try:
        assert update_scores(store, h.cache).slots > 0  # the runs scored what they could before each night
        again = update_scores(store, h.cache)
        assert again.slots == 0 and again.runs == 0  # nothing new: nothing read
        incremental = accuracy_table(store)
        with store.engine.begin() as conn:
            conn.execute(score_days.delete())
            conn.execute(score_progress.delete())
        full = update_scores(store, h.cache)
        assert full.slots == len(_rows(h))
        once = accuracy_table(store)
    finally:
        store.close()
    pd.testing.assert_frame_equal(incremental, once, check_exact=False, rtol=1e-12)


def test_a_new_day_of_actuals_scores_that_day_only(tmp_path):
    from live_history import nightly_history

    h = nightly_history(tmp_path, nights=3, held_back=10)  # 3 runs, 7 days ahead, then 7 more days of actuals
    store = ScoreStore(h.url)
    try:
        update_scores(store, h.cache)
        extend_cache(h.full, h.cache, 1)  # a day after every run's last slot: nothing to score
        assert update_scores(store, h.cache).slots == 0
    finally:
        store.close()
    # Now cut the cache back to a day inside the windows and give the days back one at a time.
    h2 = nightly_history(tmp_path / "again", nights=3, held_back=10)
    with sqlite3.connect(h2.cache) as conn:
        last = conn.execute("SELECT max(ts) FROM orders").fetchone()[0]
        conn.execute("DELETE FROM orders WHERE ts > ?", (last - 5 * 86400,))
    conn.close()
    store = ScoreStore(h2.url)
    try:
        update_scores(store, h2.cache)
        with store.engine.connect() as conn:
            before = conn.execute(sa.select(sa.func.sum(score_days.c.n))).scalar()
        extend_cache(h2.full, h2.cache, 1)
        report = update_scores(store, h2.cache)
        with store.engine.connect() as conn:
            after = conn.execute(sa.select(sa.func.sum(score_days.c.n))).scalar()
    finally:
        store.close()
    rows = _rows(h2)
    day_end = rows.ts[rows.actual.notna()].max()
    new = rows[(rows.ts > day_end - 86400) & (rows.ts <= day_end)]
    assert report.slots == len(new) > 0 and after - before == len(new)
    assert report.runs == new[["run_id", "region"]].drop_duplicates().shape[0]
