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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.cache_writer import CacheWriter
from forecasting.data.input_checks import STEPS, check_timezone, local_seconds, step_of
from forecasting.data.input_files import validate_events, validate_features, validate_holidays, validate_orders
from forecasting.errors import InputError, UsageError

_CHUNK = 100_000


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
    check_timezone(timezone)
    step = None if freq is None else step_of(freq)
    out = Path(out)
    inputs = [Path(p) for p in (orders, features, events, holidays) if p is not None]
    if out.is_dir():
        raise UsageError(f"output {out} is a folder; give the cache file to write")
    for p in inputs:
        if not p.is_file():
            raise InputError("file does not exist" if not p.exists() else "not a file", path=str(p))
        if out.exists() and out.resolve() == p.resolve():
            raise UsageError(f"output {out} is one of the input files")

    o = validate_orders(Path(orders), timezone, step)
    step = o["step"]
    regions = o["regions"]
    feat, names = validate_features(Path(features), timezone, step, o["phase"], regions) if features is not None else (None, [])
    ev = validate_events(Path(events), timezone, regions) if events is not None else None
    hol = validate_holidays(Path(holidays), regions) if holidays is not None else None
    filled, n_filled, gaps = _fill_open_days(o["codes"], o["ts"], o["counts"], regions, timezone, step, o["phase"])

    source = {"generator": "forecasting.data.importer", "orders": str(orders), "timezone": timezone}
    if features is not None:
        source["features"] = str(features)
    if events is not None:
        source["events"] = str(events)
    if holidays is not None:
        source["holidays"] = str(holidays)
    freq_name = STEPS[step]
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


# --------------------------------------------------------------------------- open days


def _fill_open_days(codes, seconds, counts, regions, timezone: str, step: int, phase: int):
    """Zero-fill every slot of each region's open local days; find whole-day gaps.

    Returns ``(orders frame, number of filled slots, gaps)``.
    """
    day = local_seconds(seconds, timezone) // 86400
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
