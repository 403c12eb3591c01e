"""Import orders (and optional features and events) from CSV files into a cache.

Input files (UTF-8, comma-separated, header on line 1, columns in any order):

* orders: ``region,timestamp,orders``;
* features: ``region,timestamp`` plus one or more numeric columns, stored in
  the ``exogenous`` table under the column's name;
* events: ``region,start,end,kind`` and optionally ``name``; an empty region
  means the event matters everywhere; ``end`` is exclusive.

Timestamps are ISO 8601.  Those with a UTC offset (or ``Z``) are converted to
UTC; naive ones are wall-clock time in the import's time zone.

Everything is validated before anything is written, and the cache is built
with :class:`~forecasting.data.cache_writer.CacheWriter`, so a failed import leaves
neither a partial cache nor a changed destination.  Each problem is reported
as an :class:`~forecasting.errors.InputError` naming the file, the line (the
header is line 1) and what is wrong; only the first problem is reported.

Validation is vectorised: the per-row Python work is limited to locating the
one bad line that is reported.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.cache_writer import CacheWriter
from forecasting.data.csvfile import CsvFile, first_failure, quote
from forecasting.errors import InputError, UsageError

#: Longest region name accepted (characters).
MAX_REGION_LENGTH = 200

_STEPS = {900: "15min", 1800: "30min", 3600: "h"}
_STEP_NAMES = "15min, 30min or 1h"
# Outside this range local-time conversion (and any forecast) is meaningless.
_MIN_US = int(pd.Timestamp("1900-01-01").value // 1000)
_MAX_US = int(pd.Timestamp("2200-01-01").value // 1000)
# An explicit UTC offset (Z, +hh, +hhmm, +hh:mm) after a time of day.  Dates
# alone end in "-dd", hence the time part.
_OFFSET_RE = r"\d[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_CHUNK = 100_000
_EXAMPLE = "2024-03-01T14:00:00Z"


@dataclass(frozen=True)
class Gap:
    """A run of whole local days without any orders row inside a region's history."""

    region: str
    first_day: dt.date
    last_day: dt.date
    n_days: int

    def __str__(self) -> str:
        span = f"{self.first_day}" if self.n_days == 1 else f"{self.first_day} .. {self.last_day}"
        return f"region {self.region!r}: no rows on {span} ({self.n_days} day{'s' if self.n_days != 1 else ''}), left missing"


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_csv` wrote.

    Attributes
    ----------
    regions : int
        Number of regions.
    rows : int
        Data rows read from the orders file.
    freq : str
        Slot length of the cache (``15min``, ``30min`` or ``h``).
    filled_slots : int
        Slots without a row on open days, stored as 0 orders.
    gaps : tuple of Gap
        Whole days without rows between a region's first and last day; not
        stored, so they read back as NaN.
    path : pathlib.Path
        The cache written.
    exogenous : tuple of str
        Names of the imported feature columns.
    events : int
        Number of events imported.
    """

    regions: int
    rows: int
    freq: str
    filled_slots: int
    gaps: tuple[Gap, ...]
    path: Path
    exogenous: tuple[str, ...] = ()
    events: int = 0
    holidays: int = 0

    def summary(self, max_gaps: int = 10) -> str:
        """A few human-readable lines, the gaps included (at most ``max_gaps`` of them)."""
        slot = "1h" if self.freq == "h" else self.freq
        lines = [
            f"wrote {self.path}: {self.regions} region{'s' if self.regions != 1 else ''}, "
            f"{self.rows} orders rows, {slot} slots",
            f"  {self.filled_slots} empty slot{'s' if self.filled_slots != 1 else ''} on open days stored as 0 orders",
        ]
        if self.exogenous:
            lines.append(f"  features: {', '.join(self.exogenous)}")
        if self.holidays:
            lines.append(f"  {self.holidays} holiday{'s' if self.holidays != 1 else ''}")
        if self.events:
            lines.append(f"  events: {self.events}")
        if self.gaps:
            days = sum(g.n_days for g in self.gaps)
            lines.append(
                f"  {len(self.gaps)} gap{'s' if len(self.gaps) != 1 else ''} "
                f"({days} day{'s' if days != 1 else ''} without rows, left missing):"
            )
            lines += [f"    {g}" for g in self.gaps[:max_gaps]]
            if len(self.gaps) > max_gaps:
                lines.append(f"    ... and {len(self.gaps) - max_gaps} more")
        return "\n".join(lines)


def import_csv(orders, out, features=None, events=None, freq: str | None = None, timezone: str = "UTC", holidays=None) -> ImportReport:
    """Validate CSV files and build a cache from them.

    Parameters
    ----------
    orders : path-like
        CSV with columns ``region,timestamp,orders``.
    out : path-like
        Cache file to write; replaced atomically, untouched if the import fails.
    features : path-like, optional
        CSV with columns ``region,timestamp`` and numeric feature columns.
    events : path-like, optional
        CSV with columns ``region,start,end,kind`` and optionally ``name``.
    holidays : path-like, optional
        CSV with columns ``date,name`` (``YYYY-MM-DD`` local dates) and
        optionally ``region`` (empty: everywhere).
    freq : str, optional
        Slot length (``15min``, ``30min`` or ``h``); inferred when omitted as
        the most common step between consecutive timestamps of a region.
    timezone : str
        IANA time zone of naive timestamps, of the regions, and of the
        calendar days used to tell open days from gaps.

    Returns
    -------
    ImportReport

    Raises
    ------
    InputError
        For the first problem found in the files; nothing is written then.
    UsageError
        For an unknown time zone or unsupported ``freq``, or ``out`` being a
        folder or one of the inputs.
    """
    _check_timezone(timezone)
    step = None if freq is None else _step_of(freq)
    out = Path(out)
    inputs = [Path(p) for p in (orders, features, events, holidays) if p is not None]
    if out.is_dir():
        raise UsageError(f"output {out} is a folder; give the cache file to write")
    for p in inputs:
        if not p.is_file():
            raise InputError("file does not exist" if not p.exists() else "not a file", path=str(p))
        if out.exists() and out.resolve() == p.resolve():
            raise UsageError(f"output {out} is one of the input files")

    o = _validate_orders(Path(orders), timezone, step)
    step = o["step"]
    regions = o["regions"]
    feat, names = _validate_features(Path(features), timezone, step, o["phase"], regions) if features is not None else (None, [])
    ev = _validate_events(Path(events), timezone, regions) if events is not None else None
    hol = _validate_holidays(Path(holidays), regions) if holidays is not None else None
    filled, n_filled, gaps = _fill_open_days(o["codes"], o["ts"], o["counts"], regions, timezone, step, o["phase"])

    source = {"generator": "forecasting.data.importer", "orders": str(orders), "timezone": timezone}
    if features is not None:
        source["features"] = str(features)
    if events is not None:
        source["events"] = str(events)
    if holidays is not None:
        source["holidays"] = str(holidays)
    freq_name = _STEPS[step]
    with CacheWriter(out, freq_name, source=source) as writer:
        writer.add_regions(pd.DataFrame({"region": regions, "name": regions, "timezone": timezone}))
        for chunk in _chunks(filled):
            writer.add_orders(chunk)
        if feat is not None:
            for chunk in _chunks(feat):
                writer.add_exogenous(chunk)
        if ev is not None:
            writer.add_events(ev)
        if hol is not None:
            writer.add_holidays(hol)
    return ImportReport(
        regions=len(regions),
        rows=o["rows"],
        freq=freq_name,
        filled_slots=n_filled,
        gaps=gaps,
        path=out,
        exogenous=tuple(names),
        events=0 if ev is None else len(ev),
        holidays=0 if hol is None else len(hol),
    )


# --------------------------------------------------------------------------- values


def _check_timezone(timezone: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise UsageError(f"unknown time zone {timezone!r}; use an IANA name such as Europe/Berlin or UTC") from None


def _step_of(freq: str) -> int:
    try:
        seconds = int(pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds())
    except (ValueError, TypeError):
        seconds = None
    if seconds not in _STEPS:
        raise UsageError(f"unsupported slot length {freq!r}; use one of {_STEP_NAMES}")
    return seconds


def _region_checks(region: pd.Series, known: np.ndarray | None = None, allow_empty: bool = False):
    checks = []
    if not allow_empty:
        checks.append((region.eq("").to_numpy(), lambda p: "empty region"))
    checks.append(
        (region.str.len().gt(MAX_REGION_LENGTH).to_numpy(), lambda p: f"region name longer than {MAX_REGION_LENGTH} characters")
    )
    checks.append((region.str.contains("\x00", regex=False).to_numpy(), lambda p: "region name contains a NUL character"))
    if known is not None:
        absent = ~region.isin(known).to_numpy()
        if allow_empty:
            absent &= region.ne("").to_numpy()
        checks.append((absent, lambda p: f"region {quote(region.iloc[p])} does not appear in the orders file"))
    return checks


def _parse_times(text: pd.Series, timezone: str, column: str):
    """Parse ISO 8601 strings to epoch microseconds (UTC).

    Returns ``(us, checks)``: int64 microseconds (0 where invalid) and the
    failure checks for :func:`_first_failure`.
    """
    s = text.str.strip()
    parsed = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
    us = pd.DatetimeIndex(parsed).as_unit("us").asi8.copy()
    ok = ~parsed.isna().to_numpy()
    in_range = ok & (us >= _MIN_US) & (us < _MAX_US)
    naive = ~s.str.contains(_OFFSET_RE, regex=True).to_numpy()
    bad_local = np.zeros(len(s), dtype=bool)
    todo = naive & in_range
    if timezone != "UTC" and todo.any():
        # Naive strings were read as UTC; reinterpret that wall time as local.
        wall = pd.DatetimeIndex(us[todo].astype("datetime64[us]"))
        local = wall.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        bad = np.asarray(local.isna())
        idx = np.flatnonzero(todo)
        bad_local[idx[bad]] = True
        us[idx[~bad]] = local[~bad].as_unit("us").asi8
    us[~in_range | bad_local] = 0

    def unparseable(p):
        if s.iloc[p] == "":
            return f"empty {column}"
        return f"unparseable {column} {quote(text.iloc[p])} (expected ISO 8601, e.g. {_EXAMPLE})"

    checks = [
        (~ok, unparseable),
        (ok & ~in_range, lambda p: f"{column} {quote(text.iloc[p])} is outside the supported years 1900-2199"),
        (bad_local, lambda p: _dst_message(text.iloc[p], parsed.iloc[p], timezone, column)),
    ]
    return us, checks


def _dst_message(text: str, parsed: pd.Timestamp, timezone: str, column: str) -> str:
    wall = parsed.tz_localize(None)
    gap = pd.isna(wall.tz_localize(timezone, ambiguous=True, nonexistent="NaT"))
    what = "does not exist (clocks skip it" if gap else "is ambiguous (it occurs twice"
    return (
        f"{column} {quote(text)} {what} when daylight-saving time changes in {timezone}); "
        "give timestamps with a UTC offset, e.g. 2024-03-31T01:30:00+01:00, or in UTC with Z"
    )


def _number_checks(text: pd.Series, what: str):
    s = text.str.strip()
    values = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
    nan_text = s.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()
    finite = np.isfinite(values)
    checks = [
        (s.eq("").to_numpy(), lambda p: f"empty {what}"),
        (np.isnan(values) & ~nan_text, lambda p: f"{what} {quote(text.iloc[p])} is not a number"),
        (~finite, lambda p: f"{what} {quote(text.iloc[p])} is not a finite number"),
    ]
    return values, checks


def _local_seconds(seconds: np.ndarray, timezone: str) -> np.ndarray:
    """Wall-clock time in ``timezone`` of UTC epoch seconds, as epoch-like seconds."""
    utc = pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")
    return utc.tz_convert(timezone).tz_localize(None).as_unit("s").asi8


def _check_grid(csvfile, frame, us, step: int, timezone: str, phase: int | None = None) -> int:
    """Check that timestamps are slot starts; return the grid's phase (UTC seconds mod step).

    Slots start every ``step`` from local midnight, as the forecast horizon
    does (a run starts at the run date's local midnight).  In zones with a
    half-hour offset the hourly grid is therefore not aligned to UTC hours.
    """
    seconds = us // 1_000_000
    slot = "1h" if step == 3600 else _STEPS[step]
    text = frame["timestamp"]
    off = (us % 1_000_000 != 0) | (_local_seconds(seconds, timezone) % step != 0)
    def off_grid(p):
        return (
            f"timestamp {quote(text.iloc[p])} is not on the {slot} slot grid "
            f"(slots start every {step // 60} minutes from local midnight in {timezone})"
        )

    first_failure(csvfile, frame, [(off, off_grid)])
    # The cache stores one grid: every slot start is the same phase modulo the
    # step.  Only zones whose UTC offset moves by part of a slot break this.
    phases = seconds % step
    if phase is None:
        phase = int(phases[0])
    def other_grid(p):
        return (
            f"timestamp {quote(text.iloc[p])} is not on the same {slot} slot grid as the orders' first row "
            f"(the UTC offset of {timezone} changes by part of a slot); use a shorter slot"
        )

    first_failure(csvfile, frame, [(phases != phase, other_grid)])
    return phase


def _check_duplicates(csvfile: CsvFile, frame: pd.DataFrame, codes: np.ndarray, seconds: np.ndarray) -> None:
    keys = pd.DataFrame({"r": codes, "t": seconds})
    dup = keys.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    pos = int(np.argmax(dup))
    first = int(np.argmax((codes == codes[pos]) & (seconds == seconds[pos])))
    # Locate both lines with one scan.
    labels = {int(frame.index[first]): None, int(frame.index[pos]): None}
    for i, start, _ in csvfile._records():
        if i in labels:
            labels[i] = start
            if all(v is not None for v in labels.values()):
                break
    a, b = labels[int(frame.index[first])], labels[int(frame.index[pos])]
    column = frame["timestamp"]
    when = quote(column.iloc[pos])
    if column.iloc[pos].strip() != column.iloc[first].strip():
        when += f" (= {quote(column.iloc[first])})"
    csvfile.error(f"duplicate row for region {quote(frame['region'].iloc[pos])} at {when}: lines {a} and {b}", b)


# --------------------------------------------------------------------------- the three files


def _validate_orders(path: Path, timezone: str, step: int | None) -> dict:
    f = CsvFile(path, ("region", "timestamp", "orders"))
    frame = f.read()
    us, ts_checks = _parse_times(frame["timestamp"], timezone, "timestamp")
    counts, num_checks = _number_checks(frame["orders"], "orders value")
    negative = counts < 0
    checks = _region_checks(frame["region"]) + ts_checks + num_checks
    checks.append((negative, lambda p: f"negative orders value {quote(frame['orders'].iloc[p])}"))
    first_failure(f, frame, checks)

    regions, codes = np.unique(frame["region"].to_numpy(dtype=object), return_inverse=True)
    seconds = us // 1_000_000
    _check_duplicates(f, frame, codes, seconds)
    if step is None:
        step = _infer_step(f, codes, seconds)
    phase = _check_grid(f, frame, us, step, timezone)
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
    if best not in _STEPS:
        f.error(
            f"cannot infer the slot length: the most common step between a region's consecutive timestamps is "
            f"{_human(best)}, not {_STEP_NAMES}; pass the frequency explicitly"
        )
    return best


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _validate_features(path: Path, timezone: str, step: int, phase: int, regions: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    f = CsvFile(path, ("region", "timestamp"), extra=True)
    frame = f.read()
    us, ts_checks = _parse_times(frame["timestamp"], timezone, "timestamp")
    names = [c for c in frame.columns if c not in ("region", "timestamp")]
    checks = _region_checks(frame["region"], known=regions) + ts_checks
    values = {}
    for name in names:
        label = name if name.replace(".", "_").isidentifier() else quote(name)
        values[name], num = _number_checks(frame[name], f"{label} value")
        checks += num
    first_failure(f, frame, checks)
    codes = np.searchsorted(regions, frame["region"].to_numpy(dtype=object))
    seconds = us // 1_000_000
    _check_duplicates(f, frame, codes, seconds)
    _check_grid(f, frame, us, step, timezone, phase)
    region = frame["region"].to_numpy(dtype=object)
    long = [pd.DataFrame({"region": region, "name": name, "ts": seconds, "value": values[name]}) for name in names]
    return pd.concat(long, ignore_index=True).sort_values(["region", "name", "ts"], ignore_index=True), names


def _validate_events(path: Path, timezone: str, regions: np.ndarray) -> pd.DataFrame:
    f = CsvFile(path, ("region", "start", "end", "kind"), optional=("name",))
    frame = f.read()
    start, start_checks = _parse_times(frame["start"], timezone, "start")
    end, end_checks = _parse_times(frame["end"], timezone, "end")
    # Events need not sit on the slot grid; seconds are precise enough.
    start_s, end_s = start // 1_000_000, end // 1_000_000
    valid = ~np.logical_or.reduce([m for m, _ in start_checks + end_checks])
    checks = _region_checks(frame["region"], known=regions, allow_empty=True) + start_checks + end_checks
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


def _validate_holidays(path: Path, regions: np.ndarray) -> pd.DataFrame:
    f = CsvFile(path, ("date", "name"), optional=("region",))
    frame = f.read()
    text = frame["date"].str.strip()
    day = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    checks = [(day.isna().to_numpy(), lambda p: f"date {quote(frame['date'].iloc[p])} is not a YYYY-MM-DD date")]
    checks.append((frame["name"].str.strip().eq("").to_numpy(), lambda p: "empty holiday name"))
    if "region" in frame:
        checks = _region_checks(frame["region"], known=regions, allow_empty=True) + checks
    first_failure(f, frame, checks)
    region = frame["region"].to_numpy(dtype=object).copy() if "region" in frame else np.full(len(frame), None, dtype=object)
    region[region == ""] = None
    return pd.DataFrame({"date": day.dt.strftime("%Y-%m-%d").to_numpy(), "name": frame["name"].str.strip().to_numpy(), "region": region})


# --------------------------------------------------------------------------- open days


def _fill_open_days(codes, seconds, counts, regions, timezone: str, step: int, phase: int):
    """Zero-fill every slot of each region's open local days; find whole-day gaps.

    Returns ``(orders frame, number of filled slots, gaps)``.
    """
    day = _local_seconds(seconds, timezone) // 86400
    pairs = pd.DataFrame({"code": codes, "day": day}).drop_duplicates().sort_values(["code", "day"], ignore_index=True)
    pc, pd_ = pairs["code"].to_numpy(), pairs["day"].to_numpy()

    # UTC bounds of each local day.  A midnight skipped by a DST change starts
    # the day at the first instant that exists; a repeated one at the earlier.
    days = np.unique(np.concatenate([pd_, pd_ + 1]))
    midnights = pd.DatetimeIndex((days * 86400).astype("datetime64[s]"))
    bounds = midnights.tz_localize(timezone, ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward")
    bound_s = bounds.as_unit("s").asi8
    day_start = bound_s[np.searchsorted(days, pd_)]
    day_end = bound_s[np.searchsorted(days, pd_ + 1)]
    first = day_start + (phase - day_start) % step
    n = np.maximum((day_end - first + step - 1) // step, 0)
    total = int(n.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    grid = pd.DataFrame({"code": np.repeat(pc, n), "ts": np.repeat(first, n) + offsets * step, "orders": 0.0})
    observed = pd.DataFrame({"code": codes, "ts": seconds, "orders": counts})
    full = pd.concat([observed, grid], ignore_index=True).drop_duplicates(["code", "ts"], keep="first")
    full = full.sort_values(["code", "ts"], ignore_index=True)
    n_filled = len(full) - len(observed)
    full.insert(0, "region", regions[full.pop("code").to_numpy()])

    same = np.r_[False, pc[1:] == pc[:-1]]
    jump = np.r_[0, np.diff(pd_)]
    at = np.flatnonzero(same & (jump > 1))
    epoch = dt.date(1970, 1, 1)
    gaps = tuple(
        Gap(
            region=str(regions[pc[i]]),
            first_day=epoch + dt.timedelta(days=int(pd_[i - 1] + 1)),
            last_day=epoch + dt.timedelta(days=int(pd_[i] - 1)),
            n_days=int(pd_[i] - pd_[i - 1] - 1),
        )
        for i in at
    )
    return full, n_filled, gaps


def _chunks(frame: pd.DataFrame):
    for start in range(0, len(frame), _CHUNK):
        yield frame.iloc[start : start + _CHUNK]
