"""Configuration: validated once, immutable, round-trips through plain data."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from forecasting.config.forecast import ForecastConfig, load_config
from forecasting.errors import ConfigError


def test_defaults_are_valid():
    config = ForecastConfig()
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
    from forecasting.config.backtest import load_backtest_config

    for path in sorted((Path(__file__).parents[2] / "specs").glob("*.yaml")):
        load_config(path)
        load_backtest_config(path)
        load_yarn_config(path)  # files unchecked: the archive lives on the EMR master


# --------------------------------------------------------------------------- fuzzing the loaders

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from forecasting.errors import ForecastingError  # noqa: E402

_WEIRD_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "7D", "0D", "-1D", "28", "1e309", "nan", "inf", "4GB", "4096", "2024-13-45", "null", "~",
                     "seasonal_naive", "gbm", "combination", "gbm[max_iter=5]", "x'; DROP TABLE runs; --", "\x00", "é☕"]),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), _WEIRD_TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(_WEIRD_TEXT, st.integers(), st.booleans(), st.none()), children, max_size=4),
    ),
    max_leaves=12,
)


def _section(known_keys):
    """A mapping of mostly real keys (so validation goes deep) and some random ones, to anything."""
    keys = st.one_of(st.sampled_from(sorted(known_keys)), _WEIRD_TEXT, st.integers())
    return st.one_of(st.dictionaries(keys, _VALUES, max_size=6), _VALUES)


def _document(namespace, known_keys):
    """YAML text: a dumped document with the section (or junk) under the namespace, or raw text."""
    doc = st.one_of(
        st.builds(lambda s, other: {namespace: s, **other}, _section(known_keys), st.dictionaries(_WEIRD_TEXT, _VALUES, max_size=2)),
        _VALUES,
    )
    dumped = doc.map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    raw = st.one_of(
        st.text(max_size=200),
        st.sampled_from([
            f"{namespace}: !!python/object/apply:os.system ['true']\n",
            f"{namespace}:\n  horizon: &a [*a]\n",
            f"{namespace}: {{horizon: 7D, horizon: 8D}}\n",
            f"{namespace}:\n  - [unhashable, key]: 1\n",
            f"{namespace}: {{? [a, b] : 1}}\n",
            "\t\x00",
        ]),
    )
    return st.one_of(dumped, raw)


def check_loader_only_raises_our_errors(load, text: str) -> None:
    """Write ``text`` to a file and load it: success or a one-line ForecastingError, nothing else."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load(path)
        except ForecastingError as exc:
            assert str(exc).strip(), "an error needs a message"
            assert str(path) in str(exc) or "model" in str(exc) or "parameter" in str(exc), str(exc)


_FORECAST_KEYS = set(ForecastConfig.model_fields)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=_document("forecasting", _FORECAST_KEYS))
def test_fuzz_forecast_config_loader_only_raises_config_errors(text):
    check_loader_only_raises_our_errors(load_config, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=_document("backtest", {"horizon", "step", "cutoffs", "start", "end", "models", "grid", "search", "n_samples",
                                   "seed", "buckets", "min_windows", "default_model", "top_k"}))
def test_fuzz_backtest_config_loader_only_raises_config_errors(text):
    from forecasting.config.backtest import load_backtest_config

    check_loader_only_raises_our_errors(load_backtest_config, text)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"models": {"gbm": {1: 5, "1": 6}}}, "parameter '1' of model 'gbm' is given twice"),
        ({"models": {"combination": {"members": "gbm"}}}, "members of a combination must be a list of at least two"),
        ({"models": {"combination": {"members": ["gbm", "nope"]}}}, "combination member 'nope': unknown model"),
        ({"models": {"combination": {"members": ["gbm", "gbm[max_iter={]"]}}}, "is not a model label"),
        ({"models": ["gbn"]}, "config: unknown model 'gbn' (did you mean 'gbm'?)"),
    ],
)
def test_model_lists_found_by_the_fuzzer_get_clear_errors(data, message):
    with pytest.raises(ConfigError) as info:
        ForecastConfig.from_dict(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"end": []}, "end is not a date: []"),
        ({"start": {"a": 1}}, "start is not a date"),
        ({"default_model": ["gbm"]}, "default_model must be a model name"),
        ({"seed": -1}, "seed must be a whole number from 0 to 2**32 - 1"),
        ({"models": ["gbm"], "grid": {"gbm": {"max_iter": list(range(100)), "learning_rate": list(range(100))}}},
         "grid of 'gbm' has 10000 parameter sets, more than 1000"),
    ],
)
def test_backtest_values_found_by_the_fuzzer_get_clear_errors(data, message):
    from forecasting.config.backtest import BacktestConfig

    with pytest.raises(ConfigError) as info:
        BacktestConfig.from_dict(data)
    assert message in str(info.value)
    # A random search over the same grid is fine.
    if "grid" in data:
        assert BacktestConfig.from_dict({**data, "search": "random", "n_samples": 5}).candidates()


@pytest.mark.parametrize(
    "section, problem",
    [
        ({"horizn": "7D"}, "unknown key 'horizn' (did you mean 'horizon'?)"),
        ({"retries": "twice"}, "retries must be a whole number >= 0"),
        ({"models": ["seasonal_naiv"]}, "did you mean 'seasonal_naive'"),
        ("just text", "'forecasting' must be a mapping"),
    ],
)
def test_bad_config_is_one_line_exit_2_and_writes_nothing(section, problem, synthetic_cache, tmp_path, capsys):
    from forecasting.cli.main import main

    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({"forecasting": section}))
    out = tmp_path / "out"
    for command in ("run", "backtest"):
        assert main([command, "--cache", str(synthetic_cache), "--out", str(out), "--config", str(config), "--cluster", "serial"]) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
        assert lines[0].startswith(f"forecasting: error: {config}") and problem in lines[0], lines[0]
        assert not out.exists()
