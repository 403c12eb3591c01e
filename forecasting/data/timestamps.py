"""Timestamps as the cache and the results store keep them.

Both store slot starts as int64 seconds since the epoch, UTC; pandas works
with UTC ``DatetimeIndex`` objects.  These helpers convert between the two,
give the length of a slot, and write one timestamp as text for files and
pages.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

#: ISO 8601 in UTC, for files read by programs (``2024-03-01T14:00:00Z``).
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
#: For pages read by people (``2024-03-01 14:00:00 UTC``).
READABLE_UTC = "%Y-%m-%d %H:%M:%S UTC"


def to_epoch_seconds(values) -> np.ndarray:
    """Convert timestamps (tz-aware, or naive meaning UTC) to int64 epoch seconds."""
    idx = pd.DatetimeIndex(pd.to_datetime(values))
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.as_unit("s").asi8.astype(np.int64)


def from_epoch_seconds(values) -> pd.DatetimeIndex:
    """Convert epoch seconds to a UTC ``DatetimeIndex``."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype=np.int64), unit="s", utc=True))


def freq_seconds(freq: str) -> int:
    """Length of one slot in seconds."""
    return int(pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds())


def utc_text(ts, fmt: str = ISO_UTC) -> str:
    """Epoch seconds ``ts`` as UTC text in ``fmt`` (whole seconds); ``""`` for None or NaN.

    Parameters
    ----------
    ts : int or float or None
        Seconds since the epoch.
    fmt : str
        A :func:`time.strftime` format: :data:`ISO_UTC` or :data:`READABLE_UTC`.
    """
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    return time.strftime(fmt, time.gmtime(int(ts)))
