"""Moon phase, from the mean synodic month (no ephemeris dependency).

Accurate to within about a day of the true phase, which is plenty for a
regressor: the moon matters to order volume, if at all, through how light
the night is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SYNODIC_MONTH_DAYS = 29.530588853
#: A well-known new moon (2000-01-06 18:14 UTC), the phase's origin.
REFERENCE_NEW_MOON = pd.Timestamp("2000-01-06 18:14", tz="UTC")


def moon_illumination(index: pd.DatetimeIndex) -> np.ndarray:
    """Illuminated fraction of the moon's disc (0 new, 1 full) at each time.

    Parameters
    ----------
    index : DatetimeIndex
        Times, tz-aware (naive times are taken as UTC).
    """
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    days = (idx - REFERENCE_NEW_MOON) / pd.Timedelta("1D")
    phase = np.mod(np.asarray(days, dtype=float) / SYNODIC_MONTH_DAYS, 1.0)
    return (1.0 - np.cos(2.0 * np.pi * phase)) / 2.0
