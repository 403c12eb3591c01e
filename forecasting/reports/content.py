"""The text of a run's report: its summary, failures and timings as plain values.

:mod:`forecasting.reports.html` hands these to the page template, which
escapes every one of them; nothing here is markup.  Missing values (None,
NaN) become ``""`` (:func:`blank`) so the page shows nothing rather than
``nan``.

Functions
---------
summary
    The summary table's computed values: counts, times, models, the config.
failures
    Each failed region with its exception, message and traceback.
timings
    Every region, slowest first, with the width of its bar.
blank, utc_time, duration, display_url
    How values read on the page.
"""

from __future__ import annotations

import json
import math
import time

import pandas as pd

__all__ = ["blank", "display_url", "duration", "failures", "summary", "timings", "utc_time"]


def summary(run: dict, outcomes: pd.DataFrame) -> dict:
    """The summary's values that are computed rather than read from the run.

    Parameters
    ----------
    run : dict
        The run's row (:meth:`forecasting.store.runs.ResultsStore.run`).
    outcomes : pandas.DataFrame
        Its regions' outcomes (``region_outcomes``).

    Returns
    -------
    dict
        ``pending`` (regions not done), ``models`` ("name ×count, ..."),
        ``started``, ``finished`` (``""`` while ``running``), ``running``,
        ``wall`` (so far, while running), ``region_time`` (total, median and
        max of the regions' durations; ``""`` without any) and ``config``
        (the configuration as indented JSON).
    """
    end = run["finished_at"]
    wall = (end if end else time.time()) - run["started_at"]
    durations = pd.to_numeric(outcomes.duration_s, errors="coerce").dropna()
    models = outcomes.model.dropna().value_counts()
    try:
        config = json.dumps(json.loads(run["config_json"]), indent=2, sort_keys=True)
    except (TypeError, ValueError):
        config = str(run["config_json"])
    return {
        "pending": outcomes.status.value_counts().get("pending", 0),
        "models": ", ".join(f"{m} \u00d7{n}" for m, n in models.items()),
        "started": utc_time(run["started_at"]),
        "running": not end,
        "finished": utc_time(end) if end else "",
        "wall": duration(wall),
        "region_time": (f"{duration(durations.sum())} in total, median {duration(durations.median())}, "
                        f"max {duration(durations.max())}") if len(durations) else "",
        "config": config,
    }


def failures(outcomes: pd.DataFrame) -> list[dict]:
    """Each failed region: ``region``, ``error_type``, ``message`` and ``traceback``.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        The run's regions' outcomes.

    Returns
    -------
    list of dict
        One per failed region, in the outcomes' order; missing values ``""``.
    """
    failed = outcomes[outcomes.status == "failed"]
    return [{k: blank(getattr(r, k)) for k in ("region", "error_type", "message", "traceback")} for r in failed.itertuples()]


def timings(outcomes: pd.DataFrame, anchors: dict) -> list[dict]:
    """Every region, slowest first (ties by name, unknown durations last).

    Parameters
    ----------
    outcomes : pandas.DataFrame
        The run's regions' outcomes.
    anchors : dict of str to str
        Region to the id of its plot on the page, for regions with one.

    Returns
    -------
    list of dict
        ``region``, ``anchor`` (None without a plot), ``status``, ``model``,
        ``attempts``, ``worker``, ``seconds`` (two decimals, ``""`` when
        unknown) and ``bar`` (width in percent of the slowest, one decimal,
        ``""`` for none).
    """
    frame = outcomes.assign(d=pd.to_numeric(outcomes.duration_s, errors="coerce"))
    frame = frame.sort_values(["d", "region"], ascending=[False, True], na_position="last", kind="stable")
    longest = frame.d.max() if frame.d.notna().any() else 0.0
    rows = []
    for r in frame.itertuples():
        width = 100.0 * r.d / longest if longest and not math.isnan(r.d) else 0.0
        rows.append({
            "region": r.region, "anchor": anchors.get(r.region), "status": blank(r.status), "model": blank(r.model),
            "attempts": blank(r.attempts), "worker": blank(r.worker), "seconds": "" if math.isnan(r.d) else f"{r.d:.2f}",
            "bar": f"{width:.1f}" if width else "",
        })
    return rows


def blank(value):
    """``value`` itself, or ``""`` for a missing one (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def utc_time(ts) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS UTC``; ``""`` for None or NaN."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(ts)))


def duration(value) -> str:
    """A duration (seconds or :class:`pandas.Timedelta`) as whole days, hours, minutes or seconds."""
    seconds = value.total_seconds() if isinstance(value, pd.Timedelta) else float(value)
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def display_url(url: str) -> str:
    """A store URL as shown on the page: without any password (:func:`forecasting.store.urls.shown_url`)."""
    from forecasting.store.urls import shown_url

    return shown_url(url)
