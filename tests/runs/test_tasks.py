"""The per-region job: pure, picklable, typed failures, no look-ahead."""

from __future__ import annotations

import pickle
import shutil
import sqlite3

import pandas as pd
import pytest

from forecasting.errors import ModelError, RegionDataError
from forecasting.runs.jobs import forecast_region
from forecasting.runs.outcomes import RegionFailure, RegionResult
from forecasting.runs.tasks import RegionTask, run_task

RUN_DATE = "2024-02-26"  # one week before the end of the fixture's history


def test_forecast_region_returns_the_horizon_with_intervals(synthetic_cache, fast_config):
    result = forecast_region("r002", str(synthetic_cache), fast_config, RUN_DATE)
    assert isinstance(result, RegionResult)
    assert len(result.forecast) == 7 * 24
    assert list(result.forecast.columns) == ["yhat", "q10", "q50", "q90"]
    # Models by label, parameters and all (the fixture's gbm has max_iter=30): what champions call them.
    assert result.model in {m.label for m in fast_config.models}
    assert set(result.scores) == {m.label for m in fast_config.models}
    assert result.timings["total"] >= result.timings["fit"] > 0


def test_a_fit_never_sees_data_at_or_after_the_run_date(synthetic_cache, fast_config, tmp_path):
    changed = tmp_path / "changed.sqlite"
    shutil.copy(synthetic_cache, changed)
    cutoff = int(pd.Timestamp(RUN_DATE, tz="Europe/Madrid").timestamp())  # r002's zone
    with sqlite3.connect(changed) as conn:
        n = conn.execute("UPDATE orders SET orders = orders * 100 + 7 WHERE region = 'r002' AND ts >= ?", (cutoff,)).rowcount
    conn.close()
    assert n > 0
    before = forecast_region("r002", str(synthetic_cache), fast_config, RUN_DATE)
    after = forecast_region("r002", str(changed), fast_config, RUN_DATE)
    pd.testing.assert_frame_equal(before.forecast, after.forecast, check_exact=True)


def test_the_job_is_deterministic(synthetic_cache, fast_config):
    a = forecast_region("r000", str(synthetic_cache), fast_config, RUN_DATE)
    b = forecast_region("r000", str(synthetic_cache), fast_config, RUN_DATE)
    pd.testing.assert_frame_equal(a.forecast, b.forecast, check_exact=True)


@pytest.mark.parametrize(
    "region, message",
    [("r001", "no order history"), ("r004", "history too short")],
)
def test_unusable_regions_raise_typed_errors(poisoned_cache, fast_config, region, message):
    with pytest.raises(RegionDataError, match=message):
        forecast_region(region, str(poisoned_cache), fast_config, "2024-03-04")


def test_all_zero_history_is_refused(synthetic_cache, fast_config, tmp_path):
    zeros = tmp_path / "zeros.sqlite"
    shutil.copy(synthetic_cache, zeros)
    with sqlite3.connect(zeros) as conn:
        conn.execute("UPDATE orders SET orders = 0 WHERE region = 'r000'")
    conn.close()
    with pytest.raises(RegionDataError, match="no orders at all"):
        forecast_region("r000", str(zeros), fast_config, RUN_DATE)


def test_stale_history_is_refused(synthetic_cache, fast_config):
    with pytest.raises(RegionDataError, match="stale data"):
        forecast_region("r000", str(synthetic_cache), fast_config, "2024-04-01")


def test_run_task_turns_deterministic_errors_into_failures(poisoned_cache, fast_config):
    task = RegionTask("r001", str(poisoned_cache), "2024-03-04", fast_config)
    outcome = run_task(task)
    assert isinstance(outcome, RegionFailure) and not outcome.ok
    assert outcome.error_type == "RegionDataError"
    assert "Traceback" in outcome.traceback and outcome.worker


def test_task_descriptor_is_small_and_keyed(synthetic_cache, fast_config):
    task = RegionTask("r000", str(synthetic_cache), RUN_DATE, fast_config)
    assert task.key == f"forecast-{RUN_DATE}-r000"
    # Two runs sharing a scheduler must never share keys (Dask would hand one
    # the other's result), even for the same region and run date.
    a = RegionTask("r000", str(synthetic_cache), RUN_DATE, fast_config, run_id=f"{RUN_DATE}-010000-aaaaaa")
    b = RegionTask("r000", str(synthetic_cache), RUN_DATE, fast_config, run_id=f"{RUN_DATE}-010000-bbbbbb")
    assert a.key != b.key and a.key.startswith(f"forecast-{RUN_DATE}-") and a.key.endswith("-r000")
    assert len(pickle.dumps(task)) < 2000  # data never travels with the task
    assert pickle.loads(pickle.dumps(task)) == task


def test_errors_survive_pickling():
    for exc in (RegionDataError("a", "too short"), ModelError("b", "no model")):
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc) and str(again) == str(exc) and again.region == exc.region
