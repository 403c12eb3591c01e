"""The model registry: model names as used in configs -> Forecaster classes.

Model modules import their heavy dependencies (statsmodels, scikit-learn
estimators) inside ``fit``, so importing the registry stays cheap.
"""

from __future__ import annotations

from forecasting.errors import ConfigError, did_you_mean
from forecasting.models.base import Forecaster
from forecasting.models.combination import Combination
from forecasting.models.direct import GBMDirectForecaster
from forecasting.models.ets import MSTLForecaster
from forecasting.models.gbm import GBMForecaster
from forecasting.models.naive import LocalSeasonalNaive, SeasonalMedian, SeasonalNaive
from forecasting.models.sarimax import SARIMAXForecaster

#: Registered models by name.
MODELS: dict[str, type[Forecaster]] = {
    cls.name: cls
    for cls in (
        SeasonalNaive, LocalSeasonalNaive, SeasonalMedian, MSTLForecaster, SARIMAXForecaster, GBMForecaster,
        GBMDirectForecaster, Combination,
    )
}


def available_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(MODELS)


def make_model(name: str, params: dict | None = None) -> Forecaster:
    """Instantiate a registered model.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"seasonal_naive"``.
    params : dict, optional
        Constructor arguments; values are not validated here (models check
        them when fitting).

    Returns
    -------
    Forecaster
        An unfitted model.

    Raises
    ------
    ConfigError
        If the name or a parameter name is unknown; the message suggests
        close matches and lists what is known.
    """
    cls = MODELS.get(name)
    if cls is None:
        raise ConfigError(f"unknown model {name!r}{did_you_mean(name, MODELS, n=3)}; known models: {', '.join(available_models())}")
    params = dict(params or {})
    known = cls.param_names()
    unknown = sorted(set(params) - set(known), key=str)
    if unknown:
        bad = unknown[0]
        raise ConfigError(
            f"unknown parameter {bad!r} for model {name!r}{did_you_mean(bad, known, n=3)}; "
            f"known parameters: {', '.join(known) if known else '(none)'}"
        )
    return cls(**params)


__all__ = ["MODELS", "Forecaster", "available_models", "make_model"]
