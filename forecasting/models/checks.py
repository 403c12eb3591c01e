"""The model contract as a test: :func:`check_model`, like scikit-learn's ``check_estimator``.

A model author (of a built-in model or of a plug-in, see
:mod:`forecasting.models.plugins`) calls ``check_model(MyModel)`` in a test.
The checks run on small synthetic regions made by the project's own
generator (:func:`forecasting.data.synthetic.synthetic_region`), cut into
history and forecast window by the engine (:func:`forecasting.engine.window.cut`)
with the features every model gets in production.  They take a few seconds
per model.
"""

from __future__ import annotations

import copy
import inspect
import pickle
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from forecasting.errors import ModelContractError
from forecasting.models.base import FORECAST_COLUMNS, Forecaster

#: The checks, in the order they run (each name is what a failure reports).
CHECKS = (
    "name", "init_signature", "init_stores_params", "fit_returns_self", "fitted_attributes",
    "predict_output", "inputs_unchanged", "nan_gaps", "deterministic", "pickle", "frequencies_horizons",
)


@dataclass(frozen=True)
class _Case:
    """A synthetic region cut into history (``days`` long) and ``horizon`` to forecast."""

    freq: str
    days: int
    horizon: str
    start: str
    predict_days: int | None = None  # forecast only the first days of the horizon (the nightly hold-out does)


#: Hourly, three weeks crossing a change to summer time (Europe/Berlin), two days ahead.
MAIN = _Case("h", 21, "2D", "2024-03-15")
#: 15-minute slots, one day ahead; hourly slots, longer than a week ahead but only three days of it forecast.
OTHERS = (_Case("15min", 14, "1D", "2024-05-06"), _Case("h", 21, "8D", "2024-09-02", predict_days=3))


class _Broken(Exception):
    """A check's finding (turned into :class:`ModelContractError`)."""


def check_model(cls: type) -> None:
    """Check that a model class keeps the model contract.

    The contract (see :mod:`forecasting.models.base`): the class is a
    :class:`~forecasting.models.base.Forecaster` subclass with a non-empty
    ``name``; ``__init__`` takes keyword-only parameters with defaults and
    only stores them (no validation, no other attributes, so that
    :meth:`~forecasting.models.base.Forecaster.get_params` round-trips);
    ``fit`` returns ``self``, keeps its fitted state in attributes ending
    in ``_`` (or private ones) and leaves the parameters as they were;
    ``predict`` returns a frame on ``X_future.index`` with exactly the
    columns ``yhat, q10, q50, q90``, all float, finite and non-negative, the
    quantiles non-decreasing; neither changes its inputs; NaN gaps in ``y``
    are handled; two fits on the same data forecast the same; a fitted
    model pickles (and a copy rebuilt as unpickling does forecasts the same); and all of this holds for
    15-minute and hourly slots and for several horizons, including a
    forecast of fewer slots than the ``horizon`` given to ``fit``.

    Parameters
    ----------
    cls : type
        The model class (not an instance).  It is constructed with its
        defaults; it need not be registered.

    Raises
    ------
    ModelContractError
        At the first check that fails (an :class:`AssertionError`); its
        message names the model and the check (see :data:`CHECKS`), its
        ``check`` attribute is the check's name.  An exception raised by the
        model itself is reported the same way, chained.

    Examples
    --------
    >>> from forecasting.models import check_model
    >>> from forecasting.models.naive import SeasonalNaive
    >>> check_model(SeasonalNaive)
    """
    label = f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else repr(cls)
    y, X, X_future = _data(MAIN)
    with _check(label, "name"):
        _require(isinstance(cls, type) and issubclass(cls, Forecaster), "not a subclass of forecasting.models.Forecaster")
        _require(isinstance(cls.name, str) and cls.name, f"name must be a non-empty string, got {cls.name!r}")
    with _check(label, "init_signature"):
        names = _init_signature(cls)
    with _check(label, "init_stores_params"):
        _init_stores_params(cls, names)
    model = cls()
    y_in, X_in, X_future_in = y.copy(), X.copy(), X_future.copy()  # a mutated copy cannot spoil the cached data
    with _check(label, "fit_returns_self"):
        attributes = set(vars(model))
        params = model.get_params()
        fitted = model.fit(y_in, X_in, len(X_future))
        _require(fitted is model, f"fit returned {_short(fitted)}, not self")
    with _check(label, "fitted_attributes"):
        public = sorted(a for a in set(vars(model)) - attributes if not (a.endswith("_") or a.startswith("_")))
        _require(not public, f"fit set public attribute(s) {', '.join(public)}: fitted state goes in attributes ending in '_'")
        _require(_same(model.get_params(), params), f"fit changed the parameters: {params} -> {model.get_params()}")
    with _check(label, "predict_output"):
        forecast = model.predict(X_future_in)
        _forecast_contract(forecast, X_future.index)
    with _check(label, "inputs_unchanged"):
        for what, given, original in (("y", y_in, y), ("X", X_in, X), ("X_future", X_future_in, X_future)):
            _require(_unchanged(given, original), f"fit or predict changed its input {what}")
    with _check(label, "nan_gaps"):
        _forecast_contract(cls().fit(_with_gaps(y), X.copy(), len(X_future)).predict(X_future.copy()), X_future.index)
    with _check(label, "deterministic"):
        again = cls().fit(y.copy(), X.copy(), len(X_future)).predict(X_future.copy())
        _require(_close(again, forecast), "two fits on the same data gave different forecasts")
    with _check(label, "pickle"):
        pickle.dumps(model)  # what Dask does with a fitted model
        # The copy is rebuilt by the same __reduce_ex__/__setstate__ as an unpickled one, without
        # unpickling anything (tests/test_security.py: the service never calls pickle.loads).
        restored = copy.deepcopy(model)
        _require(_close(restored.predict(X_future.copy()), forecast), "a copy of the fitted model (rebuilt as unpickling does) forecasts differently")
    for case in OTHERS:
        with _check(label, "frequencies_horizons"):
            y2, X2, future2 = _data(case)
            horizon = len(future2)
            if case.predict_days:
                future2 = future2.iloc[: case.predict_days * len(future2) // int(pd.Timedelta(case.horizon).days)]
            try:
                _forecast_contract(cls().fit(y2.copy(), X2.copy(), horizon).predict(future2.copy()), future2.index)
            except _Broken as exc:
                raise _Broken(f"{case.freq} slots, horizon {case.horizon}: {exc}") from None


@contextmanager
def _check(label: str, name: str):
    try:
        yield
    except _Broken as exc:
        raise ModelContractError(label, name, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the model's own error, reported as the check it broke
        raise ModelContractError(label, name, f"raised {type(exc).__name__}: {exc}") from exc


def _require(condition, detail: str) -> None:
    if not condition:
        raise _Broken(detail)


def _init_signature(cls: type) -> list[str]:
    """Names of ``__init__``'s parameters, after checking they are keyword-only with defaults."""
    if cls.__init__ is Forecaster.__init__:
        return []  # no parameters of its own
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]]
    odd = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
    _require(not odd, f"__init__ parameters must be keyword-only (def __init__(self, *, {', '.join(odd)}=...)), "
                      f"got {', '.join(odd)}")
    missing = [p.name for p in params if p.default is p.empty]
    _require(not missing, f"__init__ parameter(s) {', '.join(missing)} need a default (a config may leave them out)")
    return [p.name for p in params]


def _init_stores_params(cls: type, names: list[str]) -> None:
    model = cls()
    stored = vars(model)
    _require(set(stored) == set(names), f"__init__ must set exactly its parameters as attributes, set {sorted(stored)}")
    params = model.get_params()
    again = cls(**params).get_params()
    _require(_same(again, params), f"constructing with get_params() gave other parameters: {params} -> {again}")
    # Markers no validation accepts and no conversion leaves alone: __init__ must store what it is given.
    markers = {name: _Marker(name) for name in names}
    try:
        marked = cls(**markers)
    except Exception as exc:  # noqa: BLE001 - any error here means __init__ looks at its arguments
        raise _Broken(f"__init__ must only store its parameters (validate them in fit), but it raised "
                      f"{type(exc).__name__}: {exc}") from None
    changed = [name for name in names if getattr(marked, name, None) is not markers[name]]
    _require(not changed, f"__init__ must store its parameters as given, it changed {', '.join(changed)}")


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<marker for {self.name}>"


def _forecast_contract(frame, index: pd.DatetimeIndex) -> None:
    _require(isinstance(frame, pd.DataFrame), f"predict must return a DataFrame, got {_short(frame)}")
    _require(list(frame.columns) == list(FORECAST_COLUMNS),
             f"forecast columns must be exactly {', '.join(FORECAST_COLUMNS)}, got {', '.join(map(str, frame.columns))}")
    _require(frame.index.equals(index), "the forecast is not on X_future.index")
    _require(all(pd.api.types.is_float_dtype(t) for t in frame.dtypes), f"forecast columns must be float, got {frame.dtypes.to_dict()}")
    values = frame.to_numpy(dtype=float)
    _require(np.isfinite(values).all(), "the forecast has NaN or infinite values")
    _require((values >= 0).all(), "the forecast has negative values")
    q10, q50, q90 = (frame[c].to_numpy(dtype=float) for c in ("q10", "q50", "q90"))
    _require(((q10 <= q50) & (q50 <= q90)).all(), "the quantiles q10 <= q50 <= q90 cross")


def _unchanged(given, original) -> bool:
    if getattr(given.index, "freq", None) != getattr(original.index, "freq", None):
        return False
    if isinstance(original, pd.Series):
        return given.name == original.name and given.equals(original)
    return given.columns.equals(original.columns) and (given.dtypes == original.dtypes).all() and given.equals(original)


def _with_gaps(y: pd.Series) -> pd.Series:
    """``y`` with half a day missing in the middle and every 17th slot of its last week."""
    out = y.copy()
    spd = int(pd.Timedelta("1D") / pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq)))
    middle = len(y) // 2
    out.iloc[middle:middle + spd // 2] = np.nan
    out.iloc[-7 * spd::17] = np.nan
    return out


def _close(a, b) -> bool:
    if not (isinstance(a, pd.DataFrame) and a.shape == b.shape and a.index.equals(b.index)):
        return False
    x, z = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    return bool(np.allclose(x, z, rtol=1e-9, atol=1e-9, equal_nan=True))


def _same(a, b) -> bool:
    """Parameter values (or dicts of them) equal, arrays and NaN included."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if a is b or (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b)):
        return True
    try:
        equal = a == b
        return bool(equal) if isinstance(equal, (bool, np.bool_)) else bool(np.array_equal(a, b, equal_nan=True))
    except Exception:  # noqa: BLE001 - values that cannot be compared are not the same
        return False


def _short(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}..." if len(text) > 80 else text


@lru_cache(maxsize=None)
def _data(case: _Case) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """History, its features and the features of the slots to forecast (cached: callers copy)."""
    from forecasting.config.forecast import ForecastConfig
    from forecasting.data.synthetic import SyntheticSpec, synthetic_region
    from forecasting.engine.window import cut

    spec = SyntheticSpec(regions=1, days=case.days, freq=case.freq, seed=1, start=case.start, future_days=14)
    data = synthetic_region(spec, 0)
    origin = (pd.Timestamp(case.start) + pd.Timedelta(days=case.days)).strftime("%Y-%m-%d")
    window = cut(data, origin, ForecastConfig(horizon=case.horizon, min_history="7D"))
    return window.y, window.X, window.X_future
