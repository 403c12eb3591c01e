"""Configuration: validated once, immutable, round-trips through plain data."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from forecasting.config import ForecastConfig, load_config
from forecasting.errors import ConfigError


def test_defaults_are_valid():
    config = ForecastConfig().validate()
    assert config.horizon_delta.days == 28
    assert [m.name for m in config.models][0] == "seasonal_naive"


def test_round_trips_through_dict_and_yaml(tmp_path):
    original = ForecastConfig.from_dict(
        {
            "horizon": "14D",
            "models": {"seasonal_naive": {"n_seasons": 4}, "gbm": {"max_iter": 50}},
            "selection_window": "10D",
            "min_history": "30D",
            "max_missing_fraction": 0.25,
            "max_staleness": "2D",
            "retries": 1,
            "max_failed_fraction": 0.2,
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"forecasting": original.to_dict(), "yarn": {"workers": 3}}))
    again = load_config(path)
    assert again == original
    assert again.digest() == original.digest()


def test_handed_dict_is_never_mutated():
    given = {"models": "seasonal_naive,gbm", "horizon": "7D"}
    snapshot = dict(given)
    ForecastConfig.from_dict(given)
    assert given == snapshot


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ForecastConfig().horizon = "1D"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"horizn": "7D"}, "did you mean 'horizon'"),
        ({"horizon": "soon"}, "not a duration"),
        ({"horizon": "-1D"}, "must be positive"),
        ({"models": ["seasonal_naiv"]}, "did you mean 'seasonal_naive'"),
        ({"models": {"gbm": {"max_iters": 3}}}, "max_iter"),
        ({"models": []}, "at least one model"),
        ({"retries": -1}, "retries"),
        ({"max_failed_fraction": 1.5}, "between 0 and 1"),
    ],
)
def test_bad_values_get_clear_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        ForecastConfig.from_dict(data)


def test_overrides_are_validated():
    config = ForecastConfig().with_overrides(horizon="7D", models="gbm", max_failed_fraction=None)
    assert config.horizon == "7D" and [m.name for m in config.models] == ["gbm"]
    with pytest.raises(ConfigError):
        ForecastConfig().with_overrides(horizon="0D")


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("forecasting: [1, 2")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(wrong)


def test_shipped_specs_are_valid():
    from pathlib import Path

    from deploy.yarn.config import load_yarn_config
    from forecasting.backtest import load_backtest_config

    for path in sorted((Path(__file__).parents[1] / "specs").glob("*.yaml")):
        load_config(path)
        load_backtest_config(path)
        load_yarn_config(path).validate(check_files=False)  # the archive lives on the EMR master
