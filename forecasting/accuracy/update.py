"""Scoring the stored forecasts against the actuals the cache now holds, incrementally.

:func:`update_scores` walks the regions of the nightly runs' stored
forecasts.  For each, it reads from the results store only the slots after
the last one scored for each run (``score_progress``) up to the region's
latest actual, and from the cache only the orders those slots need (the
whole history only for a run scored for the first time: its MASE scale).
Memory is one region's new slots, whatever the size of the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.accuracy.scoring import day_sums
from forecasting.data.cache import open_cache
from forecasting.engine.metrics import seasonal_scale
from forecasting.errors import ForecastingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringReport:
    """What a scoring pass did."""

    regions: int  # regions with new slots scored
    runs: int  # (run, region) pairs with new slots scored
    slots: int  # forecast slots scored
    baselines: int  # baselines computed here for runs stored without one
    seconds: float


def update_scores(store, cache_path, regions=None, since: str | None = None) -> ScoringReport:
    """Score every stored nightly forecast slot that has an actual in the cache and was not scored yet.

    Parameters
    ----------
    store : forecasting.store.scores.ScoreStore
        The results store (written: ``score_days``, ``score_progress``).
    cache_path : path-like
        The cache with the actual orders.
    regions : list of str, optional
        Only these regions.
    since : str, optional
        Only runs dated on or after this ``YYYY-MM-DD``.
    """
    started = time.monotonic()
    cache = open_cache(cache_path)
    summaries = cache.region_summaries().set_index("region")
    pairs = store.scorable(regions, since)
    n_regions = n_runs = n_slots = n_baselines = 0
    for region, todo in pairs.groupby("region", sort=True):
        if region not in summaries.index or pd.isna(summaries.at[region, "last_ts"]):
            continue  # not (or no longer) in this cache: nothing to score it against
        last_ts = int(summaries.at[region, "last_ts"])
        timezone = summaries.at[region, "timezone"]
        starts = _run_starts(todo.run_date, timezone)
        todo = todo.assign(start=starts)
        # Runs with no actual yet, or scored up to the latest actual, are not read at all.
        todo = todo[(todo.start <= last_ts) & ~(todo.scored_until >= np.fmin(todo.last_slot, last_ts))]
        if todo.empty:
            continue
        scored = _score_region(store, cache, region, todo, last_ts, timezone, int(summaries.at[region, "first_ts"]))
        n_regions += bool(scored[0])
        n_runs += scored[0]
        n_slots += scored[1]
        n_baselines += scored[2]
    report = ScoringReport(n_regions, n_runs, n_slots, n_baselines, time.monotonic() - started)
    log.info("accuracy: scored %d slots of %d runs' forecasts in %d regions (%.1fs)", report.slots, report.runs,
             report.regions, report.seconds)
    return report


def _run_starts(run_dates: pd.Series, timezone: str) -> np.ndarray:
    """Epoch seconds of each run date's local midnight (its first forecast slot)."""
    local = pd.to_datetime(run_dates.to_numpy()).tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return local.tz_convert("UTC").as_unit("s").asi8


def _score_region(store, cache, region: str, todo: pd.DataFrame, last_ts: int, timezone: str, first_ts: int) -> tuple:
    after = {r.run_id: (float("-inf") if pd.isna(r.scored_until) else float(r.scored_until)) for r in todo.itertuples()}
    new_runs = todo[todo.scored_until.isna()]
    # Orders from the first slot any run still needs (the whole history for a run's MASE scale).
    low = first_ts if not new_runs.empty else int(min(min(after.values()), todo.start.min() - 1))
    orders = cache.orders_between(region, pd.Timestamp(max(low, first_ts), unit="s", tz="UTC"), pd.Timestamp(last_ts, unit="s", tz="UTC"))
    scales = dict(zip(todo.run_id, todo.scale))
    last_slots = dict(zip(todo.run_id, todo.last_slot))
    ids = new_runs.run_id.tolist()
    last_slots.update(store.last_slots(region, ids))
    with_baseline = store.last_slots(region, ids, baseline=True)
    baselines = {}
    for run in new_runs.itertuples():
        history = orders[orders.index < pd.Timestamp(run.start, unit="s", tz="UTC")]
        scales[run.run_id] = seasonal_scale(history.asfreq(cache.freq)) if len(history) else float("nan")
        if run.run_id not in with_baseline:
            baseline = _engine_baseline(cache, region, run)
            if baseline is not None:
                baselines[run.run_id] = baseline
    own = store.slots_after(region, after, last_ts)
    naive = store.slots_after(region, after, last_ts, baseline=True)
    for run_id, frame in baselines.items():  # (not in the store yet: written with the scores)
        rows = pd.DataFrame({"run_id": run_id, "ts": frame.index.as_unit("s").asi8, "yhat": frame.yhat.to_numpy(),
                             "q10": frame.q10.to_numpy(), "q90": frame.q90.to_numpy()})
        naive = pd.concat([naive, rows[(rows.ts > after[run_id]) & (rows.ts <= last_ts)]], ignore_index=True)
    slots = own.merge(naive.rename(columns={"yhat": "naive_yhat", "q10": "naive_q10", "q90": "naive_q90"}),
                      on=["run_id", "ts"], how="left")
    actual = orders.reindex(pd.to_datetime(slots.ts.to_numpy(dtype=np.int64), unit="s", utc=True)).to_numpy(dtype=float)
    slots = slots.assign(actual=actual, run_date=slots.run_id.map(dict(zip(todo.run_id, todo.run_date))),
                         scale=slots.run_id.map(scales).astype(float))
    slots = slots[np.isfinite(slots.actual)]
    # Each run is scored up to the latest actual: a slot without one (a gap) stays unscored.
    progress = pd.DataFrame({"run_id": todo.run_id.to_numpy(), "run_date": todo.run_date.to_numpy(),
                             "scale": todo.run_id.map(scales).to_numpy(dtype=float), "previous": todo.scored_until.to_numpy(),
                             "scored_until": last_ts, "last_slot": todo.run_id.map(last_slots).to_numpy()})
    if not store.write_scores(region, day_sums(slots, timezone), progress, baselines):
        log.info("accuracy: region %s was scored by another process meanwhile: its scores stand", region)
        return 0, 0, 0
    return len(todo), len(slots), len(baselines)


def _engine_baseline(cache, region: str, run):
    """The engine's seasonal-naive forecast of a run stored without a baseline (made before baselines were kept).

    ``None`` where the engine cannot make one (too little history then):
    that run's baseline metrics stay empty.
    """
    from forecasting.config.forecast import ForecastConfig
    from forecasting.engine.window import cut, fit_forecast
    from forecasting.runs.jobs import BASELINE

    try:
        # Up to four weeks: the slots of a default nightly run; later slots, if any, go without a baseline.
        window = cut(cache.load_region(region), run.run_date, ForecastConfig.from_dict({"horizon": "28D"}), staleness=False)
        return fit_forecast(window, BASELINE)
    except (ForecastingError, ValueError) as exc:
        log.warning("accuracy: no seasonal-naive baseline for region %s, run %s: %s", region, run.run_id, exc)
        return None
