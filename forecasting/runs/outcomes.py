"""What a task gives back: a result, or a failure that is data, not an exception.

Deterministic failures (bad data, a model that cannot fit) are returned as a
:class:`RegionFailure` straight away; retrying them would fail the same way.
Transient failures (:data:`TRANSIENT_ERRORS`) are raised, so that the
executor retries them.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import traceback
from dataclasses import dataclass, field

import pandas as pd

#: Exceptions worth another attempt: the same task may well succeed elsewhere.
TRANSIENT_ERRORS = (OSError, sqlite3.OperationalError, TimeoutError)


@dataclass(frozen=True)
class RegionResult:
    """A region's forecast.

    Attributes
    ----------
    forecast : pandas.DataFrame
        UTC slot index; columns ``yhat, q10, q50, q90``.
    model : str
        The model that produced it.
    scores : dict
        Hold-out MASE per candidate model (empty with a single model).
    diagnostics : dict
        History length, missing fraction, candidate failures, warnings.
    timings : dict
        Seconds spent loading, building features, fitting and in total.
    baseline : pandas.DataFrame, optional
        The seasonal-naive forecast of the same window (live accuracy's
        baseline, :mod:`forecasting.accuracy`); ``None`` where it failed.
    """

    region: str
    run_date: str
    model: str
    forecast: pd.DataFrame
    scores: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    worker: str = ""
    baseline: pd.DataFrame | None = None
    ok = True


@dataclass(frozen=True)
class RegionFailure:
    """Why a task (a region's forecast, or one backtest window) failed."""

    region: str
    key: str
    error_type: str
    message: str
    traceback: str
    worker: str = ""
    duration: float = 0.0
    #: True when the failure may not recur (a worker died, I/O still failing
    #: after the retries): a resumed backtest runs such tasks again.
    retryable: bool = False
    ok = False

    @classmethod
    def from_exception(cls, task, exc: BaseException, tb: str | None = None, worker: str = "", duration: float = 0.0,
                       retryable: bool = False):
        if tb is None:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(task.region, task.key, type(exc).__name__, str(exc) or repr(exc), tb, worker, duration, retryable)


@dataclass(frozen=True)
class WindowResult:
    """Forecast and actuals of one backtest window.

    ``frame`` is indexed by the window's UTC slots with columns ``actual,
    yhat, q10, q50, q90``; ``scale`` is the training history's weekly
    seasonal-naive mean absolute error (MASE's denominator), ``scale_sq``
    its mean squared error (RMSSE's).
    """

    region: str
    key: str
    model: str
    cutoff: str
    frame: pd.DataFrame
    scale: float
    duration: float
    worker: str
    scale_sq: float = float("nan")
    ok = True


def worker_name() -> str:
    """``host:pid`` of the process running the job."""
    return f"{socket.gethostname()}:{os.getpid()}"
