"""Rolling-origin backtests: cutoffs, the flat task list, and the window job.

A backtest is a cartesian product, regions x model parameter sets x cutoffs,
mapped over one job (:func:`backtest_window`), like a grid search crossed
with cross-validation folds.  Each task is a small descriptor; the worker
reads its region from the cache.  A fit sees only orders strictly before
its cutoff (the cutoff's local midnight).  Regressors in the forecast window
are the values the cache holds: calendar, holidays, scheduled events and
promotions were known in advance; weather is taken as recorded, which is an
optimistic assumption (a real forecast would use a weather forecast).

YAML configuration lives under the top-level ``backtest:`` key::

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
import functools
import hashlib
import itertools
import json
import math
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

import pandas as pd

from forecasting.config import ConfigError, ForecastConfig, ModelSpec, _parse_models, check_keys, parse_duration, read_section
from forecasting.data.cache import open_cache
from forecasting.errors import ModelError, RegionDataError, UsageError
from forecasting.features import build_features
from forecasting.jobs import check_history, history_and_horizon, worker_name
from forecasting.metrics import seasonal_scale

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


def make_cutoffs(history_end: str, config: BacktestConfig) -> list[str]:
    """Cutoff dates whose whole horizon lies before ``history_end``.

    Parameters
    ----------
    history_end : str
        The first date without data (as a run date would be).
    config : BacktestConfig
        ``horizon``, ``step`` and ``cutoffs`` or ``start``/``end``.

    Raises
    ------
    UsageError
        If no cutoff fits.
    """
    end_day = pd.Timestamp(history_end)
    horizon = parse_duration(config.horizon, "horizon")
    step = parse_duration(config.step, "step")
    latest = end_day - horizon
    if config.cutoffs is not None:
        days = [latest - i * step for i in range(config.cutoffs)][::-1]
    elif config.start or config.end:
        first = pd.Timestamp(config.start) if config.start else latest - pd.Timedelta("365D") + horizon
        last = min(pd.Timestamp(config.end), latest) if config.end else latest
        days = list(pd.date_range(first, last, freq=step))
    else:
        earliest = end_day - pd.Timedelta("365D")
        n = int((latest - earliest) / step) + 1
        days = [latest - i * step for i in range(n)][::-1]
    if not days:
        raise UsageError(f"no cutoff fits: the data ends {history_end} and the horizon is {config.horizon}; choose earlier --start/--end")
    return [d.strftime("%Y-%m-%d") for d in days]


def backtest_id(cache_meta: dict, cache_path: str, regions, candidates, cutoffs, config: ForecastConfig) -> str:
    """Deterministic id: the same backtest (same cache build, regions, models,
    cutoffs, job settings) gets the same id, so running it again resumes it."""
    blob = json.dumps(
        {
            "cache": cache_path,
            "cache_created": cache_meta.get("created_at"),
            "regions": list(regions),
            "models": [c.label for c in candidates],
            "cutoffs": list(cutoffs),
            "config": config.to_dict(),
        },
        sort_keys=True,
        default=str,
    )
    return "bt-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BacktestTask:
    """One region, one model parameter set, one cutoff."""

    region: str
    cache_path: str
    model: ModelSpec
    cutoff: str
    config: ForecastConfig
    backtest_id: str = ""

    @property
    def key(self) -> str:
        return f"backtest-{self.backtest_id}-{self.region}-{self.model.label}-{self.cutoff}"

    def compute(self) -> "WindowResult":
        return backtest_window(self)


@dataclass(frozen=True)
class WindowResult:
    """Forecast and actuals of one backtest window.

    ``frame`` is indexed by the window's UTC slots with columns ``actual,
    yhat, q10, q50, q90``; ``scale`` is the training history's weekly
    seasonal-naive mean absolute error (MASE's denominator).
    """

    region: str
    key: str
    model: str
    cutoff: str
    frame: pd.DataFrame
    scale: float
    duration: float
    worker: str
    ok = True


def tasks_for(regions, cache_path: str, candidates, cutoffs, config: ForecastConfig, bt_id: str) -> list[BacktestTask]:
    """The flat task list: regions x candidates x cutoffs."""
    return [
        BacktestTask(region, cache_path, spec, cutoff, config, bt_id)
        for region, spec, cutoff in itertools.product(regions, candidates, cutoffs)
    ]


@functools.lru_cache(maxsize=4)
def _region_data(reader, region: str):
    # A worker runs many windows of the same region in a row: read it once.
    return reader.load_region(region)


def backtest_window(task: BacktestTask) -> WindowResult:
    """Fit ``task.model`` on the history before ``task.cutoff`` and forecast the window.

    Raises
    ------
    RegionDataError
        Too little usable history before the cutoff, or no actuals after it.
    ModelError
        The model failed to fit or predict.
    """
    start = time.perf_counter()
    data = _region_data(open_cache(task.cache_path), task.region)
    y, future = history_and_horizon(data, task.cutoff, task.config)
    check_history(y, task.config, task.region)
    actual = data.orders.reindex(future)
    if actual.isna().all():
        raise RegionDataError(task.region, f"no actual orders after the cutoff {task.cutoff}")
    features = build_features(data, y.index.append(future))
    X, X_future = features.iloc[: len(y)], features.iloc[len(y):]
    try:
        forecast = task.model.build().fit(y, X, horizon=len(future)).predict(X_future)
    except Exception as exc:  # noqa: BLE001 - any model failure is this window's
        raise ModelError(task.region, f"{task.model.label} at cutoff {task.cutoff}: {type(exc).__name__}: {exc}") from exc
    frame = forecast.assign(actual=actual.to_numpy(dtype=float))[["actual", "yhat", "q10", "q50", "q90"]]
    return WindowResult(
        task.region, task.key, task.model.label, task.cutoff, frame, seasonal_scale(y), time.perf_counter() - start, worker_name()
    )


