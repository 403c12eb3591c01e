"""The importer's input files, each read and validated into the cache's form.

One function per kind of file: orders (``region,timestamp,orders``),
features (``region,timestamp`` plus numeric columns), events
(``region,start,end,kind`` and optionally ``name``) and holidays
(``date,name`` and optionally ``region``).  Each reads its file with
:class:`~forecasting.data.csvfile.CsvFile`, raises an
:class:`~forecasting.errors.InputError` for the first bad line, and returns
arrays or frames ready to be written; nothing here writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.csvfile import CsvFile, first_failure, quote
from forecasting.data.input_checks import (
    STEP_NAMES,
    STEPS,
    check_duplicates,
    check_grid,
    number_checks,
    parse_times,
    region_checks,
)


def validate_orders(path: Path, timezone: str, step: int | None) -> dict:
    """Read the orders file; infer the slot length (seconds) when ``step`` is None.

    Returns a dict: ``step``, ``phase`` (UTC seconds of the slot grid modulo
    the step), ``regions`` (sorted ids), per row ``codes`` (index into
    regions), ``ts`` (epoch seconds) and ``counts``, and ``rows``.
    """
    f = CsvFile(path, ("region", "timestamp", "orders"))
    frame = f.read()
    us, ts_checks = parse_times(frame["timestamp"], timezone, "timestamp")
    counts, num_checks = number_checks(frame["orders"], "orders value")
    negative = counts < 0
    checks = region_checks(frame["region"]) + ts_checks + num_checks
    checks.append((negative, lambda p: f"negative orders value {quote(frame['orders'].iloc[p])}"))
    first_failure(f, frame, checks)

    regions, codes = np.unique(frame["region"].to_numpy(dtype=object), return_inverse=True)
    seconds = us // 1_000_000
    check_duplicates(f, frame, codes, seconds)
    if step is None:
        step = _infer_step(f, codes, seconds)
    phase = check_grid(f, frame, us, step, timezone)
    return {
        "step": step,
        "phase": phase,
        "regions": regions,
        "codes": codes.astype(np.int64),
        "ts": seconds,
        "counts": counts,
        "rows": len(frame),
    }


def _infer_step(f: CsvFile, codes: np.ndarray, seconds: np.ndarray) -> int:
    order = np.lexsort((seconds, codes))
    c, s = codes[order], seconds[order]
    steps = np.diff(s)[np.diff(c) == 0]
    steps = steps[steps > 0]
    if len(steps) == 0:
        f.error("cannot infer the slot length: no region has two different timestamps; pass the frequency explicitly")
    values, counts = np.unique(steps, return_counts=True)
    best = int(values[np.argmax(counts)])
    if best not in STEPS:
        f.error(
            f"cannot infer the slot length: the most common step between a region's consecutive timestamps is "
            f"{_human(best)}, not {STEP_NAMES}; pass the frequency explicitly"
        )
    return best


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def validate_features(path: Path, timezone: str, step: int, phase: int, regions: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """Read the features file on the orders' slot grid; return the long frame and the feature names."""
    f = CsvFile(path, ("region", "timestamp"), extra=True)
    frame = f.read()
    us, ts_checks = parse_times(frame["timestamp"], timezone, "timestamp")
    names = [c for c in frame.columns if c not in ("region", "timestamp")]
    checks = region_checks(frame["region"], known=regions) + ts_checks
    values = {}
    for name in names:
        label = name if name.replace(".", "_").isidentifier() else quote(name)
        values[name], num = number_checks(frame[name], f"{label} value")
        checks += num
    first_failure(f, frame, checks)
    codes = np.searchsorted(regions, frame["region"].to_numpy(dtype=object))
    seconds = us // 1_000_000
    check_duplicates(f, frame, codes, seconds)
    check_grid(f, frame, us, step, timezone, phase)
    region = frame["region"].to_numpy(dtype=object)
    long = [pd.DataFrame({"region": region, "name": name, "ts": seconds, "value": values[name]}) for name in names]
    return pd.concat(long, ignore_index=True).sort_values(["region", "name", "ts"], ignore_index=True), names


def validate_events(path: Path, timezone: str, regions: np.ndarray) -> pd.DataFrame:
    """Read the events file; rows ``region`` (None: everywhere), ``start_ts, end_ts, kind, name``."""
    f = CsvFile(path, ("region", "start", "end", "kind"), optional=("name",))
    frame = f.read()
    start, start_checks = parse_times(frame["start"], timezone, "start")
    end, end_checks = parse_times(frame["end"], timezone, "end")
    # Events need not sit on the slot grid; seconds are precise enough.
    start_s, end_s = start // 1_000_000, end // 1_000_000
    valid = ~np.logical_or.reduce([m for m, _ in start_checks + end_checks])
    checks = region_checks(frame["region"], known=regions, allow_empty=True) + start_checks + end_checks
    checks.append(
        (
            valid & (end_s <= start_s),
            lambda p: f"event ends ({quote(frame['end'].iloc[p])}) at or before it starts ({quote(frame['start'].iloc[p])})",
        )
    )
    checks.append((frame["kind"].str.strip().eq("").to_numpy(), lambda p: "empty kind"))
    first_failure(f, frame, checks)
    region = frame["region"].to_numpy(dtype=object).copy()
    region[region == ""] = None
    name = frame["name"].to_numpy(dtype=object) if "name" in frame else ""
    kind = frame["kind"].to_numpy(dtype=object)
    return pd.DataFrame({"region": region, "start_ts": start_s, "end_ts": end_s, "kind": kind, "name": name})


def validate_holidays(path: Path, regions: np.ndarray) -> pd.DataFrame:
    """Read the holidays file; rows ``date`` (YYYY-MM-DD), ``name``, ``region`` (None: everywhere)."""
    f = CsvFile(path, ("date", "name"), optional=("region",))
    frame = f.read()
    text = frame["date"].str.strip()
    day = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    checks = [(day.isna().to_numpy(), lambda p: f"date {quote(frame['date'].iloc[p])} is not a YYYY-MM-DD date")]
    checks.append((frame["name"].str.strip().eq("").to_numpy(), lambda p: "empty holiday name"))
    if "region" in frame:
        checks = region_checks(frame["region"], known=regions, allow_empty=True) + checks
    first_failure(f, frame, checks)
    region = frame["region"].to_numpy(dtype=object).copy() if "region" in frame else np.full(len(frame), None, dtype=object)
    region[region == ""] = None
    return pd.DataFrame({"date": day.dt.strftime("%Y-%m-%d").to_numpy(), "name": frame["name"].str.strip().to_numpy(), "region": region})
