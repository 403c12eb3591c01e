"""Forecasting models and their registry (:mod:`forecasting.models.registry`).

Importing this package imports every model module, and each model class
registers itself under its ``name``.  Model modules import their heavy
dependencies (statsmodels, scikit-learn estimators) inside ``fit``, so this
stays cheap.
"""

from __future__ import annotations

from forecasting.models.base import Forecaster
from forecasting.models.registry import MODELS, available_models, make_model

# Imported for their side effect: defining a model class registers it.
from forecasting.models import naive, ets, sarimax, gbm, direct, combination  # noqa: E402,F401  isort: skip

__all__ = ["MODELS", "Forecaster", "available_models", "make_model"]
