"""Import orders (and optional features, weather forecasts, events, promotions, holidays) from CSV files into a cache.

Input files (UTF-8, comma-separated, header on line 1, columns in any order):

* orders: ``region,timestamp,orders``; a count is a number from 0 to
  :data:`~forecasting.data.input_checks.MAX_ORDERS`;
* regions: ``region,name,timezone``: each region's name and IANA time zone
  (regions it does not list, and empty cells, take the import's zone);
* features: ``region,timestamp`` plus one or more numeric columns, stored in
  the ``exogenous`` table under the column's name;
* weather forecasts: ``region,issued_at,timestamp`` plus numeric columns
  (normally those of the features file): what a forecast issued at
  ``issued_at`` (any instant) said for the slot starting at ``timestamp``,
  stored in the ``weather_forecasts`` table;
* events: ``region,start,end,kind`` and optionally ``name``; an empty region
  means the event matters everywhere; ``end`` is exclusive;
* promotions: ``region,start,end`` and optionally ``name``, as events;
* holidays: ``date,name`` and optionally ``region``.

Timestamps are ISO 8601.  Those with a UTC offset (or ``Z``) are instants;
naive ones are wall-clock time in their region's time zone.  Empty slots
are filled with 0 only on open days and within a region's observed range
(:mod:`forecasting.data.open_days`); the number filled per region is kept
in the cache's ``meta`` table (key ``filled_slots``).

Everything is validated before anything is written, and the cache is built
with :class:`~forecasting.data.cache_writer.CacheWriter`, so a failed import leaves
neither a partial cache nor a changed destination.  Each problem is reported
as an :class:`~forecasting.errors.InputError` naming the file, the line (the
header is line 1) and what is wrong; only the first problem is reported.

Validation is vectorised: the per-row Python work is limited to locating the
one bad line that is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecasting.data.cache_writer import CacheWriter
from forecasting.data.input_checks import STEPS, check_timezone, step_of
from forecasting.data.input_files import (
    Zones,
    check_regions_known,
    read_regions,
    validate_events,
    validate_features,
    validate_holidays,
    validate_orders,
    validate_promotions,
    validate_weather_forecasts,
)
from forecasting.data.open_days import Gap, fill_open_days
from forecasting.errors import InputError, UsageError

__all__ = ["Gap", "ImportReport", "import_csv"]

_CHUNK = 100_000


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
        Slots without a row on open days, within each region's first and
        last row, stored as 0 orders.
    gaps : tuple of Gap
        Whole days without rows between a region's first and last day; not
        stored, so they read back as NaN.
    path : pathlib.Path
        The cache written.
    exogenous : tuple of str
        Names of the imported feature columns.
    events, holidays, promotions : int
        Number of events, holidays and promotions imported.
    forecast_variables : tuple of str
        Names of the weather forecast file's variable columns.
    forecast_rows, forecast_issues : int
        Data rows of the weather forecasts file, and the issues they hold
        (distinct region and ``issued_at``).
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
    promotions: int = 0
    forecast_variables: tuple[str, ...] = ()
    forecast_rows: int = 0
    forecast_issues: int = 0

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
        if self.forecast_rows:
            lines.append(
                f"  weather forecasts: {', '.join(self.forecast_variables)} ({self.forecast_rows} rows, "
                f"{self.forecast_issues} issue{'s' if self.forecast_issues != 1 else ''})"
            )
        if self.holidays:
            lines.append(f"  {self.holidays} holiday{'s' if self.holidays != 1 else ''}")
        if self.events:
            lines.append(f"  events: {self.events}")
        if self.promotions:
            lines.append(f"  promotions: {self.promotions}")
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


def import_csv(
    orders, out, features=None, events=None, freq: str | None = None, timezone: str = "UTC", holidays=None,
    promotions=None, regions=None, weather_forecasts=None,
) -> ImportReport:
    """Validate CSV files and build a cache from them.

    Parameters
    ----------
    orders : path-like
        CSV with columns ``region,timestamp,orders``.
    out : path-like
        Cache file to write; replaced atomically, untouched if the import fails.
    features : path-like, optional
        CSV with columns ``region,timestamp`` and numeric feature columns.
    weather_forecasts : path-like, optional
        CSV with columns ``region,issued_at,timestamp`` and numeric columns,
        one per forecast variable; ``timestamp`` on the orders' slot grid,
        ``issued_at`` any instant.  No two rows share region, ``issued_at``
        and ``timestamp``.
    events : path-like, optional
        CSV with columns ``region,start,end,kind`` and optionally ``name``.
    holidays : path-like, optional
        CSV with columns ``date,name`` (``YYYY-MM-DD`` local dates) and
        optionally ``region`` (empty: everywhere).
    promotions : path-like, optional
        CSV with columns ``region,start,end`` and optionally ``name``.
    regions : path-like, optional
        CSV with columns ``region,name,timezone``: each region's name and
        time zone; every region listed must appear in ``orders``.
    freq : str, optional
        Slot length (``15min``, ``30min`` or ``h``); inferred when omitted as
        the most common step between consecutive timestamps of a region.
    timezone : str
        IANA time zone of the regions ``regions`` does not give one: of
        their naive timestamps and of the calendar days used to tell open
        days from gaps.

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
    inputs = [Path(p) for p in (orders, features, events, holidays, promotions, regions, weather_forecasts) if p is not None]
    if out.is_dir():
        raise UsageError(f"output {out} is a folder; give the cache file to write")
    for p in inputs:
        if not p.is_file():
            raise InputError("file does not exist" if not p.exists() else "not a file", path=str(p))
        if out.exists() and out.resolve() == p.resolve():
            raise UsageError(f"output {out} is one of the input files")

    zones = Zones(timezone)
    if regions is not None:
        zones, regions_file, regions_rows = read_regions(Path(regions), timezone)
    o = validate_orders(Path(orders), zones, step)
    step = o["step"]
    ids = o["regions"]
    if regions is not None:
        check_regions_known(regions_file, regions_rows, ids)
    feat, names = validate_features(Path(features), zones, step, o["phase"], ids) if features is not None else (None, [])
    wf, wf_names, wf_issues = (
        validate_weather_forecasts(Path(weather_forecasts), zones, step, o["phase"], ids) if weather_forecasts is not None
        else (None, [], 0)
    )
    ev = validate_events(Path(events), zones, ids) if events is not None else None
    promo = validate_promotions(Path(promotions), zones, ids) if promotions is not None else None
    hol = validate_holidays(Path(holidays), ids) if holidays is not None else None
    table = zones.regions(ids)
    filled, per_region, gaps = fill_open_days(o["codes"], o["ts"], o["counts"], ids, table["timezone"].to_numpy(), step, o["phase"])

    source = {"generator": "forecasting.data.importer", "orders": str(orders), "timezone": timezone}
    for key, value in (("features", features), ("events", events), ("holidays", holidays), ("promotions", promotions),
                       ("regions", regions), ("weather_forecasts", weather_forecasts)):
        if value is not None:
            source[key] = str(value)
    freq_name = STEPS[step]
    with CacheWriter(out, freq_name, source=source) as writer:
        writer.add_regions(table)
        writer.set_filled_slots(dict(zip(ids.tolist(), per_region.tolist())))
        for chunk in _chunks(filled):
            writer.add_orders(chunk)
        if feat is not None:
            for chunk in _chunks(feat):
                writer.add_exogenous(chunk)
        if wf is not None:
            for chunk in _chunks(wf):
                writer.add_weather_forecasts(chunk)
        if ev is not None:
            writer.add_events(ev)
        if promo is not None:
            writer.add_promotions(promo)
        if hol is not None:
            writer.add_holidays(hol)
    return ImportReport(
        regions=len(ids),
        rows=o["rows"],
        freq=freq_name,
        filled_slots=int(per_region.sum()),
        gaps=gaps,
        path=out,
        exogenous=tuple(names),
        events=0 if ev is None else len(ev),
        holidays=0 if hol is None else len(hol),
        promotions=0 if promo is None else len(promo),
        forecast_variables=tuple(wf_names),
        forecast_rows=0 if wf is None else len(wf) // max(len(wf_names), 1),
        forecast_issues=wf_issues,
    )


def _chunks(frame: pd.DataFrame):
    for start in range(0, len(frame), _CHUNK):
        yield frame.iloc[start : start + _CHUNK]
