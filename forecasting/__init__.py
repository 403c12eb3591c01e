"""Per-region order-volume forecasting, serially, on a local Dask cluster or on YARN.

The Python API (for notebooks and scripts) is importable from here:

* :func:`backtest`, :func:`forecast`, :func:`champions` (:mod:`forecasting.api`)
  and what they return, :class:`BacktestResult` and :class:`ForecastResult`;
* :func:`live_accuracy`, how the stored forecasts turned out (:mod:`forecasting.accuracy`);
* :class:`Forecaster`, the base class of models, and :func:`check_model`, the
  contract a model plug-in must meet (:mod:`forecasting.models`).

They are loaded on first use, so ``import forecasting`` stays cheap for the
command line and the workers.
"""

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "backtest": "forecasting.api",
    "forecast": "forecasting.api",
    "champions": "forecasting.api",
    "live_accuracy": "forecasting.accuracy",
    "BacktestResult": "forecasting.results",
    "ForecastResult": "forecasting.results",
    "Forecaster": "forecasting.models",
    "check_model": "forecasting.models",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'forecasting' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted([*globals(), *_API])
