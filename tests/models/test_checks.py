"""check_model: every built-in model keeps the model contract, and a model that breaks one check is told which."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.models import MODELS, Forecaster, ModelContractError, check_model
from forecasting.models.checks import CHECKS
from forecasting.models.naive import SeasonalNaive

BUILT_IN = sorted(name for name, cls in MODELS.items() if cls.__module__.startswith("forecasting.models."))


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_model_keeps_the_contract(name):
    check_model(MODELS[name])


# ---------------------------------------------------------------- one broken model per check
# Each breaks one rule of the seasonal-naive model (register=False: never in the registry).


class NotAModel:
    name = "not_a_model"


class NoName(SeasonalNaive, register=False):
    name = ""


class Positional(SeasonalNaive, register=False):
    name = "positional"

    def __init__(self, season: str = "7D", n_seasons: int = 8):
        super().__init__(season=season, n_seasons=n_seasons)


class NoDefault(SeasonalNaive, register=False):
    name = "no_default"

    def __init__(self, *, season: str, n_seasons: int = 8):
        super().__init__(season=season, n_seasons=n_seasons)


class Validates(SeasonalNaive, register=False):
    name = "validates"

    def __init__(self, *, season: str = "7D", n_seasons: int = 8):
        if not isinstance(n_seasons, int):
            raise TypeError("n_seasons must be an int")
        super().__init__(season=season, n_seasons=n_seasons)


class Converts(SeasonalNaive, register=False):
    name = "converts"

    def __init__(self, *, season: str = "7D", n_seasons: int = 8):
        super().__init__(season=str(season), n_seasons=n_seasons)


class ExtraAttribute(SeasonalNaive, register=False):
    name = "extra_attribute"

    def __init__(self, *, season: str = "7D", n_seasons: int = 8):
        super().__init__(season=season, n_seasons=n_seasons)
        self.cache = {}


class ReturnsNone(SeasonalNaive, register=False):
    name = "returns_none"

    def fit(self, y, X, horizon):
        super().fit(y, X, horizon)


class PublicState(SeasonalNaive, register=False):
    name = "public_state"

    def fit(self, y, X, horizon):
        self.history = y
        return super().fit(y, X, horizon)


class ChangesParams(SeasonalNaive, register=False):
    name = "changes_params"

    def fit(self, y, X, horizon):
        self.n_seasons = 2
        return super().fit(y, X, horizon)


def _predicting(name: str, change):
    class Changed(SeasonalNaive, register=False):
        def predict(self, X_future):
            return change(super().predict(X_future))

    Changed.name = name
    Changed.__qualname__ = f"Changed_{name}"
    return Changed


class MutatesY(SeasonalNaive, register=False):
    name = "mutates_y"

    def fit(self, y, X, horizon):
        y.iloc[-1] += 1.0
        return super().fit(y, X, horizon)


class MutatesX(SeasonalNaive, register=False):
    name = "mutates_x"

    def predict(self, X_future):
        X_future["extra"] = 1.0
        return super().predict(X_future)


class NoGaps(SeasonalNaive, register=False):
    name = "no_gaps"

    def fit(self, y, X, horizon):
        if y.isna().any():
            raise ValueError("y has NaN")
        return super().fit(y, X, horizon)


class Random(SeasonalNaive, register=False):
    name = "random"

    def fit(self, y, X, horizon):
        self.noise_ = np.random.default_rng().uniform(0, 1)
        return super().fit(y, X, horizon)

    def predict(self, X_future):
        return super().predict(X_future) + self.noise_


class Unpicklable(SeasonalNaive, register=False):
    name = "unpicklable"

    def fit(self, y, X, horizon):
        self.transform_ = lambda v: v
        return super().fit(y, X, horizon)


class HourlyOnly(SeasonalNaive, register=False):
    name = "hourly_only"

    def fit(self, y, X, horizon):
        if y.index.freq != pd.tseries.frequencies.to_offset("h"):
            raise ValueError("hourly data only")
        return super().fit(y, X, horizon)


class WholeHorizonOnly(SeasonalNaive, register=False):
    name = "whole_horizon_only"

    def fit(self, y, X, horizon):
        self.horizon_ = horizon
        return super().fit(y, X, horizon)

    def predict(self, X_future):
        frame = super().predict(X_future)
        return frame.iloc[: self.horizon_] if len(X_future) == self.horizon_ else frame.iloc[:-1]


BROKEN = [
    (NotAModel, "name", "not a subclass"),
    (NoName, "name", "non-empty"),
    (Positional, "init_signature", "keyword-only"),
    (NoDefault, "init_signature", "need a default"),
    (Validates, "init_stores_params", "only store"),
    (Converts, "init_stores_params", "changed season"),
    (ExtraAttribute, "init_stores_params", "exactly its parameters"),
    (ReturnsNone, "fit_returns_self", "not self"),
    (PublicState, "fitted_attributes", "history"),
    (ChangesParams, "fitted_attributes", "changed the parameters"),
    (_predicting("no_q90", lambda f: f.drop(columns="q90")), "predict_output", "exactly yhat, q10, q50, q90"),
    (_predicting("reordered", lambda f: f[["q10", "yhat", "q50", "q90"]]), "predict_output", "exactly"),
    (_predicting("negative", lambda f: f - 1e6), "predict_output", "negative"),
    (_predicting("nan", lambda f: f.assign(yhat=f.yhat.where(np.arange(len(f)) != 3))), "predict_output", "NaN"),
    (_predicting("crossing", lambda f: f.assign(q10=f.q90 + 1)), "predict_output", "cross"),
    (_predicting("integers", lambda f: f.round().astype(int)), "predict_output", "float"),
    (_predicting("naive_index", lambda f: f.set_axis(f.index.tz_localize(None))), "predict_output", "X_future.index"),
    (_predicting("array", lambda f: f.to_numpy()), "predict_output", "DataFrame"),
    (MutatesY, "inputs_unchanged", "input y"),
    (MutatesX, "inputs_unchanged", "input X_future"),
    (NoGaps, "nan_gaps", "y has NaN"),
    (Random, "deterministic", "different forecasts"),
    (Unpicklable, "pickle", "raised"),
    (HourlyOnly, "frequencies_horizons", "hourly data only"),
    (WholeHorizonOnly, "frequencies_horizons", "X_future.index"),
]


@pytest.mark.parametrize("cls, check, detail", BROKEN, ids=[f"{c}-{m.__qualname__}" for m, c, _ in BROKEN])
def test_a_model_that_breaks_a_check_is_told_which(cls, check, detail):
    with pytest.raises(ModelContractError) as raised:
        check_model(cls)
    error = raised.value
    assert error.check == check
    assert f"check {check!r}" in str(error) and cls.__qualname__ in str(error)
    assert detail in str(error)
    assert isinstance(error, AssertionError)  # pytest shows it as a failed assertion


def test_every_check_is_tried_by_some_broken_model():
    assert {check for _, check, _ in BROKEN} == set(CHECKS)


def test_a_model_without_parameters_of_its_own_passes():
    class Plain(Forecaster, register=False):
        name = "plain"

        def fit(self, y, X, horizon):
            self.level_ = float(np.nanmean(y.to_numpy()))
            return self

        def predict(self, X_future):
            level = np.full(len(X_future), self.level_)
            return pd.DataFrame({"yhat": level, "q10": level * 0.5, "q50": level, "q90": level * 1.5}, index=X_future.index)

    Plain.__qualname__ = "Plain"  # a local class does not pickle; the module-level name it gets here does
    globals()["Plain"] = Plain
    try:
        check_model(Plain)
    finally:
        del globals()["Plain"]
