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
      oracle_regressors: false   # also score every model with the weather as recorded
      staffing:              # the staffing quantile: two costs, or service_level: 0.9
        cost_under: 30       # per missing driver-hour (diners wait)
        cost_over: 10        # per idle driver-hour
      selection_metric: rmsse   # or mase, pinball (scaled, of q10/q50/q90), staffing (pinball at the staffing quantile)
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Mapping

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from forecasting.config.base import ConfigModel
from forecasting.config.fields import Count, Date, Flag, Seed, WholeDays, WholeNumber, checked, fail
from forecasting.config.forecast import Models, models_to_dict
from forecasting.errors import ConfigError
from forecasting.models.spec import ModelSpec, parse_models

NAMESPACE = "backtest"
BASELINE = "seasonal_naive"
#: Models every backtest includes, so that a champion that cannot beat them shows:
#: last week's values, no orders at all, and the mean of the same slot over recent weeks.
BASELINES = (BASELINE, "zero", "mean_week")
#: Most parameter sets one model family may expand to in a backtest.
MAX_PARAMETER_SETS = 1000


def _grid(value: Any, key: str) -> tuple:
    """``{model: {param: [values]}}`` as ``((model, ((param, (values...)), ...)), ...)``."""
    if isinstance(value, tuple):  # already in that form (a copy of a validated config)
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must map model names to {{parameter: [values]}}")
    out = []
    for name, params in value.items():
        if not isinstance(params, Mapping) or not params:
            raise ValueError(f"{key} of {name!r} must be a non-empty mapping of parameter to list of values")
        items = []
        for param, values in params.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"{key} of {name!r}: {param} must be a non-empty list of values")
            items.append((str(param), tuple(_frozen(v) for v in values)))
        out.append((str(name), tuple(items)))
    return tuple(out)


def _frozen(value: Any) -> Any:
    """Lists (of lists...) as tuples: the config stays hashable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


#: The built-in model families a backtest compares by default.
BUILT_IN_MODELS = ("seasonal_naive", "seasonal_naive_local", "seasonal_median", "mean_week", "zero", "tsb", "mstl", "sarimax",
                   "gbm", "gbm_direct")


def default_models() -> tuple[ModelSpec, ...]:
    """Every model family: the built-in ones, then the plug-ins loaded in this process (sorted by name).

    (Combinations are not among them: a backtest makes its own from the best models, see ``top_k``.)
    """
    from forecasting.models.plugins import plugin_models

    return tuple(ModelSpec(n) for n in (*BUILT_IN_MODELS, *sorted(plugin_models())))


def _model_name(value: str, key: str) -> str:
    ModelSpec(value).build()
    return value


class StaffingConfig(ConfigModel):
    """The staffing decision: what a missing and an idle unit cost, or the service level itself.

    Parameters
    ----------
    cost_under, cost_over : float, optional
        Cost of one unit of demand not staffed for (per missing driver-hour:
        diners wait) and of one unit staffed for but not needed (per idle
        driver-hour).  Only their ratio matters: the newsvendor quantile is
        ``cost_under / (cost_under + cost_over)``.
    service_level : float, optional
        That quantile given directly (instead of the costs), strictly between 0 and 1.
    """

    namespace = "staffing"

    cost_under: Annotated[int | float, Field(gt=0, description="a number > 0")] | None = None
    cost_over: Annotated[int | float, Field(gt=0, description="a number > 0")] | None = None
    service_level: Annotated[int | float, Field(gt=0, lt=1, description="a number strictly between 0 and 1")] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "StaffingConfig":
        costs = (self.cost_under is not None, self.cost_over is not None)
        if self.service_level is not None and any(costs):
            raise fail("give either cost_under and cost_over, or service_level, not both", key="staffing")
        if self.service_level is None and not all(costs):
            raise fail("give both cost_under and cost_over (or service_level)", key="staffing")
        return self

    @property
    def quantile(self) -> float:
        """The cost-optimal quantile q* (the newsvendor's critical ratio)."""
        if self.service_level is not None:
            return float(self.service_level)
        return float(self.cost_under) / float(self.cost_under + self.cost_over)

    def costs(self) -> tuple[float, float]:
        """``(cost_under, cost_over)``; from a service level q, ``(q, 1 - q)`` (the same decision)."""
        if self.service_level is not None:
            return float(self.service_level), 1.0 - float(self.service_level)
        return float(self.cost_under), float(self.cost_over)


def _staffing(value: Any, key: str) -> StaffingConfig | None:
    if value is None or isinstance(value, StaffingConfig):
        return value
    return StaffingConfig.from_dict(value, source=key)


#: Parameter values to search per model family, in the form :func:`_grid` gives.
Grid = Annotated[tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...], BeforeValidator(checked(_grid))]


class BacktestConfig(ConfigModel):
    """What a backtest evaluates.

    Parameters
    ----------
    horizon, step : str
        Forecast length and spacing of cutoffs (whole days).
    cutoffs : int, optional
        Use the last ``cutoffs`` cutoffs.
    start, end : str or datetime.date, optional
        Cutoffs from ``start`` to ``end`` (dates).  Without these and
        without ``cutoffs``: the last year of history.
    models : tuple of ModelSpec
        Model families (with base parameters); by default every one, the
        installed plug-ins' too (:func:`default_models`).  The
        :data:`BASELINES` (``seasonal_naive``, ``zero``, ``mean_week``) are
        always added: every comparison is made against them.
    grid : tuple
        ``(model name, ((param, values), ...))`` pairs: parameter sets searched
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
    oracle_regressors : bool
        Also score every window with the regressors as recorded (weather
        included), beside the honest score with what was known at the cutoff.
    staffing : StaffingConfig, optional
        The staffing quantile to calibrate for each champion (and to score by).
    selection_metric : str
        What champions are chosen by: ``rmsse`` (default: the mean forecast's
        metric, which a forecast of zeros cannot win on sparse demand),
        ``mase``, ``pinball`` (scaled pinball loss of q10/q50/q90) or
        ``staffing`` (pinball loss at the staffing quantile; needs ``staffing``).
    """

    namespace = NAMESPACE

    horizon: WholeDays = "28D"
    step: WholeDays = "7D"
    cutoffs: Count | None = None
    start: Date | None = None
    end: Date | None = None
    models: Annotated[Models, Field(default_factory=lambda: default_models())]
    grid: Grid = ()
    search: Annotated[Literal["grid", "random"], Field(description="'grid' or 'random'")] = "grid"
    n_samples: Count = 10
    seed: Seed = 0
    buckets: WholeDays = "7D"
    min_windows: Count = 3
    default_model: Annotated[str, Field(description="a model name"), AfterValidator(checked(_model_name))] = BASELINE
    top_k: WholeNumber = 2
    oracle_regressors: Flag = False
    staffing: Annotated[StaffingConfig | None, BeforeValidator(checked(_staffing))] = None
    selection_metric: Annotated[Literal["rmsse", "mase", "pinball", "staffing"],
                                Field(description="'rmsse', 'mase', 'pinball' or 'staffing'")] = "rmsse"

    @model_validator(mode="after")
    def _consistent(self) -> "BacktestConfig":
        if self.cutoffs is not None and (self.start or self.end):
            raise fail("give either cutoffs or start/end, not both", key="cutoffs")
        if self.selection_metric == "staffing" and self.staffing is None:
            raise fail("selection_metric staffing needs a staffing section (its quantile)", key="selection_metric")
        names = {m.name for m in self.models}
        for name, params in self.grid:
            if name not in names:
                raise fail(f"grid for {name!r}, which is not among the models ({', '.join(sorted(names))})", key="grid")
            size = math.prod(len(values) for _, values in params)  # count before enumerating: a typo should not fill the memory
            if min(size, self.n_samples if self.search == "random" else size) > MAX_PARAMETER_SETS:
                raise fail(f"grid of {name!r} has {size} parameter sets, more than {MAX_PARAMETER_SETS}; "
                           "use search: random with n_samples", key="grid")
        try:
            for spec in self.candidates():
                spec.build()
        except ConfigError as exc:
            raise fail(str(exc), key="grid") from None
        return self

    def with_overrides(self, **overrides) -> "BacktestConfig":
        """A validated copy; ``cutoffs`` replaces ``start``/``end`` and the other way round."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if given.get("cutoffs") is not None:
            given.setdefault("start", None)
            given.setdefault("end", None)
        elif given.get("start") or given.get("end"):
            given["cutoffs"] = None
        return self._replaced(given)

    def candidates(self) -> list[ModelSpec]:
        """Every model parameter set to backtest, the baselines first."""
        from sklearn.model_selection import ParameterGrid, ParameterSampler

        grids = {name: {k: list(v) for k, v in params} for name, params in self.grid}
        out = [ModelSpec(name) for name in BASELINES]
        for spec in self.models:
            if spec.name not in grids:
                sets = [{}]
            elif self.search == "grid":
                sets = list(ParameterGrid(grids[spec.name]))
            else:
                sets = list(ParameterSampler(grids[spec.name], n_iter=self.n_samples, random_state=self.seed))
            for extra in sets:
                params = {**dict(spec.params), **extra}
                candidate = parse_models({spec.name: params})[0]
                if candidate not in out:
                    out.append(candidate)
        return out

    def to_dict(self) -> dict:
        """Plain data (YAML/JSON-serialisable), the inverse of :meth:`from_dict`."""
        grid = {name: {k: list(v) for k, v in params} for name, params in self.grid}
        staffing = None if self.staffing is None else {k: v for k, v in self.staffing.fields().items() if v is not None}
        return {**self.fields(), "models": models_to_dict(self.models), "grid": grid, "staffing": staffing}


def load_backtest_config(path) -> BacktestConfig:
    """The ``backtest:`` section of a YAML file (defaults without a file)."""
    return BacktestConfig.load(path)
