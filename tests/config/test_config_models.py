"""The config models: round trips, errors that name key and value, strict types, stable digests."""

from __future__ import annotations

import dataclasses
import datetime
import pickle

import pytest
import yaml

from deploy.yarn.config import YarnConfig
from forecasting.config.backtest import BacktestConfig
from forecasting.config.forecast import ForecastConfig
from forecasting.errors import ConfigError

#: One config of each kind, every field away from its default where it can be.
EXAMPLES = [
    ForecastConfig.from_dict({
        "horizon": "14D", "selection_window": "10D", "min_history": "30D", "max_staleness": "2D", "retries": 0,
        "max_missing_fraction": 1, "max_failed_fraction": 0.25, "interval_adjustment": -0.5, "inner_parallelism": "dask",
        "models": ["seasonal_naive", {"sarimax": {"order": [1, 0, 1]}}, {"combination": {"members": ["gbm", "mstl"]}}],
    }),
    BacktestConfig.from_dict({
        "horizon": "14D", "step": "14D", "start": datetime.date(2024, 1, 1), "end": "2024-06-30",
        "models": {"gbm": {"max_iter": 50}, "sarimax": {}}, "grid": {"sarimax": {"order": [[1, 0, 0], [1, 0, 1]]}},
        "search": "random", "n_samples": 2, "seed": 7, "buckets": "14D", "min_windows": 2, "default_model": "gbm", "top_k": 0,
    }),
    BacktestConfig.from_dict({"cutoffs": 5}),
    YarnConfig.from_dict({
        "name": "nightly", "queue": "q", "tags": ["a", "b"], "node_label": "cpu", "user": "svc", "workers": 3,
        "worker_memory": "6 GiB", "worker_vcores": 2, "worker_restarts": 0, "scheduler_memory": "1 GiB",
        "master_memory": "1 GiB", "environment": "hdfs:///env.tar.gz", "environment_visibility": "public",
        "files": {"extra.txt": "/etc/hostname"}, "env": {"TZ": "UTC", "OMP_NUM_THREADS": 1}, "principal": "svc@EXAMPLE.COM",
        "keytab": "/etc/svc.keytab", "deploy_timeout": "45s", "tls": True,
    }),
]
_IDS = ["forecast", "backtest-dates", "backtest-cutoffs", "yarn"]


@pytest.mark.parametrize("config", EXAMPLES, ids=_IDS)
def test_every_config_round_trips_through_dict_and_yaml(config):
    cls = type(config)
    assert cls.from_dict(config.to_dict()) == config
    again = cls.from_dict(yaml.safe_load(yaml.safe_dump({cls.namespace: config.to_dict()}))[cls.namespace])
    assert again == config and hash(again) == hash(config)
    assert cls.from_dict({}) == cls()


@pytest.mark.parametrize("config", EXAMPLES, ids=_IDS)
def test_configs_are_immutable_hashable_and_pickle_small(config):
    first = next(iter(type(config).model_fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, first, getattr(type(config)(), first))
    assert {config: 1}[config] == 1
    blob = pickle.dumps(config)
    assert pickle.loads(blob) == config and len(blob) < 1500  # it travels inside every task


def test_digests_and_dicts_did_not_change_with_the_rewrite():
    # Recorded with the hand-written dataclasses: run and backtest ids depend on them.
    assert ForecastConfig().digest() == "69ca4d367f7a3157"
    assert ForecastConfig.from_dict({"horizon": "14D", "models": {"seasonal_naive": {"n_seasons": 4}, "gbm": {"max_iter": 50}},
                                     "max_failed_fraction": 0.2, "retries": 1}).digest() == "9eb5f7e181622e49"
    odd = ForecastConfig.from_dict({"max_missing_fraction": 1, "horizon": " 7D", "inner_parallelism": "dask"})
    assert odd.digest() == "b720b5c1ea028a35" and odd.to_dict()["max_missing_fraction"] == 1  # an int stays an int


@pytest.mark.parametrize(
    "cls, data, key, words",
    [
        (ForecastConfig, {"max_missing_fraction": 2}, "max_missing_fraction", ["must be a number between 0 and 1", "got 2"]),
        (ForecastConfig, {"min_history": "a while"}, "min_history", ["min_history: 'a while' is not a duration"]),
        (ForecastConfig, {"models": {"gbm": {"max_iters": 3}}}, "models", ["unknown parameter 'max_iters'", "did you mean 'max_iter'"]),
        (BacktestConfig, {"n_samples": 0}, "n_samples", ["n_samples must be a whole number >= 1, got 0"]),
        (BacktestConfig, {"buckets": "12h"}, "buckets", ["buckets must be whole days, got '12h'"]),
        (BacktestConfig, {"cutoffs": 2, "end": "2024-01-01"}, "cutoffs", ["either cutoffs or start/end"]),
        (YarnConfig, {"worker_vcores": "2"}, "worker_vcores", ["worker_vcores must be a whole number >= 1", "got '2'"]),
        (YarnConfig, {"scheduler_memory": "2GB"}, "scheduler_memory", ["scheduler_memory: '2GB'", "did you mean '2 GiB'"]),
        (YarnConfig, {"env": {"1X": "y"}}, "env", ["env: '1X' is not an environment variable name"]),
    ],
)
def test_errors_name_the_source_the_key_and_the_value(cls, data, key, words):
    with pytest.raises(ConfigError) as info:
        cls.from_dict(data, source="nightly.yaml")
    message = str(info.value)
    assert message.startswith("nightly.yaml: ") and "\n" not in message, message
    assert all(w in message for w in words), message
    assert info.value.key == key


@pytest.mark.parametrize(
    "config, overrides, key, start",
    [
        (ForecastConfig(), {"models": "gbn"}, "models", "models: unknown model 'gbn' (did you mean 'gbm'?)"),
        (ForecastConfig(), {"horizon": "0D"}, "horizon", "horizon: must be positive, got '0D'"),
        (ForecastConfig(), {"max_failed_fraction": 3.0}, "max_failed_fraction", "max_failed_fraction must be a number between 0 and 1"),
        (BacktestConfig(), {"models": "gbm,gbm"}, "models", "models: model 'gbm' is listed twice"),
        (BacktestConfig(), {"step": "36h"}, "step", "step must be whole days, got '36h'"),
        (YarnConfig(), {"workers": 0}, "workers", "workers must be a whole number >= 1"),
        (YarnConfig(), {"worker_memory": "4096"}, "worker_memory", "worker_memory: '4096' is not a memory size"),
    ],
)
def test_overrides_are_validated_and_reported_by_key_not_by_flag(config, overrides, key, start):
    with pytest.raises(ConfigError) as info:
        config.with_overrides(**overrides)
    message = str(info.value)
    assert message.startswith(start), message
    assert info.value.key == key
    # The library does not know the value came from a flag: the CLI may add it, from the key.
    assert "--" not in message and "command line" not in message


def test_overrides_ignore_none_and_keep_the_rest():
    config = EXAMPLES[0].with_overrides(horizon="7D", retries=None)
    assert config.horizon == "7D" and config.retries == EXAMPLES[0].retries and config.models == EXAMPLES[0].models
    assert BacktestConfig(cutoffs=3).with_overrides(start="2024-01-01").cutoffs is None
    assert BacktestConfig(start="2024-01-01").with_overrides(cutoffs=4).start is None


@pytest.mark.parametrize(
    "cls, typo, meant",
    [(ForecastConfig, "horizn", "horizon"), (BacktestConfig, "defualt_model", "default_model"), (YarnConfig, "enviroment", "environment")],
)
def test_unknown_keys_are_refused_with_a_did_you_mean(cls, typo, meant):
    with pytest.raises(ConfigError) as info:
        cls.from_dict({typo: "x"}, source="c.yaml")
    assert str(info.value).startswith(f"c.yaml: unknown key {typo!r} (did you mean {meant!r}?); known keys: ")
    assert info.value.key == typo
    with pytest.raises(ConfigError, match=f"unknown key {typo!r} \\(did you mean {meant!r}\\?\\)"):
        cls().with_overrides(**{typo: "x"})


@pytest.mark.parametrize(
    "cls, data, words",
    [
        (ForecastConfig, {"horizon": 28}, ["horizon: 28 is not a duration", "did you mean '28D'"]),
        (ForecastConfig, {"horizon": "28"}, ["horizon: '28' is not a duration", "did you mean '28D'"]),  # pandas: 28 ns
        (ForecastConfig, {"retries": True}, ["retries must be a whole number >= 0, got True"]),
        (ForecastConfig, {"retries": 1.0}, ["retries must be a whole number >= 0, got 1.0"]),
        (ForecastConfig, {"max_failed_fraction": "0.1"}, ["max_failed_fraction must be a number between 0 and 1, got '0.1'"]),
        (ForecastConfig, {"interval_adjustment": False}, ["interval_adjustment must be a number between -10 and 10, got False"]),
        (BacktestConfig, {"cutoffs": "12"}, ["cutoffs must be a whole number >= 1, got '12'"]),
        (BacktestConfig, {"start": 20240101}, ["start is not a date: 20240101"]),
        (YarnConfig, {"tls": "yes"}, ["tls must be true or false, got 'yes'"]),
        (YarnConfig, {"user": False}, ["user must be a string, got False"]),
        (YarnConfig, {"deploy_timeout": 120}, ["deploy_timeout: 120 is not a duration"]),
    ],
)
def test_types_are_strict(cls, data, words):
    with pytest.raises(ConfigError) as info:
        cls.from_dict(data)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_what_yaml_legitimately_gives_is_accepted():
    config = ForecastConfig.from_dict(yaml.safe_load("max_failed_fraction: 1\ninterval_adjustment: 0\n"))
    assert (config.max_failed_fraction, config.interval_adjustment) == (1, 0)  # ints where numbers are expected
    backtest = BacktestConfig.from_dict(yaml.safe_load("start: 2024-01-01\nend: 2024-03-01\n"))
    assert backtest.start == datetime.date(2024, 1, 1)  # YAML makes dates of these
    yarn = YarnConfig.from_dict(yaml.safe_load("env: {OMP_NUM_THREADS: 1}\ntags: [2024, nightly]\n"))
    assert yarn.env == (("OMP_NUM_THREADS", "1"),) and yarn.tags == ("2024", "nightly")
