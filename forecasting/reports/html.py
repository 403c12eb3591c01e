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
* one plot per forecast region: the tail of its history from the cache
  recorded with the run, any actuals the cache holds after the forecast
  start, the point forecast and its q10-q90 band.

Region names, messages and tracebacks are data, not markup: every value is
escaped with :func:`html.escape`.  When the run's cache no longer exists
(or cannot be read) the report still renders, with the forecasts only and a
note saying so.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.timestamps import READABLE_UTC, utc_text
from forecasting.errors import ForecastingError, UsageError

__all__ = ["ReportSummary", "render_report", "resolve_run_id", "write_report"]

#: Size (inches) and resolution of each region's plot: 800 x 260 pixels.
FIGSIZE = (8.0, 2.6)
DPI = 100
#: Default length of history shown before the forecast start.
HISTORY = "14D"

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#222}
h1{font-size:1.5em;margin:.2em 0 .6em}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:13px}th,td{padding:.25em .7em;text-align:left;vertical-align:top;border-bottom:1px solid #eee}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.summary th{width:11em;background:none;color:#555;font-weight:600}
.status{font-weight:700;text-transform:uppercase}.ok,.succeeded{color:#1a7f37}.failed{color:#c62828}.partial,.pending,.running{color:#b26a00}
.bar{height:.8em;background:#1f77b4;min-width:1px;margin-top:.25em}.bar.failed{background:#c62828}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .8em;margin:1em 0}
details{margin:.4em 0;border:1px solid #eee;border-radius:4px;padding:.3em .6em}summary{cursor:pointer}
pre{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;padding:.6em;font-size:12px;overflow-x:auto}
figure{margin:1.2em 0}figcaption{font-weight:600;margin-bottom:.2em}figure img{max-width:100%;height:auto;display:block}
.muted{color:#777;font-weight:400}
"""


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
        raise UsageError(f"--history must be a duration like 14D, got {history!r}")
    run = store.run(run_id)
    outcomes = store.region_outcomes(run_id)
    forecasts = store.forecasts(run_id)
    cache, note = _open_run_cache(run["cache_path"])
    zones = _timezones(cache) if cache is not None else {}

    figures = []
    for n, (region, frame) in enumerate(forecasts.groupby("region", sort=True)):
        frame = frame.set_index("timestamp").sort_index()
        tz = zones.get(region, "UTC")
        orders = None
        if cache is not None and region in zones:
            start, end = frame.index[0], frame.index[-1]
            orders = _orders(cache, region, start - span, end)
        png = forecast_png(frame, orders, tz)
        model = ", ".join(sorted(set(frame.model.dropna().astype(str))))
        figures.append(
            f'<figure id="plot-{n}"><figcaption>{_e(region)} <span class="muted">{_e(model)} &middot; '
            f"{len(frame)} slots from {_e(_local(frame.index[0], tz))} &middot; time zone {_e(tz)}</span></figcaption>"
            f'<img class="forecast" alt="forecast of {_e(region)}" width="{int(FIGSIZE[0] * DPI)}" '
            f'height="{int(FIGSIZE[1] * DPI)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></figure>'
        )
    anchors = {r: f"plot-{n}" for n, r in enumerate(sorted(forecasts.region.unique()))}

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Forecast run {_e(run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Forecast run {_e(run_id)}</h1>",
        _summary_table(run, outcomes),
    ]
    if note:
        parts.append(f'<p class="note">{_e(note)}</p>')
    parts.append(_failures(outcomes))
    parts.append(_timings(outcomes, anchors))
    parts.append(f'<h2>Forecasts <span class="muted">({_regions(len(figures))})</span></h2>')
    if cache is not None:
        parts.append(
            f'<p class="muted">Grey: the last {_e(_duration(span))} of history from the cache; black: actuals the cache holds '
            "after the forecast start; blue: the point forecast and its q10-q90 (80%) band. Times are local to each region.</p>"
        )
    else:
        parts.append('<p class="muted">Blue: the point forecast and its q10-q90 (80%) band (no history: see the note above).</p>')
    missing = sorted(set(outcomes.region[outcomes.status == "ok"]) - set(anchors))
    if missing:
        parts.append(
            f'<p class="note">{len(missing)} region(s) forecast by this run no longer have forecasts in the store '
            f"(replaced by a later run for the same run date): {_e(', '.join(missing))}.</p>"
        )
    parts.extend(figures or ['<p class="muted">No forecasts stored for this run.</p>'])
    parts.append(f'<p class="muted">Generated {_e(utc_text(time.time(), READABLE_UTC))} from {_e(_safe_url(store.url))}.</p></body></html>')
    return "\n".join(parts) + "\n", {"n_regions": len(outcomes), "n_plots": len(figures), "cache_available": cache is not None}


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
    """
    from forecasting.files import atomic_write

    started = time.perf_counter()
    run_id = resolve_run_id(store, run_id)
    page, info = render_report(store, run_id, history=history)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write(page)
    return ReportSummary(path=path, run_id=run_id, seconds=time.perf_counter() - started, **info)


# --------------------------------------------------------------------------- plot


def forecast_png(forecast: pd.DataFrame, orders: pd.Series | None, timezone: str = "UTC") -> bytes:
    """One region's forecast as PNG bytes.

    Parameters
    ----------
    forecast : pandas.DataFrame
        Indexed by UTC timestamps, with columns ``yhat``, ``q10`` and ``q90``.
    orders : pandas.Series or None
        Orders from the cache around the forecast (UTC index, NaN for gaps):
        slots before the forecast start are drawn as history, later ones as
        actuals.  ``None`` draws the forecast alone.
    timezone : str, default "UTC"
        IANA zone in which the time axis is labelled.

    Returns
    -------
    bytes
        A PNG of ``FIGSIZE`` at ``DPI``.
    """
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    from forecasting.reports.plots import _date_numbers, _utc_index

    fc = forecast.set_axis(_utc_index(forecast.index, "forecast"), axis=0).sort_index()
    x = _date_numbers(fc.index)
    # Fixed margins rather than a layout engine: one draw per plot, not two.
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.075, right=0.985, top=0.96, bottom=0.11)
    ax = fig.add_subplot()
    lo, hi = (fc[c].to_numpy(dtype=float) for c in ("q10", "q90"))
    ax.fill_between(x, np.fmin(lo, hi), np.fmax(lo, hi), color="tab:blue", alpha=0.3, linewidth=0, label="q10-q90")
    values = [fc[["yhat", "q10", "q90"]].to_numpy(dtype=float).ravel()]
    xs = [x]
    if orders is not None and len(orders) and len(fc):
        orders = pd.Series(orders.to_numpy(dtype=float), index=_utc_index(orders.index, "orders"))
        before, after = orders[orders.index < fc.index[0]], orders[orders.index >= fc.index[0]]
        if len(before):
            xs.append(_date_numbers(before.index))
            ax.plot(xs[-1], before.to_numpy(), color="0.55", linewidth=1.0, label="history")
        if after.notna().any():
            ax.plot(_date_numbers(after.index), after.to_numpy(), color="black", linewidth=1.0, label="actual")
        values.append(orders.to_numpy())
    ax.plot(x, fc["yhat"].to_numpy(dtype=float), color="tab:blue", linewidth=1.4, label="forecast")
    if len(x):
        ax.axvline(x[0], color="0.3", linestyle="--", linewidth=0.8)
    finite = np.concatenate(values)
    finite = finite[np.isfinite(finite)]
    top = max(float(finite.max()) if finite.size else 1.0, 1.0)
    ax.set_ylim(0 if not finite.size or finite.min() >= 0 else finite.min() * 1.1, top * 1.25)
    allx = np.concatenate(xs)
    if allx.size:
        locator = mdates.AutoDateLocator(tz=timezone, minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone, show_offset=False))
        ax.set_xlim(allx.min(), allx.max() if allx.max() > allx.min() else allx.min() + 1 / 24)
    ax.set_ylabel("orders", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, color="0.92", linewidth=0.7)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", fontsize=7, ncols=4, frameon=False)
    try:
        canvas.draw()
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    finally:
        fig.clear()
    # A 64-colour palette: a quarter of the bytes of full colour, no visible loss on a line plot.
    buf = io.BytesIO()
    image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- data


def _open_run_cache(path: str):
    """The run's cache reader, or ``None`` and a note saying why not."""
    from forecasting.data.cache import open_cache

    try:
        return open_cache(path), None
    except ForecastingError as exc:
        return None, f"The cache recorded with this run is not available ({exc}): the plots show the forecasts only, without history."


def _timezones(cache) -> dict[str, str]:
    """Each region's time zone, from the cache's ``regions`` table."""
    import sqlalchemy as sa

    from forecasting.data import schema

    with cache._engine.connect() as conn:
        return dict(conn.execute(sa.select(schema.regions.c.region, schema.regions.c.timezone)).all())


def _orders(cache, region: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Orders of ``region`` from ``start`` to ``end`` (UTC, inclusive) on a complete slot index."""
    import sqlalchemy as sa

    from forecasting.data import schema
    from forecasting.data.timestamps import from_epoch_seconds, to_epoch_seconds

    lo, hi = (int(v) for v in to_epoch_seconds([start, end]))
    o = schema.orders
    q = sa.select(o.c.ts, o.c.orders).where((o.c.region == region) & (o.c.ts >= lo) & (o.c.ts <= hi)).order_by(o.c.ts)
    with cache._engine.connect() as conn:  # one indexed range query, not the whole region
        rows = conn.execute(q).all()
    if not rows:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    series = pd.Series([np.nan if v is None else float(v) for _, v in rows], index=from_epoch_seconds([t for t, _ in rows]))
    full = pd.date_range(series.index[0], series.index[-1], freq=cache.freq)
    return series.reindex(full)  # missing slots show as gaps


# --------------------------------------------------------------------------- HTML pieces


def _e(value) -> str:
    """``value`` as HTML text; missing values (None, NaN) as nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _regions(n: int) -> str:
    return f"{n} region" if n == 1 else f"{n} regions"


def _local(ts: pd.Timestamp, tz: str) -> str:
    return ts.tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def _duration(value) -> str:
    seconds = value.total_seconds() if isinstance(value, pd.Timedelta) else float(value)
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def _safe_url(url: str) -> str:
    """The store URL without any password."""
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "the results store"


def _summary_table(run: dict, outcomes: pd.DataFrame) -> str:
    counts = outcomes.status.value_counts().to_dict()
    pending = counts.get("pending", 0)
    end = run["finished_at"]
    wall = (end if end else time.time()) - run["started_at"]
    durations = pd.to_numeric(outcomes.duration_s, errors="coerce").dropna()
    models = outcomes.model.dropna().value_counts()
    rows = [
        ("Run id", _e(run["run_id"])),
        ("Kind", _e(run["kind"])),
        ("Run date", _e(run["run_date"])),
        ("Status", f'<span class="status {_e(run["status"])}">{_e(run["status"])}</span>'),
        ("Regions", f"{run['n_regions']} &middot; <span class=\"ok\">{run['n_ok']} ok</span> &middot; "
                    f"<span class=\"failed\">{run['n_failed']} failed</span>" + (f" &middot; {pending} pending" if pending else "")),
        ("Models", _e(", ".join(f"{m} \u00d7{n}" for m, n in models.items())) or "&ndash;"),
        ("Cluster", _e(run["cluster"])),
        ("Started", _e(utc_text(run["started_at"], READABLE_UTC))),
        ("Finished", _e(utc_text(end, READABLE_UTC)) if end else "not finished"),
        ("Wall time", _e(_duration(wall)) + ("" if end else " so far")),
        ("Region time", _e(f"{_duration(durations.sum())} in total, median {_duration(durations.median())}, "
                           f"max {_duration(durations.max())}") if len(durations) else "&ndash;"),
        ("Config hash", f"<code>{_e(run['config_hash'])}</code>"),
        ("Code version", _e(run["code_version"])),
        ("Cache", f"<code>{_e(run['cache_path'])}</code>"),
        ("Message", _e(run["message"]) or "&ndash;"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    try:
        config = json.dumps(json.loads(run["config_json"]), indent=2, sort_keys=True)
    except (TypeError, ValueError):
        config = str(run["config_json"])
    return (f'<table class="summary">{body}</table>'
            f"<details><summary>Configuration</summary><pre>{_e(config)}</pre></details>")


def _failures(outcomes: pd.DataFrame) -> str:
    failed = outcomes[outcomes.status == "failed"]
    if failed.empty:
        return '<h2>Failures</h2><p class="ok">No region failed.</p>'
    items = [
        f"<details open><summary><b>{_e(r.region)}</b>: {_e(r.error_type)}: {_e(r.message)}</summary>"
        f"<pre>{_e(r.traceback or 'no traceback recorded')}</pre></details>"
        for r in failed.itertuples()
    ]
    return f'<h2>Failures <span class="muted">({_regions(len(failed))})</span></h2>' + "".join(items)


def _timings(outcomes: pd.DataFrame, anchors: dict) -> str:
    frame = outcomes.assign(d=pd.to_numeric(outcomes.duration_s, errors="coerce"))
    frame = frame.sort_values(["d", "region"], ascending=[False, True], na_position="last", kind="stable")
    longest = frame.d.max() if frame.d.notna().any() else 0.0
    rows = []
    for r in frame.itertuples():
        name = _e(r.region)
        if r.region in anchors:
            name = f'<a href="#{anchors[r.region]}">{name}</a>'
        width = 100.0 * r.d / longest if longest and not math.isnan(r.d) else 0.0
        bar = f'<div class="bar {_e(r.status)}" style="width:{width:.1f}%"></div>' if width else ""
        rows.append(
            f'<tr><td>{name}</td><td class="{_e(r.status)}">{_e(r.status)}</td><td>{_e(r.model)}</td>'
            f'<td class="num">{_e(r.attempts)}</td><td>{_e(r.worker)}</td>'
            f'<td class="num">{"" if math.isnan(r.d) else f"{r.d:.2f}"}</td><td style="width:30%">{bar}</td></tr>'
        )
    head = "<tr><th>region</th><th>status</th><th>model</th><th>attempts</th><th>worker</th><th>seconds</th><th></th></tr>"
    return (f'<h2>Timings <span class="muted">(slowest first)</span></h2>'
            f'<table class="timings" style="width:100%">{head}{"".join(rows)}</table>')
