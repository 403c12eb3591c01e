"""A stored champion whose model is not available here (a plug-in not installed, or broken) fails no region."""

from __future__ import annotations

import logging

import pandas as pd

from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly
from forecasting.store.backtests import BacktestStore
from forecasting.store.runs import ResultsStore


def _champion(region, model):
    return {"region": region, "model": model, "mase": 0.8, "seasonal_naive_mase": 1.0, "interval_adjustment": 0.0,
            "reason": "lowest MASE", "status": "champion"}


def test_regions_whose_champion_is_not_available_use_the_configured_models(synthetic_cache, fast_config, tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'results.sqlite'}"
    store = BacktestStore(url)
    store.save_champions(pd.DataFrame([
        _champion("r000", "weekly_ridge[alpha=2.0]"),  # a plug-in this installation does not have
        _champion("r001", "combination(seasonal_naive + weekly_ridge)"),
        _champion("r002", "seasonal_naive"),
    ]), "bt1")
    store.close()
    with caplog.at_level(logging.WARNING, logger="forecasting"):
        summary = run_nightly(synthetic_cache, tmp_path, SerialExecutor(), fast_config, regions=["r000", "r001", "r002"],
                              store=url, use_champions=True)
    assert summary.n_failed == 0 and summary.status == "succeeded"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.getMessage().startswith("champions:")]
    assert len(warnings) == 1, warnings
    assert "regions r000" in warnings[0] and "regions r001" in warnings[0] and "r002" not in warnings[0]
    assert "unknown model 'weekly_ridge'" in warnings[0] and "seasonal_naive,gbm" in warnings[0]
    results = ResultsStore(url)
    try:
        outcomes = results.region_outcomes(summary.run_id).set_index("region")
    finally:
        results.close()
    assert (outcomes.status == "ok").all()
    assert outcomes.loc["r002", "model"] == "seasonal_naive"  # its champion
    assert set(outcomes.loc[["r000", "r001"], "model"]) <= {m.label for m in fast_config.models}  # chosen among the configured ones
