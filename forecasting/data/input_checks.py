"""Vectorised checks of the values in the importer's CSV columns.

Each ``*_checks`` function returns ``(mask, message)`` pairs for
:func:`forecasting.data.csvfile.first_failure`, which reports the first
failing line: the per-row Python work is limited to writing that one
message.  Covered here: time zones and slot lengths (arguments of the
import), region names, ISO 8601 timestamps (naive ones are wall-clock time
in their region's time zone), numbers, the slot grid and duplicate rows.

Functions that take ``zones`` accept one IANA name for every row, or an
array with each row's zone (regions of several time zones).
"""

from __future__ import annotations

import zoneinfo

import numpy as np
import pandas as pd

from forecasting.data.csvfile import CsvFile, first_failure, quote
from forecasting.errors import UsageError

#: Longest region name accepted (characters).
MAX_REGION_LENGTH = 200

#: Supported slot lengths: seconds -> pandas frequency.
STEPS = {900: "15min", 1800: "30min", 3600: "h"}
STEP_NAMES = "15min, 30min or 1h"
# Outside this range local-time conversion (and any forecast) is meaningless.
_MIN_US = int(pd.Timestamp("1900-01-01").value // 1000)
_MAX_US = int(pd.Timestamp("2200-01-01").value // 1000)
# An explicit UTC offset (Z, +hh, +hhmm, +hh:mm) after a time of day.  Dates
# alone end in "-dd", hence the time part.
_OFFSET_RE = r"\d[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_EXAMPLE = "2024-03-01T14:00:00Z"

#: Most orders accepted in one slot.  A count above it is a unit or parsing
#: mistake (``1e300``, a revenue column, an ID), not demand.
MAX_ORDERS = 1_000_000_000


def check_timezone(timezone: str) -> None:
    """Raise UsageError unless ``timezone`` is an IANA time zone name."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise UsageError(f"unknown time zone {timezone!r}; use an IANA name such as Europe/Berlin or UTC") from None


def step_of(freq: str) -> int:
    """Seconds of the slot length ``freq``; UsageError unless it is one of :data:`STEPS`."""
    try:
        seconds = int(pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds())
    except (ValueError, TypeError):
        seconds = None
    if seconds not in STEPS:
        raise UsageError(f"unsupported slot length {freq!r}; use one of {STEP_NAMES}")
    return seconds


def zone_groups(zones, n: int):
    """``(zone, positions)`` for each time zone of ``zones`` (one name, or one name per row of ``n``)."""
    if isinstance(zones, str):
        return [(zones, np.arange(n))]
    names, inverse = np.unique(np.asarray(zones, dtype=object).astype(str), return_inverse=True)
    return [(str(z), np.flatnonzero(inverse == i)) for i, z in enumerate(names)]


def zone_at(zones, p: int) -> str:
    """The time zone of row ``p``."""
    return zones if isinstance(zones, str) else str(zones[p])


def region_checks(region: pd.Series, known: np.ndarray | None = None, allow_empty: bool = False):
    """Checks of a region column: not empty (unless ``allow_empty``), not too long, no NUL, among ``known``."""
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


def parse_times(text: pd.Series, zones, column: str):
    """Parse ISO 8601 strings to epoch microseconds (UTC).

    Returns ``(us, checks)``: int64 microseconds (0 where invalid) and the
    failure checks for :func:`~forecasting.data.csvfile.first_failure`.
    """
    s = text.str.strip()
    parsed = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
    us = pd.DatetimeIndex(parsed).as_unit("us").asi8.copy()
    ok = ~parsed.isna().to_numpy()
    in_range = ok & (us >= _MIN_US) & (us < _MAX_US)
    naive = ~s.str.contains(_OFFSET_RE, regex=True).to_numpy()
    bad_local = np.zeros(len(s), dtype=bool)
    todo = naive & in_range
    for timezone, rows in zone_groups(zones, len(s)):
        idx = rows[todo[rows]]
        if timezone == "UTC" or not len(idx):
            continue
        # Naive strings were read as UTC; reinterpret that wall time as local.
        wall = pd.DatetimeIndex(us[idx].astype("datetime64[us]"))
        local = wall.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        bad = np.asarray(local.isna())
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
        (bad_local, lambda p: _dst_message(text.iloc[p], parsed.iloc[p], zone_at(zones, p), column)),
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


def number_checks(text: pd.Series, what: str):
    """Parse a column of numbers; return ``(values, checks)`` (empty, not a number, not finite)."""
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


def count_checks(values: np.ndarray, text: pd.Series, what: str):
    """Checks that parsed numbers are plausible counts: not negative, at most :data:`MAX_ORDERS`."""
    return [
        (values < 0, lambda p: f"negative {what} {quote(text.iloc[p])}"),
        (
            np.isfinite(values) & (values > MAX_ORDERS),
            lambda p: f"{what} {quote(text.iloc[p])} is not a plausible count (more than {MAX_ORDERS:,} in one slot)",
        ),
    ]


def local_seconds(seconds: np.ndarray, zones) -> np.ndarray:
    """Wall-clock time in ``zones`` of UTC epoch seconds, as epoch-like seconds."""
    out = np.empty(len(seconds), dtype=np.int64)
    for timezone, rows in zone_groups(zones, len(seconds)):
        utc = pd.DatetimeIndex(seconds[rows].astype("datetime64[s]")).tz_localize("UTC")
        out[rows] = utc.tz_convert(timezone).tz_localize(None).as_unit("s").asi8
    return out


def check_grid(csvfile, frame, us, step: int, zones, phase: int | None = None) -> int:
    """Check that timestamps are slot starts; return the grid's phase (UTC seconds mod step).

    Slots start every ``step`` from local midnight, as the forecast horizon
    does (a run starts at the run date's local midnight).  In zones with a
    half-hour offset the hourly grid is therefore not aligned to UTC hours.
    """
    seconds = us // 1_000_000
    slot = "1h" if step == 3600 else STEPS[step]
    text = frame["timestamp"]
    off = (us % 1_000_000 != 0) | (local_seconds(seconds, zones) % step != 0)
    def off_grid(p):
        return (
            f"timestamp {quote(text.iloc[p])} is not on the {slot} slot grid "
            f"(slots start every {step // 60} minutes from local midnight in {zone_at(zones, p)})"
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
            f"(the UTC offset of {zone_at(zones, p)} changes by part of a slot, or the regions' time zones are "
            "offset by part of a slot); use a shorter slot"
        )

    first_failure(csvfile, frame, [(phases != phase, other_grid)])
    return phase


def check_duplicates(csvfile: CsvFile, frame: pd.DataFrame, codes: np.ndarray, seconds: np.ndarray,
                     issued: np.ndarray | None = None) -> None:
    """Raise InputError naming both lines of the first repeated (region, timestamp).

    With ``issued`` (epoch seconds of an ``issued_at`` column) the key is
    (region, issued_at, timestamp): one forecast per slot and issue.
    """
    keys = pd.DataFrame({"r": codes, "t": seconds} | ({} if issued is None else {"i": issued}))
    dup = keys.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    pos = int(np.argmax(dup))
    same = (codes == codes[pos]) & (seconds == seconds[pos])
    if issued is not None:
        same &= issued == issued[pos]
    first = int(np.argmax(same))
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
    if issued is not None:
        when += f" issued at {quote(frame['issued_at'].iloc[pos])}"
    csvfile.error(f"duplicate row for region {quote(frame['region'].iloc[pos])} at {when}: lines {a} and {b}", b)
