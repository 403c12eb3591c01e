"""A model that fails: the next candidate takes over, a region no model can forecast fails alone,
a backtest window's failure is that window's.

Everything goes through the ``forecasting`` command (``main()``) on the session's
synthetic cache.  The failing models are test doubles: subclasses of
``seasonal_naive`` kept out of the registry (``register=False``) and put in it
only for the test that uses them, so other tests listing the registry never see them.
"""

from __future__ import annotations

import csv
import json
import math

import pandas as pd
import pytest

from forecasting import errors
from forecasting.cli.main import main
from forecasting.models import MODELS
from forecasting.models.naive import SeasonalNaive
from forecasting.store.backtests import BacktestStore
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"  # the day after the synthetic cache's last day
REGIONS = ["r000", "r002"]


class FailingFit(SeasonalNaive, register=False):
    """Cannot fit any history."""

    name = "test_failing_fit"

    def fit(self, y, X, horizon):
        raise RuntimeError("test_failing_fit cannot fit this")


class FailingPredict(SeasonalNaive, register=False):
    """Fits, then cannot predict."""

    name = "test_failing_predict"

    def predict(self, X_future):
        raise ValueError("test_failing_predict cannot predict this")


class NeedsFiftyDays(SeasonalNaive, register=False):
    """``seasonal_naive`` on 50 days of history or more; fails on less (an early backtest cutoff)."""

    name = "test_needs_50_days"

    def fit(self, y, X, horizon):
        days = (y.index[-1] - y.index[0]) / pd.Timedelta("1D")
        if days < 50:
            raise RuntimeError(f"needs 50 days of history, got {days:.0f}")
        return super().fit(y, X, horizon)


@pytest.fixture
def test_models():
    """The test doubles, in the registry for one test only."""
    doubles = (FailingFit, FailingPredict, NeedsFiftyDays)
    for cls in doubles:
        MODELS.setdefault(cls.name, cls)
    try:
        yield
    finally:
        for cls in doubles:
            MODELS.pop(cls.name, None)


def _config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def _run(cache, out, models: str, *extra):
    return main(["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
                 "--regions", ",".join(REGIONS), "--run-date", RUN_DATE, "--horizon", "2D", "--models", models, *extra])


def _only_run(out):
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        (run_id,) = store.recent_runs().run_id
        return run_id, store.run(run_id), store.region_outcomes(run_id).set_index("region")
    finally:
        store.close()


def test_a_candidate_that_fails_hands_the_region_to_the_next_one(test_models, synthetic_cache, tmp_path, capsys):
    # A hold-out longer than half the history cannot be scored: the candidates are
    # tried in config order, so the failing one is tried first and the next takes over.
    config = _config(tmp_path, "forecasting:\n  selection_window: 35D\n")
    assert _run(synthetic_cache, tmp_path, "test_failing_fit,seasonal_naive", "--config", config) == errors.EXIT_OK
    assert capsys.readouterr().err == ""

    run_id, run, rows = _only_run(tmp_path)
    assert run["status"] == "succeeded"
    assert (rows.status == "ok").all() and (rows.model == "seasonal_naive").all()
    for region in REGIONS:
        diagnostics = json.loads(rows.loc[region, "details_json"])["diagnostics"]
        # The failure of the first candidate is kept with the region's outcome.
        assert diagnostics["model_failures"] == {"test_failing_fit": "RuntimeError: test_failing_fit cannot fit this"}
    with open(tmp_path / "runs" / run_id / "forecasts.csv", newline="") as fh:
        forecast = list(csv.DictReader(fh))
    assert {r["region"] for r in forecast} == set(REGIONS) and {r["model"] for r in forecast} == {"seasonal_naive"}


def test_a_candidate_that_fails_its_hold_out_is_tried_last(test_models, synthetic_cache, tmp_path, capsys):
    # Listed first, but its hold-out failed: the one that scored goes first and is
    # chosen, so the failing model is never fitted again.
    config = _config(tmp_path, "forecasting:\n  selection_window: 7D\n")
    assert _run(synthetic_cache, tmp_path, "test_failing_fit,seasonal_naive", "--config", config) == errors.EXIT_OK
    capsys.readouterr()

    _, _, rows = _only_run(tmp_path)
    assert (rows.status == "ok").all() and (rows.model == "seasonal_naive").all()
    for region in REGIONS:
        details = json.loads(rows.loc[region, "details_json"])
        assert details["diagnostics"]["holdout_failures"] == {"test_failing_fit": "RuntimeError: test_failing_fit cannot fit this"}
        assert details["diagnostics"]["model_failures"] == {}
        assert math.isnan(details["scores"]["test_failing_fit"]) and details["scores"]["seasonal_naive"] > 0


def test_a_region_no_candidate_can_forecast_fails_with_every_reason(test_models, synthetic_cache, tmp_path, capsys):
    code = _run(synthetic_cache, tmp_path, "test_failing_fit,test_failing_predict")
    # Every region failed: more than --max-failed-fraction (0.1).
    assert code == errors.EXIT_TOO_MANY_FAILED
    out = capsys.readouterr().out
    assert "FAILED" in out and all(f"{r}: ModelError: region '{r}': no model could forecast it" in out for r in REGIONS)

    run_id, run, rows = _only_run(tmp_path)
    assert run["status"] == "failed" and run["n_failed"] == len(REGIONS) and run["n_ok"] == 0
    expected = {
        region: f"region '{region}': no model could forecast it (test_failing_fit: RuntimeError: test_failing_fit "
                f"cannot fit this; test_failing_predict: ValueError: test_failing_predict cannot predict this)"
        for region in REGIONS
    }
    assert (rows.status == "failed").all() and (rows.error_type == "ModelError").all()
    assert rows.message.to_dict() == expected
    with open(tmp_path / "runs" / run_id / "failures.csv", newline="") as fh:
        failures = list(csv.DictReader(fh))
    assert {f["region"]: (f["error_type"], f["message"]) for f in failures} == {
        region: ("ModelError", message) for region, message in expected.items()
    }


def test_a_backtest_window_whose_model_fails_is_recorded_and_the_others_go_on(test_models, synthetic_cache, tmp_path,
                                                                              capsys):
    config = _config(tmp_path, "backtest:\n  models: [test_needs_50_days, seasonal_naive]\n  cutoffs: 3\n  horizon: 2D\n")
    code = main(["--log-level", "WARNING", "backtest", "--cache", str(synthetic_cache), "--out", str(tmp_path),
                 "--cluster", "serial", "--regions", "r000", "--config", config, "--no-plots"])
    assert code == errors.EXIT_OK
    assert "1 failed" in capsys.readouterr().out

    store = BacktestStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    try:
        (bt_id,) = store.engine.connect().exec_driver_sql("SELECT backtest_id FROM backtests").scalars()
        tasks = store.tasks(bt_id)
        preds = store.predictions(bt_id, "r000")
    finally:
        store.close()
    cutoffs = sorted(tasks.cutoff.unique())
    assert len(cutoffs) == 3 and len(tasks) == 3 * 4  # with the zero and mean_week baselines
    # The earliest cutoff leaves under 50 days of history: that one window fails, as a ModelError naming it.
    failed = tasks[tasks.status != "ok"]
    assert failed[["model", "cutoff", "status", "error_type"]].values.tolist() == [
        ["test_needs_50_days", cutoffs[0], "failed", "ModelError"]
    ]
    message = failed.message.iloc[0]
    assert message.startswith(f"region 'r000': test_needs_50_days at cutoff {cutoffs[0]}: RuntimeError: needs 50 days")
    # Its other windows, and every window of the other model, were forecast.
    assert {(m, c) for m, c in preds[["model", "cutoff"]].drop_duplicates().values} == (
        {("test_needs_50_days", c) for c in cutoffs[1:]} | {(m, c) for m in ("seasonal_naive", "zero", "mean_week") for c in cutoffs}
    )
    with open(tmp_path / "failures.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["region"], r["model"], r["cutoff"], r["status"], r["error_type"], r["message"]) for r in rows] == [
        ("r000", "test_needs_50_days", cutoffs[0], "failed", "ModelError", message)
    ]
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert board.loc["test_needs_50_days", "n_windows"] == 2 and board.loc["seasonal_naive", "n_windows"] == 3
