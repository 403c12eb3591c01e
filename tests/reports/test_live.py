"""The run report's live accuracy: by lead time as known on the run date, drift flags, past forecasts per region.

Real nightly runs (serial, seasonal naive) on a small synthetic cache, real
scoring (:func:`forecasting.accuracy.update.update_scores`) into a real
SQLite store; nothing is mocked.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import sqlite3

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from forecasting.accuracy.tables import accuracy_by_lead
from forecasting.accuracy.drift import COLUMNS as DRIFT_COLUMNS
from forecasting.accuracy.update import update_scores
from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.reports import live
from forecasting.reports.figures import new_figure
from forecasting.reports.html import render_report
from forecasting.reports.plots import draw_region_forecast
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly
from forecasting.store.scores import ScoreStore

#: The last run's date (the day after the cache's 40 days) and the runs before it, one a day.
LAST = pd.Timestamp("2024-02-10")
DATES = [(LAST - pd.Timedelta(days=k)).strftime("%Y-%m-%d") for k in range(8, -1, -1)]
MIDDLE = DATES[5]  # 2024-02-07
NEW_REGION = "r002"  # only in the last run: no past forecasts
ORANGE = (255, 127, 14)  # tab:orange, the past day-1 forecasts


def _midnight(day: str, tz: str) -> int:
    return int(pd.Timestamp(day).tz_localize(tz).tz_convert("UTC").timestamp())


def _truncated(cache, out, day: str):
    """A copy of ``cache`` holding only the actuals before ``day`` (local midnight of each region)."""
    shutil.copy(cache, out)
    zones = open_cache(cache).timezones()
    with sqlite3.connect(out) as conn:
        for region, tz in zones.items():
            conn.execute("DELETE FROM orders WHERE region = ? AND ts >= ?", (region, _midnight(day, tz)))
    conn.close()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Nine nightly runs dated 2024-02-02..10 (r000, r001; r002 only in the last), scored in two steps."""
    root = tmp_path_factory.mktemp("live")
    cache = root / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=3, days=40, freq="h", seed=5), cache)
    config = ForecastConfig.from_dict({"horizon": "7D", "models": ["seasonal_naive"]})
    ids = {}
    for day in DATES:
        regions = None if day == DATES[-1] else ["r000", "r001"]
        ids[day] = run_nightly(cache, root / "out", SerialExecutor(), config, regions=regions, run_date=day).run_id
    url = f"sqlite:///{root / 'out' / 'results.sqlite'}"
    # Each run scored what the cache held before it (all of it: these dates are in the cache's past); start unscored.
    with sqlite3.connect(root / "out" / "results.sqlite") as conn:
        conn.execute("DELETE FROM score_days")
        conn.execute("DELETE FROM score_progress")
    conn.close()
    # An old store: the runs' forecasts, nothing scored yet.
    shutil.copy(root / "out" / "results.sqlite", root / "unscored.sqlite")
    store = ScoreStore(url)
    # First the actuals a run dated MIDDLE could have had, then the rest.
    update_scores(store, _truncated(cache, root / "early.sqlite", MIDDLE))
    stages = {"early": render_report(store, ids[MIDDLE], history="7D")[0],
              "early_last": render_report(store, ids[DATES[-1]], history="7D")[0]}
    update_scores(store, cache)
    flagged = pd.DataFrame([
        {"region": "r001", "model": "seasonal_naive", "live_mase": 1.7, "naive_mase": 1.2, "backtest_low": 0.8,
         "backtest_high": 1.1, "n_slots": 168, "first_day": "2024-02-03", "last_day": "2024-02-09",
         "reason": "live MASE 1.700 <b>above</b> its backtest range 0.800-1.100"},
    ], columns=list(DRIFT_COLUMNS))
    store.record_drift(ids[DATES[-1]], flagged, "fallback")
    store.record_drift(ids[DATES[-2]], flagged.assign(region="r000"), "ignore")
    yield {"root": root, "cache": cache, "store": store, "ids": ids, "stages": stages}
    store.close()


def _section(page: str) -> str:
    return page[page.index('<h2 id="live">'):page.index("<h2>Forecasts")]


def _images(page: str) -> dict:
    found = re.findall(r'<img class="(\w+)" alt="([^"]*)"[^>]*src="data:image/png;base64,([^"]+)"', page)
    return {alt: np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), dtype=int) for _, alt, data in found}


def _orange(pixels: np.ndarray) -> int:
    return int((np.abs(pixels - ORANGE).max(axis=2) < 40).sum())


def _rows(section: str) -> dict:
    """The accuracy table: lead -> (runs, slots, MASE)."""
    table = section[section.index('<table class="accuracy">'):]
    table = table[:table.index("</table>")]
    cells = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td><td class=\"num\">([^<]+)</td>", table)
    return {lead: (int(n_runs), int(n_slots), mase) for lead, n_runs, n_slots, mase in cells}


# --------------------------------------------------------------------------- accuracy by lead time


def test_accuracy_counts_the_slots_earlier_runs_forecast_before_the_run_date(runs):
    store, ids = runs["store"], runs["ids"]
    zones = open_cache(runs["cache"]).timezones()
    expected = 0
    for day in DATES[:DATES.index(MIDDLE)]:
        for region, frame in store.forecasts(ids[day]).groupby("region"):
            expected += int((frame.timestamp < pd.Timestamp(_midnight(MIDDLE, zones[region]), unit="s", tz="UTC")).sum())
    table = accuracy_by_lead(store, until=MIDDLE).set_index("lead")
    assert table.at["all", "n_slots"] == expected > 0
    assert table.at["all", "n_runs"] == DATES.index(MIDDLE)
    assert table.loc[["day 1", "days 2-7"], "n_slots"].sum() == expected  # a 7-day horizon: no longer lead
    assert np.isfinite(table.at["all", "mase"]) and np.isfinite(table.at["all", "naive_mase"])


def test_a_runs_report_keeps_its_numbers_when_later_days_and_runs_are_scored(runs):
    store, ids = runs["store"], runs["ids"]
    early = _rows(_section(runs["stages"]["early"]))
    now = render_report(store, ids[MIDDLE], history="7D")[0]
    assert _rows(_section(now)) == early and "all" in early
    # The last run's report, meanwhile, gained the days scored since.
    assert _rows(_section(render_report(store, ids[DATES[-1]], history="7D")[0]))["all"][1] > early["all"][1]
    assert re.search(r'<img class="accuracy"', now)


def test_missing_scores_are_told_not_computed(runs):
    """Before the last days were scored, the last run's report says how many pairs lack scores; after, nothing."""
    before = _section(runs["stages"]["early_last"])
    count = re.search(r'<p class="note">(\d+) \(run, region\) pair', before)
    # Every earlier run's two regions: those dated before MIDDLE scored up to it only, the others not at all.
    assert count and int(count.group(1)) == 2 * (len(DATES) - 1)
    after = _section(render_report(runs["store"], runs["ids"][DATES[-1]], history="7D")[0])
    assert "(run, region) pair" not in after


# --------------------------------------------------------------------------- drift flags


def test_the_section_lists_the_regions_this_run_flagged(runs):
    section = _section(render_report(runs["store"], runs["ids"][DATES[-1]], history="7D")[0])
    drift = section[section.index("Drifting regions"):]
    assert "<td>r001</td>" in drift and "<td>fallback</td>" in drift and "0.800-1.100" in drift
    assert "&lt;b&gt;above&lt;/b&gt;" in drift and "<b>" not in drift  # the reason is text
    assert "<td>r000</td>" not in drift  # flagged by another run
    earlier = _section(render_report(runs["store"], runs["ids"][DATES[-2]], history="7D")[0])
    assert "<td>r000</td>" in earlier and "<td>ignore</td>" in earlier and "<td>r001</td>" not in earlier
    unflagged = _section(render_report(runs["store"], runs["ids"][MIDDLE], history="7D")[0])
    assert '<p class="ok">none</p>' in unflagged


# --------------------------------------------------------------------------- past forecasts per region


def test_past_forecasts_are_the_earlier_runs_slots_of_each_day(runs):
    store, ids = runs["store"], runs["ids"]
    tz = open_cache(runs["cache"]).timezones()["r000"]
    past = live.past_forecasts(store, "r000", DATES[-1], 7, tz, live.earlier_runs(store, DATES[-1], 7))
    day1 = past[past.lead == 1]
    expected = []
    for day in DATES[-8:-1]:  # each of the 7 days before the last run, from its own run
        frame = store.forecasts(ids[day], "r000").set_index("timestamp")
        lo, hi = (pd.Timestamp(_midnight(d, tz), unit="s", tz="UTC") for d in (day, (pd.Timestamp(day) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")))
        expected.append(frame[(frame.index >= lo) & (frame.index < hi)])
    expected = pd.concat(expected)
    assert day1.index.equals(expected.index) and len(day1) == 7 * 24
    np.testing.assert_array_equal(day1[["yhat", "q10", "q90"]].to_numpy(), expected[["yhat", "q10", "q90"]].to_numpy())
    assert list(day1.run_id.unique()) == [ids[d] for d in DATES[-8:-1]]
    # Day 7: the runs dated six days before (2024-02-02 and -03 give 2024-02-08 and -09).
    day7 = past[past.lead == 7]
    assert sorted(day7.run_date.unique()) == DATES[:2] and len(day7) == 2 * 24
    assert live.past_forecasts(store, NEW_REGION, DATES[-1], 7, tz, live.earlier_runs(store, DATES[-1], 7)).empty


def test_the_past_forecast_band_covers_the_earlier_runs_slots(runs):
    store = runs["store"]
    cache = open_cache(runs["cache"])
    tz = cache.timezones()["r000"]
    past = live.past_forecasts(store, "r000", DATES[-1], 7, tz, live.earlier_runs(store, DATES[-1], 7))
    frame = store.forecasts(runs["ids"][DATES[-1]], "r000").set_index("timestamp")
    orders = cache.orders_between("r000", frame.index[0] - pd.Timedelta("7D"), frame.index[-1])
    window = frame[["yhat", "q10", "q90"]].assign(actual=np.nan)
    ax = draw_region_forecast(new_figure((8, 2.6), 100), orders, window, "seasonal_naive", tz, past=past)
    bands = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], np.array(ORANGE) / 255, atol=0.01)]
    assert len(bands) == 1
    xs = np.concatenate([p.vertices[:, 0] for p in bands[0].get_paths()])
    day1 = past[past.lead == 1].index.tz_localize(None)
    assert xs.min() <= mdates.date2num(day1[0]) and xs.max() >= mdates.date2num(day1[-1])
    labels = ax.get_legend_handles_labels()[1]
    assert "past, day 1 (80%)" in labels and "past, day 7" in labels


def test_each_region_plot_shows_its_past_forecasts_or_says_there_are_none(runs):
    page = render_report(runs["store"], runs["ids"][DATES[-1]], history="7D")[0]
    images = _images(page)
    for region in ("r000", "r001"):
        assert _orange(images[f"forecast of {region}"]) > 200
    assert _orange(images[f"forecast of {NEW_REGION}"]) == 0
    caption = page[page.index(f"<figcaption>{NEW_REGION}"):]
    caption = caption[:caption.index("</figcaption>")]
    assert f"no earlier nightly run forecast this region for the 7 days before {DATES[-1]}" in caption
    caption = page[page.index("<figcaption>r000"):]
    assert "day 1 on 7 of 7 days, day 7 on 2 of 7 days" in caption[:caption.index("</figcaption>")]


# --------------------------------------------------------------------------- stores without scores


def test_an_old_store_without_score_tables_renders(runs, tmp_path):
    path = tmp_path / "old.sqlite"
    shutil.copy(runs["root"] / "unscored.sqlite", path)
    with sqlite3.connect(path) as conn:  # as written before live accuracy: none of its tables
        for table in ("drift_flags", "score_days", "score_progress", "baseline_forecasts"):
            conn.execute(f"DROP TABLE {table}")
    conn.close()
    store = ScoreStore(f"sqlite:///{path}")
    try:
        page, info = render_report(store, runs["ids"][DATES[-1]], history="7D")
    finally:
        store.close()
    section = _section(page)
    assert "No live accuracy yet" in section and '<p class="ok">none</p>' in section
    assert '<img class="accuracy"' not in section
    assert re.search(r'<p class="note">16 \(run, region\) pair', section)  # 8 earlier runs x 2 regions, none scored
    assert info["n_plots"] == 3


def test_without_the_runs_cache_the_section_renders_and_past_forecasts_are_not_drawn(runs, tmp_path):
    path = tmp_path / "moved.sqlite"
    shutil.copy(runs["root"] / "out" / "results.sqlite", path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET cache_path = ?", (str(tmp_path / "gone.sqlite"),))
    conn.close()
    store = ScoreStore(f"sqlite:///{path}")
    try:
        page = render_report(store, runs["ids"][DATES[-1]], history="7D")[0]
    finally:
        store.close()
    section = _section(page)
    assert "cannot be told without the run's cache" in section and "all" in _rows(section)
    assert all(_orange(pixels) == 0 for alt, pixels in _images(page).items() if alt.startswith("forecast of"))
    assert page.count("past forecasts not shown: no actuals to compare them with") == 3
