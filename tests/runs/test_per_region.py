"""Before a nightly run: the drift check never costs the run its forecasts, and the summary says what it found."""

from __future__ import annotations

import sqlite3

from forecasting.cli.run import format_summary
from forecasting.config.forecast import ForecastConfig
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly

from live_history import CONFIG


def test_a_drift_check_that_fails_leaves_the_forecasts_alone(history, tmp_path):
    h = history.copy(tmp_path)
    with sqlite3.connect(h.out / "results.sqlite") as conn:  # a score table no scoring can write (but runs can delete from)
        conn.execute("DROP TABLE score_days")
        conn.execute("CREATE TABLE score_days (run_id TEXT, region TEXT, day TEXT, added_by_someone_else TEXT NOT NULL)")
    conn.close()
    summary = run_nightly(h.cache, h.out, SerialExecutor(), ForecastConfig.from_dict({**CONFIG, "on_drift": "fallback"}))
    assert summary.status == "succeeded" and summary.n_ok == summary.n_regions == 3
    assert summary.drift.error and summary.drift.regions == []
    text = format_summary(summary)
    assert f"drift:     not checked ({summary.drift.error})" in text


def test_the_summary_lists_the_flagged_regions_and_what_was_done(history, tmp_path):
    h = history.copy(tmp_path)
    # drift_tolerance 0 and a one-day window: the rule flags whatever is above its baseline at all.
    config = ForecastConfig.from_dict({**CONFIG, "drift_days": 1, "drift_tolerance": 0, "on_drift": "fallback"})
    summary = run_nightly(h.cache, h.out, SerialExecutor(), config)
    text = format_summary(summary)
    if summary.drift.regions:
        assert f"drift:     {len(summary.drift.regions)} regions flagged (forecast with seasonal naive" in text
        for region in summary.drift.regions:
            assert f"    {region}: live MASE" in text
    else:
        assert "drift:     0 regions flagged" in text
