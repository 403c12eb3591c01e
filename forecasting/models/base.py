"""The one interface every forecasting model implements.

Models follow scikit-learn's conventions: ``__init__`` only stores its
keyword arguments (no validation, no logic), fitted state ends in ``_``,
``fit`` returns ``self``.

Data contract
-------------
``y``
    Orders per slot, a float ``Series`` on a complete UTC ``DatetimeIndex``
    with ``freq`` set; NaN marks unknown slots (gaps).
``X`` / ``X_future``
    Features from :func:`forecasting.engine.features.build_features` on the same
    index as ``y`` / on the slots to forecast.  Column prefixes say what a
    column is (``cal_``, ``fourier_``, ``hol_``, ``evt_``, ``promo_``,
    ``wx_``, ``x_``, ``moon_``); a model picks what it needs.
``horizon``
    Number of slots the model will be asked to forecast after the end of
    ``y``; direct models (GBM) use it to choose lags that are known at
    forecast time.

``predict`` returns a frame on ``X_future.index`` with columns ``yhat``
(point forecast) and one column per quantile in :data:`QUANTILES`
(``q10``, ``q50``, ``q90``); every value finite and non-negative, quantile
columns non-decreasing.

Plug-in contract
----------------
A model of another distribution (a plug-in) is a :class:`Forecaster`
subclass that keeps the contract above, declared in that distribution's
metadata as an entry point of the ``forecasting.models`` group whose name
is the class's ``name``::

    [project.entry-points."forecasting.models"]
    weekly_ridge = "weekly_ridge:WeeklyRidge"

* ``name`` is new: a built-in model (or another plug-in's) is never
  replaced, and a name taken makes the plug-in broken.
* Parameters are keyword-only with defaults, stored as given; values are
  validated in ``fit``.  Fitted state lives in attributes ending in ``_``.
* The fitted model pickles and its class is importable by name on the
  workers: the distribution must be installed in their environment too
  (for YARN, in the packed environment).
* ``fit`` and ``predict`` are deterministic (seed any randomness from a
  parameter) and leave their inputs as they were.
* :func:`forecasting.models.check_model` tests all of this; run it in the
  plug-in's own tests.

A plug-in whose import fails, whose entry point names no ``Forecaster``
subclass, or one whose ``name`` is not the entry point's or is taken, is
broken: reported once per process and left out
(:mod:`forecasting.models.plugins`).
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np
import pandas as pd

from forecasting.models.registry import register as _register

#: Quantile levels every model forecasts, and their column names.
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS: tuple[str, ...] = tuple(f"q{round(q * 100)}" for q in QUANTILES)
FORECAST_COLUMNS: tuple[str, ...] = ("yhat", *QUANTILE_COLUMNS)

_NS_PER_DAY = 86_400 * 10**9


class Forecaster:
    """Base class of the model registry.

    Subclasses set :attr:`name` and implement :meth:`fit` and
    :meth:`predict`; a subclass that sets its own ``name`` is registered
    under it (:func:`forecasting.models.registry.register`) as soon as it is
    defined.  ``class Variant(Base, register=False)`` opts out (a test double
    that only some tests put in the registry).
    """

    #: Registry name, used in configs and in outputs.
    name: ClassVar[str] = ""

    def __init_subclass__(cls, register: bool = True, **kwargs):
        super().__init_subclass__(**kwargs)
        if register:
            _register(cls)

    def __init__(self, **params):
        for key, value in params.items():
            setattr(self, key, value)

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword arguments of ``__init__``."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.KEYWORD_ONLY]

    def get_params(self) -> dict:
        """The constructor arguments, as given."""
        return {k: getattr(self, k) for k in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "Forecaster":
        raise NotImplementedError

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError


def slots_per_day(index: pd.DatetimeIndex) -> int:
    """Number of slots in a day for the index's frequency."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(index.freq))
    return int(pd.Timedelta("1D") / step)


def finalize_forecast(index: pd.DatetimeIndex, point, quantiles: dict[float, np.ndarray]) -> pd.DataFrame:
    """Assemble a forecast frame: clip at zero, sort quantiles, check finiteness.

    Parameters
    ----------
    index : DatetimeIndex
        Slots forecast.
    point : array-like
        Point forecast.
    quantiles : dict
        Quantile level -> array, for every level in :data:`QUANTILES`.

    Raises
    ------
    ValueError
        If any value is not finite.
    """
    cols = {"yhat": np.asarray(point, dtype=float)}
    qs = np.column_stack([np.asarray(quantiles[q], dtype=float) for q in QUANTILES])
    qs = np.sort(qs, axis=1)  # quantile crossing is an artefact of separate fits
    for j, name in enumerate(QUANTILE_COLUMNS):
        cols[name] = qs[:, j]
    frame = pd.DataFrame(cols, index=index).clip(lower=0.0)
    if not np.isfinite(frame.to_numpy()).all():
        raise ValueError("forecast contains NaN or infinite values")
    return frame


def adjust_interval(frame: pd.DataFrame, adjustment: float) -> pd.DataFrame:
    """Widen (or, if negative, narrow) the q10-q90 band by ``adjustment`` on the log1p scale.

    The conformal calibration of :mod:`forecasting.runs.selection` learns the
    adjustment from backtest residuals; the median stays inside the band.
    """
    if not adjustment:
        return frame
    out = frame.copy()
    lo = np.expm1(np.log1p(frame["q10"].to_numpy(dtype=float)) - adjustment).clip(min=0.0)
    hi = np.expm1(np.log1p(frame["q90"].to_numpy(dtype=float)) + adjustment)
    out["q10"] = np.minimum(lo, frame["q50"].to_numpy(dtype=float))
    out["q90"] = np.maximum(hi, frame["q50"].to_numpy(dtype=float))
    return out


def local_offsets(X: pd.DataFrame, step: pd.Timedelta, spd: int) -> np.ndarray:
    """Local minus UTC time of every row of ``X``, in whole slots.

    Recovered from the local ``cal_slot_of_day`` column and the UTC index
    (in ``[-spd/2, spd/2)``; only differences between rows matter); zeros
    without that column.
    """
    if "cal_slot_of_day" not in X.columns or spd < 2:
        return np.zeros(len(X), dtype=np.int64)
    idx = pd.DatetimeIndex(X.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    utc_slot = (idx.as_unit("ns").asi8 % _NS_PER_DAY) // step.as_unit("ns").value
    local = X["cal_slot_of_day"].to_numpy(dtype=float)
    local = np.where(np.isfinite(local), local, utc_slot).astype(np.int64)
    half = spd // 2
    return (local - utc_slot + half) % spd - half


def local_lag_sources(positions: np.ndarray, offsets: np.ndarray, lag: np.ndarray | int, history_offsets: np.ndarray) -> np.ndarray:
    """History position holding the same local time ``lag`` slots earlier, or -1.

    Parameters
    ----------
    positions : ndarray of int
        Target slots (0 = first slot of the history; may lie past its end).
    offsets : ndarray of int
        Local minus UTC time of the targets, in slots.
    lag : int or ndarray of int
        Lag in slots of local time (a whole number of days).
    history_offsets : ndarray of int
        Local minus UTC time of every history slot.

    Returns
    -------
    ndarray of int
        The source position: the UTC lag corrected by the change of offset
        between source and target; where that position lies outside the
        history, the plain UTC lag; -1 where that does too.
    """
    n = len(history_offsets)
    plain = positions - lag
    inside = (plain >= 0) & (plain < n)
    shift = np.where(inside, offsets - history_offsets[np.clip(plain, 0, n - 1)], 0)
    src = plain + shift
    src = np.where((src >= 0) & (src < n), src, plain)
    return np.where((src >= 0) & (src < n), src, -1)
