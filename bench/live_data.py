"""The data ``python -m bench live-accuracy`` scores: a synthetic cache and a results store of nightly runs.

The layout (:class:`Layout`): ``history_days`` of history, then one nightly
run per day for ``nights`` days, each forecasting ``days`` local days from
its run date for every region.  The cache the scoring sees ends at the local
midnight of the last run date (yesterday's actuals are in, the last run's
first day is not); :func:`extend_cache` then adds that one day, as the next
night would, for the incremental pass.

Forecasts are the synthetic actuals times log-normal noise (they benchmark
the scoring, not a model); each run's baseline is a true seasonal naive
(the last week before the run date, repeated).  Slots past the synthetic
history (the last runs' later days, never scored here) repeat the last week.
Both are written through the product's store code: one
:meth:`~forecasting.store.runs.ResultsStore.start_run`, ``record_many`` of
:class:`~forecasting.runs.outcomes.RegionResult` objects and ``finish_run``
per night, as a nightly run writes them.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Days of history before the first run (its MASE scale needs more than a week).
HISTORY_DAYS = 28
START = "2024-01-01"
MODEL = "actuals_plus_noise"
#: Regions per ``record_many`` transaction: a night's outcomes arrive in groups.
GROUP = 250


@dataclass(frozen=True)
class Layout:
    """Sizes of the benchmark's store."""

    regions: int
    nights: int
    days: int
    freq: str = "h"
    history_days: int = HISTORY_DAYS

    @property
    def run_dates(self) -> list[str]:
        first = pd.Timestamp(START) + pd.Timedelta(days=self.history_days)
        return [(first + pd.Timedelta(days=i)).strftime("%Y-%m-%d") for i in range(self.nights)]

    @property
    def new_day(self) -> str:
        """The local day the incremental pass adds: the last run's date."""
        return self.run_dates[-1]

    def as_dict(self) -> dict:
        return asdict(self)


def _midnights(dates, timezone: str) -> np.ndarray:
    """Epoch seconds of the local midnights starting ``dates`` (``YYYY-MM-DD``) in ``timezone``."""
    local = pd.DatetimeIndex(pd.to_datetime(list(dates))).tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return local.tz_convert("UTC").as_unit("s").asi8.astype(np.int64)


def build_cache(layout: Layout, full: Path, cache: Path) -> None:
    """The synthetic cache up to the last run date (``full``) and the scoring's copy without that day (``cache``)."""
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

    spec = SyntheticSpec(regions=layout.regions, days=layout.history_days + layout.nights, freq=layout.freq, seed=0, start=START)
    build_synthetic_cache(spec, full)
    shutil.copy(full, cache)
    truncate_cache(layout, cache)


def _cuts(layout: Layout, cache: Path) -> list[tuple[str, int, int]]:
    """Per region: its id and the epoch seconds of the local midnights starting and ending the new day."""
    with sqlite3.connect(cache) as conn:
        zones = conn.execute("SELECT region, timezone FROM regions ORDER BY region").fetchall()
    conn.close()
    day = pd.Timestamp(layout.new_day)
    out = []
    for region, tz in zones:
        start, end = _midnights([day, day + pd.Timedelta(days=1)], tz)
        out.append((region, int(start), int(end)))
    return out


def truncate_cache(layout: Layout, cache: Path) -> None:
    """Delete every region's orders from the local midnight of the new day on."""
    cuts = _cuts(layout, cache)
    with sqlite3.connect(cache) as conn:
        conn.executemany("DELETE FROM orders WHERE region = ? AND ts >= ?", [(r, start) for r, start, _ in cuts])
    conn.close()


def extend_cache(layout: Layout, full: Path, cache: Path) -> None:
    """Add the new day's orders of every region (from ``full``), as the next night's cache would have them."""
    cuts = _cuts(layout, cache)
    with sqlite3.connect(cache) as conn:
        conn.execute("ATTACH ? AS f", (str(full),))
        conn.executemany("INSERT INTO orders SELECT * FROM f.orders WHERE region = ? AND ts >= ? AND ts < ?", cuts)
    conn.close()


def build_store(layout: Layout, full: Path, cache: Path, url: str, seed: int = 0) -> dict:
    """Write ``layout.nights`` nightly runs of every region into the results store at ``url``.

    Returns the rows written and the slots the two passes should score:
    ``first_slots`` (every slot before the new day) and ``new_slots`` (the
    new day's slots of the runs covering it), with ``new_runs``, those
    (run, region) pairs.
    """
    from forecasting.config.forecast import ForecastConfig
    from forecasting.data.cache import open_cache
    from forecasting.data.timestamps import freq_seconds, from_epoch_seconds
    from forecasting.runs.outcomes import RegionResult
    from forecasting.store.runs import ResultsStore

    step = freq_seconds(layout.freq)
    week = 7 * 86400 // step
    reader = open_cache(full)
    summaries = reader.region_summaries()
    config = ForecastConfig.from_dict({"horizon": f"{layout.days}D", "models": ["seasonal_naive"]}, source="bench live-accuracy")
    dates = layout.run_dates
    ends_on = [(pd.Timestamp(d) + pd.Timedelta(days=layout.days)) for d in dates]
    cut = {r: start for r, start, _ in _cuts(layout, cache)}
    regions, truth, first, bounds = [], {}, {}, {}
    counts = {"forecast_rows": 0, "baseline_rows": 0, "first_slots": 0, "new_slots": 0, "new_runs": 0}
    new_end = {r: end for r, _, end in _cuts(layout, cache)}
    for s in summaries.itertuples():
        series = reader.orders_between(s.region, pd.Timestamp(int(s.first_ts), unit="s", tz="UTC"),
                                       pd.Timestamp(int(s.last_ts), unit="s", tz="UTC"))
        starts, ends = _midnights(dates, s.timezone), _midnights(ends_on, s.timezone)
        n = int((ends.max() - int(s.first_ts)) // step)
        values = np.full(n, np.nan)
        values[:len(series)] = series.to_numpy(dtype=float)
        for i in range(len(series), n, week):  # past the history: the last week again
            chunk = min(week, n - i)
            values[i:i + chunk] = values[i - week:i - week + chunk]
        regions.append(s.region)
        truth[s.region], first[s.region], bounds[s.region] = values, int(s.first_ts), (starts, ends)
    rng = np.random.default_rng(seed)
    store = ResultsStore(url)
    try:
        for night, run_date in enumerate(dates):
            run_id = f"{run_date}-000000-bench{night:04d}"
            store.start_run(run_id, "nightly", run_date, str(cache), "bench", config, regions)
            outcomes = []
            for region in regions:
                starts, ends = bounds[region]
                ts = np.arange(starts[night], ends[night], step, dtype=np.int64)
                pos = (ts - first[region]) // step
                actual = truth[region][pos]
                yhat = actual * rng.lognormal(0.0, 0.25, len(ts))
                p0 = pos[0]
                naive = truth[region][p0 - week + (pos - p0) % week]
                index = from_epoch_seconds(ts)
                forecast = pd.DataFrame({"yhat": yhat, "q10": yhat * 0.7, "q50": yhat, "q90": yhat * 1.35}, index=index)
                baseline = pd.DataFrame({"yhat": naive, "q10": naive * 0.7, "q50": naive, "q90": naive * 1.4}, index=index)
                outcomes.append(RegionResult(region=region, run_date=run_date, model=MODEL, forecast=forecast,
                                             timings={"total": 0.0}, baseline=baseline))
                counts["forecast_rows"] += len(ts)
                counts["baseline_rows"] += len(ts)
                counts["first_slots"] += int((ts < cut[region]).sum())
                covered = int(((ts >= cut[region]) & (ts < new_end[region])).sum())
                counts["new_slots"] += covered
                counts["new_runs"] += covered > 0
                if len(outcomes) == GROUP:
                    store.record_many(run_id, outcomes)
                    outcomes = []
            if outcomes:
                store.record_many(run_id, outcomes)
            store.finish_run(run_id, "succeeded")
    finally:
        store.close()
    return counts


def reset_scores(layout: Layout, cache: Path, url: str) -> None:
    """Undo the passes on a kept store and cache: no scores, the cache without the new day (``--workdir``)."""
    from forecasting.store.database import Store
    from forecasting.store.schema import score_days, score_progress

    store = Store(url)
    try:
        with store._write("resetting the benchmark's scores") as conn:
            conn.execute(score_days.delete())
            conn.execute(score_progress.delete())
    finally:
        store.close()
    truncate_cache(layout, cache)
