"""The importer's input files, each read and validated into the cache's form.

One function per kind of file: regions (``region,name,timezone``), orders
(``region,timestamp,orders``), features (``region,timestamp`` plus numeric
columns), weather forecasts (``region,issued_at,timestamp`` plus numeric
columns), events (``region,start,end,kind`` and optionally ``name``),
promotions (``region,start,end`` and optionally ``name``) and holidays
(``date,name`` and optionally ``region``).

Naive timestamps are read in their region's time zone: a :class:`Zones`
maps regions to zones, with the import's default zone for the others (and
for rows of an empty region, which means every region).  Each reads its file with
:class:`~forecasting.data.csvfile.CsvFile`, raises an
:class:`~forecasting.errors.InputError` for the first bad line, and returns
arrays or frames ready to be written; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.csvfile import CsvFile, first_failure, quote
from forecasting.data.input_checks import (
    STEP_NAMES,
    STEPS,
    check_duplicates,
    check_grid,
    count_checks,
    number_checks,
    parse_times,
    region_checks,
)


@dataclass(frozen=True)
class Zones:
    """Each region's time zone: ``of`` (from a regions file) or ``default``."""

    default: str
    of: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)

    def rows(self, region: pd.Series):
        """The zone of each row of a region column: one name when all share it, else an array."""
        if not self.of:
            return self.default
        return region.map(self.of).fillna(self.default).replace("", self.default).to_numpy(dtype=object)

    def regions(self, regions: np.ndarray) -> pd.DataFrame:
        """The cache's ``regions`` rows (``region, name, timezone``) for these region ids."""
        return pd.DataFrame({
            "region": regions,
            "name": [self.names.get(r, r) for r in regions],
            "timezone": [self.of.get(r, self.default) for r in regions],
        })


def read_regions(path: Path, default: str) -> tuple[Zones, CsvFile, pd.DataFrame]:
    """Read the regions file (``region,name,timezone``); an empty name or zone takes the default."""
    import zoneinfo

    f = CsvFile(path, ("region", "name", "timezone"))
    frame = f.read()
    zone = frame["timezone"].str.strip()

    def known(z):
        try:
            zoneinfo.ZoneInfo(z)
            return True
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            return False

    good = {z: known(z) for z in zone.unique() if z}
    unknown = zone.map(lambda z: bool(z) and not good[z]).to_numpy(dtype=bool)
    checks = region_checks(frame["region"])
    checks.append((unknown, lambda p: f"unknown time zone {quote(frame['timezone'].iloc[p])}; use an IANA name such as America/Chicago"))
    repeated = frame["region"].duplicated().to_numpy()
    checks.append((repeated, lambda p: f"region {quote(frame['region'].iloc[p])} is listed twice"))
    first_failure(f, frame, checks)
    name = frame["name"].str.strip()
    of = {r: (z or default) for r, z in zip(frame["region"], zone)}
    names = {r: (n or r) for r, n in zip(frame["region"], name)}
    return Zones(default, of, names), f, frame


def check_regions_known(f: CsvFile, frame: pd.DataFrame, regions: np.ndarray) -> None:
    """Every region of the regions file must appear in the orders file."""
    first_failure(f, frame, region_checks(frame["region"], known=regions)[-1:])


def validate_orders(path: Path, zones: Zones, step: int | None) -> dict:
    """Read the orders file; infer the slot length (seconds) when ``step`` is None.

    Returns a dict: ``step``, ``phase`` (UTC seconds of the slot grid modulo
    the step), ``regions`` (sorted ids), per row ``codes`` (index into
    regions), ``ts`` (epoch seconds) and ``counts``, and ``rows``.
    """
    f = CsvFile(path, ("region", "timestamp", "orders"))
    frame = f.read()
    tz = zones.rows(frame["region"])
    us, ts_checks = parse_times(frame["timestamp"], tz, "timestamp")
    counts, num_checks = number_checks(frame["orders"], "orders value")
    checks = region_checks(frame["region"]) + ts_checks + num_checks + count_checks(counts, frame["orders"], "orders value")
    first_failure(f, frame, checks)

    regions, codes = np.unique(frame["region"].to_numpy(dtype=object), return_inverse=True)
    seconds = us // 1_000_000
    check_duplicates(f, frame, codes, seconds)
    if step is None:
        step = _infer_step(f, codes, seconds)
    phase = check_grid(f, frame, us, step, tz)
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


def validate_features(path: Path, zones: Zones, step: int, phase: int, regions: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """Read the features file on the orders' slot grid; return the long frame and the feature names."""
    f = CsvFile(path, ("region", "timestamp"), extra=True)
    frame = f.read()
    tz = zones.rows(frame["region"])
    us, ts_checks = parse_times(frame["timestamp"], tz, "timestamp")
    names, values, num_checks = _numeric_columns(frame, ("region", "timestamp"))
    first_failure(f, frame, region_checks(frame["region"], known=regions) + ts_checks + num_checks)
    codes = np.searchsorted(regions, frame["region"].to_numpy(dtype=object))
    seconds = us // 1_000_000
    check_duplicates(f, frame, codes, seconds)
    check_grid(f, frame, us, step, tz, phase)
    region = frame["region"].to_numpy(dtype=object)
    long = [pd.DataFrame({"region": region, "name": name, "ts": seconds, "value": values[name]}) for name in names]
    return pd.concat(long, ignore_index=True).sort_values(["region", "name", "ts"], ignore_index=True), names


def validate_weather_forecasts(
    path: Path, zones: Zones, step: int, phase: int, regions: np.ndarray
) -> tuple[pd.DataFrame, list[str], int]:
    """Read the weather forecasts file (``region,issued_at,timestamp`` plus numeric columns).

    Each row is what a forecast issued at ``issued_at`` said for the slot
    starting at ``timestamp``; slots are on the orders' grid, issue times
    need not be.  A slot at or before its issue time is kept (a nowcast).

    Returns
    -------
    tuple
        The long frame ``region, name, issued_at, ts, value`` (epoch
        seconds) in the table's key order, the variable names, and the
        number of issues (distinct region and ``issued_at``).
    """
    f = CsvFile(path, ("region", "issued_at", "timestamp"), extra=True)
    frame = f.read()
    tz = zones.rows(frame["region"])
    issued_us, issued_checks = parse_times(frame["issued_at"], tz, "issued_at")
    us, ts_checks = parse_times(frame["timestamp"], tz, "timestamp")
    names, values, num_checks = _numeric_columns(frame, ("region", "issued_at", "timestamp"))
    first_failure(f, frame, region_checks(frame["region"], known=regions) + issued_checks + ts_checks + num_checks)
    codes = np.searchsorted(regions, frame["region"].to_numpy(dtype=object))
    seconds, issued = us // 1_000_000, issued_us // 1_000_000
    check_duplicates(f, frame, codes, seconds, issued)
    check_grid(f, frame, us, step, tz, phase)
    region = frame["region"].to_numpy(dtype=object)
    long = [pd.DataFrame({"region": region, "name": name, "issued_at": issued, "ts": seconds, "value": values[name]})
            for name in names]
    out = pd.concat(long, ignore_index=True).sort_values(["region", "name", "issued_at", "ts"], ignore_index=True)
    return out, names, len(pd.DataFrame({"r": codes, "i": issued}).drop_duplicates())


def _numeric_columns(frame: pd.DataFrame, keys: tuple[str, ...]):
    """Every column but ``keys`` parsed as numbers: ``(names, values by name, checks)``."""
    names = [c for c in frame.columns if c not in keys]
    values, checks = {}, []
    for name in names:
        label = name if name.replace(".", "_").isidentifier() else quote(name)
        values[name], num = number_checks(frame[name], f"{label} value")
        checks += num
    return names, values, checks


def validate_events(path: Path, zones: Zones, regions: np.ndarray) -> pd.DataFrame:
    """Read the events file; rows ``region`` (None: everywhere), ``start_ts, end_ts, kind, name``."""
    return _intervals(CsvFile(path, ("region", "start", "end", "kind"), optional=("name",)), zones, regions, "event")


def validate_promotions(path: Path, zones: Zones, regions: np.ndarray) -> pd.DataFrame:
    """Read the promotions file; rows ``region`` (None: everywhere), ``start_ts, end_ts, name``."""
    return _intervals(CsvFile(path, ("region", "start", "end"), optional=("name",)), zones, regions, "promotion")


def _intervals(f: CsvFile, zones: Zones, regions: np.ndarray, what: str) -> pd.DataFrame:
    frame = f.read()
    tz = zones.rows(frame["region"])
    start, start_checks = parse_times(frame["start"], tz, "start")
    end, end_checks = parse_times(frame["end"], tz, "end")
    # Events and promotions need not sit on the slot grid; seconds are precise enough.
    start_s, end_s = start // 1_000_000, end // 1_000_000
    valid = ~np.logical_or.reduce([m for m, _ in start_checks + end_checks])
    checks = region_checks(frame["region"], known=regions, allow_empty=True) + start_checks + end_checks
    checks.append(
        (
            valid & (end_s <= start_s),
            lambda p: f"{what} ends ({quote(frame['end'].iloc[p])}) at or before it starts ({quote(frame['start'].iloc[p])})",
        )
    )
    if "kind" in f.required:
        checks.append((frame["kind"].str.strip().eq("").to_numpy(), lambda p: "empty kind"))
    first_failure(f, frame, checks)
    region = frame["region"].to_numpy(dtype=object).copy()
    region[region == ""] = None
    out = pd.DataFrame({"region": region, "start_ts": start_s, "end_ts": end_s})
    if "kind" in f.required:
        out["kind"] = frame["kind"].to_numpy(dtype=object)
    out["name"] = frame["name"].to_numpy(dtype=object) if "name" in frame else ""
    return out


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
