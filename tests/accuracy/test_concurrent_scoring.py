"""Two scorers on one store (an on-call ``forecasting accuracy`` during the nightly run's check): no slot counted twice."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.accuracy.tables import accuracy_table
from forecasting.accuracy.update import update_scores
from forecasting.store.schema import score_days, score_progress
from forecasting.store.scores import SUM_COLUMNS, ScoreStore


def _empty_scores(url):
    store = ScoreStore(url)
    with store.engine.begin() as conn:
        conn.execute(score_days.delete())
        conn.execute(score_progress.delete())
    store.close()


def _score(url, cache, barrier):
    store = ScoreStore(url)
    barrier.wait()
    try:
        update_scores(store, cache)
    finally:
        store.close()


def test_two_processes_scoring_at_once_give_the_sums_of_one(history, tmp_path, store_url):
    h = history.copy(tmp_path, store_url)
    _empty_scores(h.url)
    store = ScoreStore(h.url)
    update_scores(store, h.cache)
    once = accuracy_table(store)
    store.close()
    for _ in range(3):  # (whether they overlap is up to the machine; the sums must not depend on it)
        _empty_scores(h.url)
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_score, args=(h.url, str(h.cache), barrier)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0]
        store = ScoreStore(h.url)
        try:
            pd.testing.assert_frame_equal(accuracy_table(store), once, check_exact=False, rtol=1e-12)
        finally:
            store.close()


def test_a_write_read_against_old_progress_is_refused_and_changes_nothing(history, tmp_path, store_url):
    h = history.copy(tmp_path, store_url)
    store = ScoreStore(h.url)
    try:
        update_scores(store, h.cache)
        before = accuracy_table(store)
        with store.engine.connect() as conn:
            run_id, region, scored_until = conn.execute(
                sa.select(score_progress.c.run_id, score_progress.c.region, score_progress.c.scored_until)).first()
        days = pd.DataFrame({"run_id": [run_id], "day": ["2099-01-01"], "run_date": ["2099-01-01"], "lead": [1],
                             "model": ["m"], **{c: [1.0] for c in SUM_COLUMNS}})
        for previous in (np.nan, scored_until - 3600):  # "never scored" / scored less far than it is
            progress = pd.DataFrame({"run_id": [run_id], "run_date": ["2099-01-01"], "scale": [1.0], "previous": [previous],
                                     "scored_until": [scored_until + 3600], "last_slot": [scored_until + 3600]})
            assert store.write_scores(region, days, progress) is False
        pd.testing.assert_frame_equal(accuracy_table(store), before)
        progress = progress.assign(previous=scored_until)  # the progress as it is: accepted
        assert store.write_scores(region, days, progress) is True
    finally:
        store.close()
