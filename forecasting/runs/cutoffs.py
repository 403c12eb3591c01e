"""Where a backtest's windows go: cutoffs counted back from each region's own last observation.

Real panels do not end on the same day (a region opens late, another stops
sending data), so each region gets the cutoffs of its own history, as
statsforecast's ``cross_validation`` places its windows per series.  With
explicit ``start``/``end`` dates every region gets the cutoffs in that range
its data covers: history before the cutoff, the whole horizon before its last
observation.  A region none fits is skipped, with the reason.
"""

from __future__ import annotations

import pandas as pd

from forecasting.config.backtest import BacktestConfig
from forecasting.config.fields import parse_duration
from forecasting.data.timestamps import freq_seconds, from_epoch_seconds
from forecasting.errors import UsageError


def make_cutoffs(history_end: str, config: BacktestConfig) -> list[str]:
    """Cutoff dates whose whole horizon lies before ``history_end``.

    Parameters
    ----------
    history_end : str
        The first date without data (as a run date would be).
    config : BacktestConfig
        ``horizon``, ``step`` and ``cutoffs`` or ``start``/``end``.

    Raises
    ------
    UsageError
        If no cutoff fits.
    """
    end_day = pd.Timestamp(history_end)
    horizon = parse_duration(config.horizon, "horizon")
    step = parse_duration(config.step, "step")
    latest = end_day - horizon
    if config.cutoffs is not None:
        days = [latest - i * step for i in range(config.cutoffs)][::-1]
    elif config.start or config.end:
        first = pd.Timestamp(config.start) if config.start else latest - pd.Timedelta("365D") + horizon
        last = min(pd.Timestamp(config.end), latest) if config.end else latest
        days = list(pd.date_range(first, last, freq=step))
    else:
        earliest = end_day - pd.Timedelta("365D")
        n = int((latest - earliest) / step) + 1
        days = [latest - i * step for i in range(n)][::-1]
    if not days:
        raise UsageError(f"no cutoff fits: the data ends {history_end} and the horizon is {config.horizon}; choose an earlier start/end")
    return [d.strftime("%Y-%m-%d") for d in days]


def region_cutoffs(summaries: pd.DataFrame, freq: str, config: BacktestConfig, regions: list[str]) -> tuple[dict, dict]:
    """Each region's cutoffs, and the regions skipped with the reason.

    Parameters
    ----------
    summaries : DataFrame
        ``region, timezone, first_ts, last_ts`` (:meth:`~forecasting.data.cache.CacheReader.region_summaries`).
    freq : str
        The cache's slot frequency.
    config : BacktestConfig
        ``horizon``, ``step`` and ``cutoffs`` or ``start``/``end``.
    regions : list of str
        The regions to place cutoffs for, in this order.

    Returns
    -------
    cutoffs : dict
        Region to its ``YYYY-MM-DD`` cutoffs (regions with at least one).
    skipped : dict
        Region to why it has none.

    Raises
    ------
    UsageError
        If no region has a cutoff.
    """
    explicit = bool(config.start or config.end)
    rows = summaries.set_index("region")
    cutoffs, skipped = {}, {}
    for region in regions:
        row = rows.loc[region]
        if pd.isna(row.last_ts):
            skipped[region] = "no orders in the cache"
            continue
        first_day, history_end = _local_days(row, freq)
        try:
            days = make_cutoffs(history_end, config)
        except UsageError:
            days = []
        if explicit:
            # A cutoff on or before the first day has no history to fit on.
            days = [d for d in days if d > first_day]
        if days:
            cutoffs[region] = days
        else:
            last_day = (pd.Timestamp(history_end) - pd.Timedelta("1D")).strftime("%Y-%m-%d")
            skipped[region] = (f"no data in the backtest's range ({config.start or '..'} to {config.end or '..'}): "
                               f"its data runs from {first_day} to {last_day}, the horizon is {config.horizon}")
    if not cutoffs:
        raise UsageError(f"no cutoff fits any region: {next(iter(skipped.values()))}; choose another start/end "
                         f"(the horizon is {config.horizon})")
    return cutoffs, skipped


def _local_days(row, freq: str) -> tuple[str, str]:
    """The region's first local day with data, and the local day after its last slot."""
    first = from_epoch_seconds([int(row.first_ts)])[0].tz_convert(row.timezone)
    after = from_epoch_seconds([int(row.last_ts) + freq_seconds(freq)])[0].tz_convert(row.timezone)
    return first.normalize().strftime("%Y-%m-%d"), after.normalize().strftime("%Y-%m-%d")
