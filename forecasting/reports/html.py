"""A run's report as one self-contained HTML page.

``forecasting report RUN_ID --out report.html`` writes a page that any
browser opens from disk, with no server and no network: the CSS is inline,
the plots are PNG ``data:`` URIs, and there is no JavaScript (a
Content-Security-Policy forbids scripts and every external resource).  The
page holds

* the run's summary (id, kind, run date, status, counts, cluster, start,
  end and wall time, config hash, code version, message, cache);
* each failed region with its exception and traceback;
* the regions' timings, slowest first, with status, model, attempts,
  worker and a bar per duration;
* live accuracy as known on the run date (:mod:`forecasting.reports.live_page`):
  MASE, WAPE, bias and coverage per lead time of the nightly runs' scored
  forecasts, beside seasonal naive's, as a plot and a table, and the
  regions this run flagged as drifting;
* one plot per forecast region (:func:`forecasting.reports.plots.draw_region_forecast`,
  the backtest's plot): the tail of its history from the cache recorded with
  the run, any actuals the cache holds after the forecast start, the point
  forecast and its q10-q90 band, and over the history what earlier nightly
  runs forecast for those days (day 1 with its band, day 7).

This module gathers what the page shows (the tables' values come from
:mod:`forecasting.reports.content`); the page itself is the Jinja2 template
``templates/run.html.j2``, rendered with autoescape on, so region
names, messages and tracebacks are data, never markup.  When the run's cache
no longer exists (or cannot be read) the report still renders, with the
forecasts only and a note saying so.
"""

from __future__ import annotations

import base64
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecasting.errors import ForecastingError, UsageError
from forecasting.reports import content, live, live_page
from forecasting.reports.figures import PNG_COLORS, new_figure, png_bytes
from forecasting.reports.plots import draw_region_forecast
from forecasting.files import atomic_write

__all__ = ["ReportSummary", "render_report", "resolve_run_id", "write_report"]

#: Size (inches) and resolution of each region's plot: 800 x 260 pixels.
FIGSIZE = (8.0, 2.6)
DPI = 100
#: Default length of history shown before the forecast start.
HISTORY = "14D"
#: The page's template, in the package's ``templates`` folder.
TEMPLATE = "run.html.j2"


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The HTML file.
    run_id : str
        The run reported on (``latest`` resolved).
    n_regions, n_plots : int
        Regions of the run, and plots drawn (one per forecast region).
    cache_available : bool
        Whether the run's cache could be read for the history.
    seconds : float
        Time taken to build and write the page.
    """

    path: Path
    run_id: str
    n_regions: int
    n_plots: int
    cache_available: bool
    seconds: float


def resolve_run_id(store, run_id: str) -> str:
    """``run_id`` itself, or for ``latest`` the most recently started run.

    Parameters
    ----------
    store : forecasting.store.runs.ResultsStore
        The results store.
    run_id : str
        A run id, or ``latest``.

    Returns
    -------
    str
        A run id present in the store.

    Raises
    ------
    UsageError
        If the run, or for ``latest`` any run, is not in the store.
    """
    if run_id == "latest":
        recent = store.recent_runs(limit=1)
        if recent.empty:
            raise UsageError("no runs in the results store")
        return str(recent.run_id.iloc[0])
    store.run(run_id)  # raises UsageError when unknown
    return run_id


def render_report(store, run_id: str, history: str = HISTORY) -> tuple[str, dict]:
    """Build the HTML page of one run.

    Parameters
    ----------
    store : forecasting.store.runs.ResultsStore
        The results store holding the run.
    run_id : str
        The run (not ``latest``: see :func:`resolve_run_id`).
    history : str, default "14D"
        How much history before the forecast start to plot (a pandas
        timedelta string).

    Returns
    -------
    html : str
        The complete page.
    info : dict
        ``n_regions``, ``n_plots`` and ``cache_available``.

    Raises
    ------
    UsageError
        If the run is unknown or ``history`` is not a duration.
    """
    try:
        span = pd.Timedelta(history)
    except (ValueError, TypeError):
        span = None
    if span is None or pd.isna(span) or span < pd.Timedelta(0):
        raise UsageError(f"history must be a duration like 14D, got {history!r}", param="history")
    run = store.run(run_id)
    outcomes = store.region_outcomes(run_id)
    forecasts = store.forecasts(run_id)
    cache, note = _open_run_cache(run["cache_path"])
    zones = cache.timezones() if cache is not None else {}
    days = live_page.past_days(span)
    past = {"store": store, "run_date": str(run["run_date"]), "days": days,
            "runs_by_id": live.earlier_runs(store, str(run["run_date"]), days) if days else {}}
    figures = [
        _figure(f"plot-{n}", region, frame, cache if region in zones else None, zones.get(region, "UTC"), span, past)
        for n, (region, frame) in enumerate(forecasts.groupby("region", sort=True))
    ]
    anchors = {f["region"]: f["anchor"] for f in figures}
    page = _page_template().render(
        run={key: content.blank(value) for key, value in run.items()},
        summary=content.summary(run, outcomes),
        note=note,
        failures=content.failures(outcomes),
        timings=content.timings(outcomes, anchors),
        figures=figures,
        live=live_page.section(store, run, {f["region"]: f["known"] for f in figures} if cache is not None else None, DPI),
        history=content.duration(span) if cache is not None else None,
        missing=sorted(set(outcomes.region[outcomes.status == "ok"]) - set(anchors)),
        generated=content.utc_time(time.time()),
        store_url=content.display_url(store.url),
    )
    # markupsafe spells quotes &#34; and &#39;, the page always spelled them as
    # html.escape does; both mean the same to every HTML parser.
    page = page.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")
    return page, {"n_regions": len(outcomes), "n_plots": len(figures), "cache_available": cache is not None}


def write_report(store, run_id: str, path, history: str = HISTORY) -> ReportSummary:
    """Write the report of a run to ``path``, atomically.

    Parameters
    ----------
    store : forecasting.store.runs.ResultsStore
        The results store holding the run.
    run_id : str
        A run id, or ``latest`` for the most recently started run.
    path : path-like
        The HTML file to write; its folder is created if needed and an
        existing file is replaced only once the new one is complete.
    history : str, default "14D"
        How much history to plot before each forecast.

    Returns
    -------
    ReportSummary
        What was written.

    Raises
    ------
    UsageError
        ``path`` cannot be written (``param="path"``).
    """
    started = time.perf_counter()
    run_id = resolve_run_id(store, run_id)
    page, info = render_report(store, run_id, history=history)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, encoding="utf-8") as fh:
            fh.write(page)
    except OSError as exc:  # a folder under a regular file, no permission, a full disk: the user's to fix
        raise UsageError(f"path: cannot write the report to {path}: {exc}", param="path") from None
    return ReportSummary(path=path, run_id=run_id, seconds=time.perf_counter() - started, **info)


@functools.lru_cache(maxsize=1)
def _page_template():
    """The page template; every ``{{ value }}`` is escaped, None and NaN print as nothing."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("forecasting.reports", "templates"),
        autoescape=True,
        finalize=content.blank,
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the report, not shows blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE)


# --------------------------------------------------------------------------- what the page shows


def _open_run_cache(path: str):
    """The run's cache reader, or ``None`` and a note saying why not."""
    from forecasting.data.cache import open_cache

    try:
        return open_cache(path), None
    except ForecastingError as exc:
        return None, f"The cache recorded with this run is not available ({exc}): the plots show the forecasts only, without history."


def _figure(anchor: str, region: str, frame: pd.DataFrame, cache, tz: str, span: pd.Timedelta, past: dict) -> dict:
    """One region's plot: the backtest's forecast plot of its forecasts, the cache's orders around them, and
    (over the history) what earlier nightly runs forecast for those days."""
    frame = frame.set_index("timestamp").sort_index()
    if cache is not None:
        orders = cache.orders_between(region, frame.index[0] - span, frame.index[-1])
    else:
        orders = pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    earlier, sentence = live_page.region_past(past["store"], region, past["run_date"], past["days"], tz, past["runs_by_id"],
                                              orders if cache is not None else None)
    if earlier is not None:  # within the plotted history only
        earlier = earlier[(earlier.index >= frame.index[0] - span) & (earlier.index < frame.index[0])]
    window = frame[["yhat", "q10", "q90"]].assign(actual=orders.reindex(frame.index))
    model = ", ".join(sorted(set(frame.model.dropna().astype(str))))
    seen = orders[orders.notna() & (orders.index < frame.index[0])].index
    fig = new_figure(FIGSIZE, DPI)
    draw_region_forecast(fig, orders, window, model, tz, past=earlier)  # orders before the forecast start are the history
    png = png_bytes(fig, PNG_COLORS)  # a palette: a page of many plots stays small
    return {
        "anchor": anchor, "region": region, "model": model, "slots": len(frame), "timezone": tz, "past": sentence,
        "known": (tz, int(seen[-1].value // 10**9) if len(seen) else None),  # the region's last actual before the run date
        "start": frame.index[0].tz_convert(tz).strftime("%Y-%m-%d %H:%M"),
        "width": int(FIGSIZE[0] * DPI), "height": int(FIGSIZE[1] * DPI),
        "png_base64": base64.b64encode(png).decode("ascii"),
    }
