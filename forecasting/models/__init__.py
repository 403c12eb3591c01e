"""Forecasting models and their registry (:mod:`forecasting.models.registry`).

Importing this package imports every model module, and each model class
registers itself under its ``name``; then the model plug-ins of the
installed distributions are loaded (:mod:`forecasting.models.plugins`).
Model modules import their heavy dependencies (statsmodels, scikit-learn
estimators) inside ``fit``, so this stays cheap.

Writing a model: subclass :class:`Forecaster` (its module docstring is the
contract) and test it with :func:`check_model`.
"""

from __future__ import annotations

from forecasting.models.base import Forecaster
from forecasting.models.registry import MODELS, available_models, make_model

# Imported for their side effect: defining a model class registers it.
from forecasting.models import naive, baselines, ets, sarimax, gbm, direct, combination, intermittent  # noqa: E402,F401  isort: skip

# After the built-ins, which a plug-in may then not replace.
from forecasting.models.plugins import broken_plugins, load_plugins, plugin_models  # noqa: E402  isort: skip
from forecasting.models.checks import check_model  # noqa: E402  isort: skip
from forecasting.errors import ModelContractError, PluginError  # noqa: E402  isort: skip

load_plugins()

__all__ = [
    "MODELS", "Forecaster", "ModelContractError", "PluginError", "available_models", "broken_plugins",
    "check_model", "make_model", "plugin_models",
]
