"""What forecasts each region tonight: its backtest champion, unless drift says otherwise.

:func:`region_configs` gives each region with a champion its own job config.
:func:`check_drift`, before a nightly run, scores the stored forecasts
against the actuals the cache now holds (incrementally,
:mod:`forecasting.accuracy.update`) and applies the drift rule
(:mod:`forecasting.accuracy.drift`); :func:`refit_drifting` backtests the
flagged regions again, :func:`fallback_configs` forecasts them with
seasonal naive.  A failure of the check costs the run its drift check, never
its forecasts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from forecasting.accuracy.drift import COLUMNS as DRIFT_COLUMNS, find_drift
from forecasting.accuracy.update import update_scores
from forecasting.config.forecast import ForecastConfig
from forecasting.errors import ConfigError, ForecastingError, UsageError
from forecasting.models.spec import ModelSpec, check_spec
from forecasting.store.backtests import load_champions
from forecasting.store.urls import shown_url

log = logging.getLogger(__name__)

#: What a flagged region is forecast with under ``on_drift: fallback``.
FALLBACK = ModelSpec("seasonal_naive")


def region_configs(store, config: ForecastConfig, regions: list[str], use_champions: bool | None, url: str) -> dict:
    """Per-region job configs that use the regions' backtest champions (where one is not available here: none)."""
    if use_champions is False:
        return {}
    champs = load_champions(store)
    if champs.empty:
        if use_champions:
            raise UsageError(f"use_champions: the results store {shown_url(url)} holds no champions; "
                             "run a backtest with the same store first", param="use_champions")
        return {}
    out, unavailable = {}, {}
    for row in champs[champs.region.isin(set(regions))].itertuples():
        try:  # a plug-in not installed here, or broken, fails no region: the configured models forecast it
            out[row.region] = config.model_copy(update={"models": (check_spec(ModelSpec.parse(row.model)),),
                                                        "interval_adjustment": float(row.interval_adjustment),
                                                        "staffing_calibration": _calibration(row)})
        except ConfigError as exc:
            unavailable.setdefault(f"{row.model} ({exc})", []).append(row.region)
    if unavailable:
        log.warning("champions: not available here, so the configured models (%s) forecast their regions: %s", ",".join(
            m.label for m in config.models), "; ".join(f"{why}: regions {', '.join(sorted(rs))}" for why, rs in unavailable.items()))
    log.info("models: backtest champions for %d regions, %s for the other %d",
             len(out), ",".join(m.label for m in config.models), len(set(regions)) - len(out))
    return out


@dataclass(frozen=True)
class DriftCheck:
    """The drift rule's verdict before a run: the flagged regions (:data:`~forecasting.accuracy.drift.COLUMNS`),
    what the run does with them, and why there is no verdict where the check failed."""

    action: str
    flagged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DRIFT_COLUMNS)))
    error: str | None = None

    @property
    def regions(self) -> list[str]:
        return self.flagged.region.tolist()


def check_drift(store, cache_path, regions: list[str], config: ForecastConfig) -> DriftCheck:
    """Score what the cache can score, then flag the drifting regions among ``regions``."""
    try:
        update_scores(store, cache_path, regions)
        flagged = find_drift(store, config.drift_days, regions, config.drift_tolerance)
    except (ForecastingError, sa.exc.SQLAlchemyError) as exc:  # a store or cache unreadable now: the forecasts go on
        log.error("drift: not checked: %s", exc)
        return DriftCheck(config.on_drift, error=str(exc))
    if len(flagged):
        log.warning("drift: %d regions flagged (on_drift: %s): %s", len(flagged), config.on_drift,
                    "; ".join(f"{r.region}: {r.reason}" for r in flagged.itertuples()))
    return DriftCheck(config.on_drift, flagged)


def fallback_configs(regions: list[str], config: ForecastConfig, configs: dict) -> dict:
    """``configs`` with ``regions`` forecast by seasonal naive, their champions' interval adjustment and
    staffing calibration dropped (both were learnt from the champion's residuals)."""
    fallback = {r: configs.get(r, config).model_copy(update={"models": (FALLBACK,), "interval_adjustment": 0.0,
                                                              "staffing_calibration": None}) for r in regions}
    return {**configs, **fallback}


def refit_drifting(store, regions: list[str], cache_path, executor, out_dir: Path, url: str) -> list[str]:
    """Backtest ``regions`` again, each with the configuration of the backtest that chose its champion (the newest
    backtest for a region without one); the new verdicts replace their champions.  Returns the regions refit."""
    from forecasting.config.backtest import BacktestConfig
    from forecasting.runs.backtest import run_backtest
    from forecasting.store.schema import backtests, champions

    with store.engine.connect() as conn:
        chosen_by = dict(conn.execute(sa.select(champions.c.region, champions.c.backtest_id)).all())
        configs = dict(conn.execute(sa.select(backtests.c.backtest_id, backtests.c.config_json).order_by(backtests.c.started_at)).all())
    if not configs:
        log.warning("drift: on_drift refit: the store holds no backtest to repeat; regions %s keep their models", ", ".join(regions))
        return []
    newest = list(configs)[-1]
    by_backtest: dict[str, list[str]] = {}
    for region in regions:
        by_backtest.setdefault(chosen_by.get(region, newest), []).append(region)
    refit = []
    for bt_id, group in by_backtest.items():
        saved = json.loads(configs.get(bt_id, configs[newest]))
        try:
            summary = run_backtest(cache_path, out_dir / f"refit-{bt_id}", executor, BacktestConfig.from_dict(saved["backtest"]),
                                   ForecastConfig.from_dict(saved["job"]), regions=group, store=url, plots=False)
        except ForecastingError as exc:  # e.g. no cutoff fits any more: keep the models they have
            log.error("drift: refitting regions %s failed: %s; they keep their models", ", ".join(group), exc)
            continue
        log.info("drift: backtest %s refit regions %s", summary.backtest_id, ", ".join(group))
        refit.extend(group)
    return refit


def _calibration(row) -> str | None:
    """The champion's staffing calibration (None: its backtest had no staffing section, or predates it)."""
    value = getattr(row, "staffing", None)
    return None if value is None or pd.isna(value) else str(value)
