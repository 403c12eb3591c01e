"""The registry is filled by the model classes themselves."""

from __future__ import annotations

import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.models import MODELS, available_models, make_model
from forecasting.models.naive import SeasonalNaive


@pytest.fixture
def registry_snapshot():
    """Whatever a test registers is gone afterwards (other tests list the registry)."""
    before = dict(MODELS)
    yield
    MODELS.clear()
    MODELS.update(before)


def test_a_subclass_with_a_name_is_buildable_by_that_name(registry_snapshot):
    class Doubled(SeasonalNaive):
        name = "test_doubled_naive"

    assert MODELS["test_doubled_naive"] is Doubled and "test_doubled_naive" in available_models()
    model = make_model("test_doubled_naive", {"n_seasons": 2})
    assert isinstance(model, Doubled) and model.n_seasons == 2
    config = ForecastConfig.from_dict({"models": {"test_doubled_naive": {"n_seasons": 2}}})
    assert config.models[0].build().get_params() == model.get_params()


def test_only_classes_that_name_themselves_register(registry_snapshot):
    before = dict(MODELS)

    class Tweaked(SeasonalNaive):  # inherits 'seasonal_naive': not a model of its own
        pass

    class Double(SeasonalNaive, register=False):  # a test double some tests register by hand
        name = "test_unregistered_double"

    assert MODELS == before
    assert MODELS["seasonal_naive"] is SeasonalNaive


def test_a_taken_name_is_refused(registry_snapshot):
    with pytest.raises(TypeError, match="model name 'gbm' is taken by forecasting.models.gbm.GBMForecaster"):
        class Impostor(SeasonalNaive):
            name = "gbm"

    assert MODELS["gbm"].__module__ == "forecasting.models.gbm"
