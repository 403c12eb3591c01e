"""Backtest configuration: YAML under the top-level ``backtest:`` key, validated once.

::

    backtest:
      horizon: 28D
      step: 7D
      cutoffs: 12            # or start/end; default: the last year
      models: [seasonal_naive, mstl, sarimax, gbm]
      grid:                  # optional parameter search per model family
        gbm: {learning_rate: [0.05, 0.1], max_iter: [100, 200]}
      search: grid           # or random, with n_samples and seed
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

import pandas as pd

from forecasting.config.forecast import ConfigError, ModelSpec, _parse_models, check_keys, parse_duration, read_section


NAMESPACE = "backtest"
BASELINE = "seasonal_naive"
#: Most parameter sets one model family may expand to in a backtest.
MAX_PARAMETER_SETS = 1000


@dataclass(frozen=True)
class BacktestConfig:
    """What a backtest evaluates.

    Parameters
    ----------
    horizon, step : str
        Forecast length and spacing of cutoffs (whole days).
    cutoffs : int, optional
        Use the last ``cutoffs`` cutoffs.
    start, end : str, optional
        Cutoffs from ``start`` to ``end`` (dates).  Without these and
        without ``cutoffs``: the last year of history.
    models : tuple of ModelSpec
        Model families (with base parameters).  ``seasonal_naive`` is always
        added: every comparison is made against it.
    grid : tuple
        ``(model name, {param: [values]})`` pairs: parameter sets searched
        over the same cutoffs.
    search : str
        ``grid`` (every combination) or ``random`` (``n_samples`` of them).
    buckets : str
        Width of the horizon buckets metrics are reported by.
    min_windows : int
        A model needs this many successful windows in a region to compete.
    default_model : str
        Champion of regions where no model qualifies (too little history).
    top_k : int
        Size of the forecast combination candidate (0 disables it).
    """

    horizon: str = "28D"
    step: str = "7D"
    cutoffs: int | None = None
    start: str | None = None
    end: str | None = None
    models: tuple[ModelSpec, ...] = tuple(
        ModelSpec(n) for n in ("seasonal_naive", "seasonal_naive_local", "seasonal_median", "mstl", "sarimax", "gbm", "gbm_direct")
    )
    grid: tuple = ()
    search: str = "grid"
    n_samples: int = 10
    seed: int = 0
    buckets: str = "7D"
    min_windows: int = 3
    default_model: str = BASELINE
    top_k: int = 2

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "backtest") -> "BacktestConfig":
        data = check_keys(data, cls, source)
        if "models" in data:
            data["models"] = _parse_models(data["models"], source)
        if "grid" in data:
            data["grid"] = _parse_grid(data["grid"], source)
        return cls(**data).validate(source)

    def validate(self, source: str = "backtest") -> "BacktestConfig":
        for name in ("horizon", "step", "buckets"):
            delta = parse_duration(getattr(self, name), f"{source}: {name}")
            if delta % pd.Timedelta("1D"):
                raise ConfigError(f"{source}: {name} must be whole days, got {getattr(self, name)!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                try:
                    if not isinstance(value, (str, datetime.date)):
                        raise TypeError(value)
                    pd.Timestamp(value)
                except (ValueError, TypeError, OverflowError):
                    raise ConfigError(f"{source}: {name} is not a date: {value!r}") from None
        if self.cutoffs is not None and (self.start or self.end):
            raise ConfigError(f"{source}: give either cutoffs or start/end, not both")
        for name in ("cutoffs", "n_samples", "min_windows", "top_k"):
            value = getattr(self, name)
            lowest = 0 if name == "top_k" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < lowest):
                raise ConfigError(f"{source}: {name} must be a whole number >= {lowest}, got {value!r}")
        if self.search not in ("grid", "random"):
            raise ConfigError(f"{source}: search must be 'grid' or 'random', got {self.search!r}")
        names = {m.name for m in self.models}
        for name, _ in self.grid:
            if name not in names:
                raise ConfigError(f"{source}: grid for {name!r}, which is not among the models ({', '.join(sorted(names))})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"{source}: seed must be a whole number from 0 to 2**32 - 1, got {self.seed!r}")
        for name, params in self.grid:  # count before enumerating: a typo should not fill the memory
            size = math.prod(len(values) for _, values in params)
            if min(size, self.n_samples if self.search == "random" else size) > MAX_PARAMETER_SETS:
                raise ConfigError(f"{source}: grid of {name!r} has {size} parameter sets, more than {MAX_PARAMETER_SETS}; "
                                  "use search: random with n_samples")
        for spec in self.candidates():
            spec.build()
        if not isinstance(self.default_model, str):
            raise ConfigError(f"{source}: default_model must be a model name, got {self.default_model!r}")
        ModelSpec(self.default_model).build()
        return self

    def with_overrides(self, **overrides) -> "BacktestConfig":
        given = {k: v for k, v in overrides.items() if v is not None}
        if "models" in given:
            given["models"] = _parse_models(given["models"], "--models")
        if given.get("cutoffs") is not None:
            given.setdefault("start", None)
            given.setdefault("end", None)
        elif given.get("start") or given.get("end"):
            given["cutoffs"] = None
        return replace(self, **given).validate("command line")

    def candidates(self) -> list[ModelSpec]:
        """Every model parameter set to backtest, the baseline first."""
        from sklearn.model_selection import ParameterGrid, ParameterSampler

        grids = {name: {k: list(v) for k, v in params} for name, params in self.grid}
        out = [ModelSpec(BASELINE)]
        for spec in self.models:
            if spec.name not in grids:
                sets = [{}]
            elif self.search == "grid":
                sets = list(ParameterGrid(grids[spec.name]))
            else:
                sets = list(ParameterSampler(grids[spec.name], n_iter=self.n_samples, random_state=self.seed))
            for extra in sets:
                params = {**dict(spec.params), **extra}
                candidate = _parse_models({spec.name: params}, "grid")[0]
                if candidate not in out:
                    out.append(candidate)
        return out

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["models"] = [{m.name: dict(m.params)} for m in self.models]
        out["grid"] = {name: {k: list(v) for k, v in params} for name, params in self.grid}
        return out


def _parse_grid(value, source: str) -> tuple:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: grid must map model names to {{parameter: [values]}}")
    out = []
    for name, params in value.items():
        if not isinstance(params, Mapping) or not params:
            raise ConfigError(f"{source}: grid of {name!r} must be a non-empty mapping of parameter to list of values")
        items = []
        for key, values in params.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ConfigError(f"{source}: grid of {name!r}: {key} must be a non-empty list of values")
            items.append((str(key), tuple(tuple(v) if isinstance(v, list) else v for v in values)))
        out.append((str(name), tuple(items)))
    return tuple(out)


def load_backtest_config(path) -> BacktestConfig:
    """The ``backtest:`` section of a YAML file (defaults without a file)."""
    if path is None:
        return BacktestConfig()
    return BacktestConfig.from_dict(read_section(path, NAMESPACE), source=str(path))
