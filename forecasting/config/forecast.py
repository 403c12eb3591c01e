"""Forecast configuration: YAML under the ``forecasting:`` key, validated once.

A config file looks like::

    forecasting:
      horizon: 28D
      models: [seasonal_naive, gbm]     # or a mapping name -> parameters
      selection_window: 14D
      min_history: 21D

:func:`load_config` reads and validates it; :class:`ForecastConfig` is
immutable and hashable, so a config can never be changed behind the back of
the code that was handed it, and it travels to workers as a few hundred
bytes.  Unknown keys are errors with a did-you-mean.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import AfterValidator, BeforeValidator, Field, InstanceOf

from forecasting.config.base import ConfigModel
from forecasting.config.fields import Count, Duration, Fraction, Names, WholeNumber, checked, parse_duration
from forecasting.errors import PluginError
from forecasting.models.spec import ModelSpec, check_spec, parse_models

NAMESPACE = "forecasting"

log = logging.getLogger(__name__)

__all__ = ["NAMESPACE", "ForecastConfig", "Models", "load_config"]

#: Keys of :class:`ForecastConfig` newer than its first recorded digests (see :meth:`ForecastConfig.digest`).
LATER_KEYS = ("drift_days", "drift_tolerance", "on_drift", "retention_days", "known_regressors", "staffing_calibration")


def _models(value: Any, key: str) -> tuple[ModelSpec, ...]:
    """Checked specs; those whose plug-in failed to load are left out, with one warning.

    A broken plug-in is a problem of one installation (one worker image),
    not of the config: the run goes on with the other models.  Only a list
    left empty by it is an error (the plug-in's :class:`PluginError`).
    Validating the result again (a copy with overrides) warns no more: the
    model is no longer in it.
    """
    kept, dropped = [], []
    for spec in parse_models(value):
        try:
            kept.append(check_spec(spec))
        except PluginError as exc:
            dropped.append((spec, exc))
    if dropped and not kept:
        raise dropped[0][1]
    if dropped:
        log.warning("%s: leaving out %s: %s", key, ", ".join(s.label for s, _ in dropped), "; ".join(str(e) for _, e in dropped))
    return tuple(kept)


def _calibration(value: str | None, key: str) -> str | None:
    if value is not None:
        from forecasting.engine.staffing import Calibration

        Calibration.from_json(value)
    return value


def _at_least_one(value: tuple, key: str) -> tuple:
    if not value:
        raise ValueError(f"{key} must name at least one model")
    return value


#: Models of the registry with their parameters: ``[a, {b: {param: value}}]``, ``{a: {}, b: {...}}``,
#: ``"a,b"`` or specs; each must build (unknown names and parameters get a did-you-mean); a plug-in
#: that failed to load is left out with a warning (an error if it leaves no model).
Models = Annotated[tuple[InstanceOf[ModelSpec], ...], BeforeValidator(checked(_models))]


def models_to_dict(models: tuple[ModelSpec, ...]) -> list[dict]:
    """``models`` as :meth:`ForecastConfig.from_dict` reads them: a list of ``{name: params}``.

    A list keeps the order (it breaks ties in model selection); YAML
    mappings are sorted by key when dumped.
    """
    return [{m.name: dict(m.params)} for m in models]


class ForecastConfig(ConfigModel):
    """What each region's job does.

    Parameters
    ----------
    horizon : str
        How far ahead to forecast, from the run date's local midnight.
    models : tuple of ModelSpec
        Candidate models; with several, each region's job picks the one with
        the lowest RMSSE on the last ``selection_window`` of history.
    selection_window : str
        Hold-out used to choose between several models.
    min_history : str
        Regions with less history fail with a clear error.
    max_missing_fraction : float
        Regions missing more than this fraction of the last four weeks fail.
    max_staleness : str
        Regions whose latest data is older than this before the run date fail.
    retries : int
        Re-runs of a task after a transient (I/O) error.  Model and data
        errors are deterministic and never retried.
    max_failed_fraction : float
        Above this fraction of failed regions the run counts as failed.
    interval_adjustment : float
        Conformal widening of the q10-q90 band (log1p scale); set per region
        from the champion's backtest, 0 otherwise.
    inner_parallelism : str
        ``serial`` or ``dask``: where joblib loops inside a job run (see
        :func:`forecasting.runs.tasks.inner_parallelism`).
    drift_days : int
        The live window of the drift rule: each region's last this many
        days of scored forecasts (:mod:`forecasting.accuracy.drift`).
    drift_tolerance : float
        How far above its champion's backtest range, or above seasonal
        naive, a region's live MASE must be to be flagged, as a fraction
        (0.25: 25% above); 0 flags any excess.
    on_drift : str
        What a nightly run does with a region the rule flags: ``ignore``
        (list it), ``fallback`` (forecast it with seasonal naive) or
        ``refit`` (backtest it again, then forecast it with the new champion).
    retention_days : int, optional
        Delete the forecasts of nightly runs dated more than this many days
        before a run's date (their live scores stay); default: keep them all.
    known_regressors : tuple of str
        Exogenous variables known in advance (planned, like a capacity or a
        price list): used as recorded in the forecast window.  Every other
        variable, weather included, is taken from forecasts issued before the
        origin, else a climatology (:mod:`forecasting.engine.exogenous`).
    staffing_calibration : str, optional
        The staffing quantile's calibration (JSON of
        :class:`forecasting.engine.staffing.Calibration`); set per region
        from its champion's backtest, like ``interval_adjustment``.  With it
        each forecast has a ``staff`` column.
    """

    namespace = NAMESPACE

    horizon: Duration = "28D"
    models: Annotated[Models, AfterValidator(checked(_at_least_one))] = (ModelSpec("seasonal_naive"), ModelSpec("gbm"))
    selection_window: Duration = "14D"
    min_history: Duration = "21D"
    max_missing_fraction: Fraction = 0.5
    max_staleness: Duration = "7D"
    retries: WholeNumber = 2
    max_failed_fraction: Fraction = 0.1
    interval_adjustment: Annotated[int | float, Field(gt=-10, lt=10, description="a number between -10 and 10")] = 0.0
    inner_parallelism: Annotated[Literal["serial", "dask"], Field(description="'serial' or 'dask'")] = "serial"
    drift_days: Count = 7
    drift_tolerance: Annotated[int | float, Field(ge=0, le=10, description="a number between 0 and 10")] = 0.25
    on_drift: Annotated[Literal["ignore", "fallback", "refit"], Field(description="'ignore', 'fallback' or 'refit'")] = "ignore"
    retention_days: Count | None = None
    known_regressors: Names = ()
    staffing_calibration: Annotated[str | None, AfterValidator(checked(_calibration))] = None

    @classmethod
    def from_dict(cls, data, source: str = "config") -> "ForecastConfig":
        """Validate a mapping (the contents of the ``forecasting:`` key)."""
        return super().from_dict(data, source)

    @property
    def horizon_delta(self) -> pd.Timedelta:
        """:attr:`horizon` as a :class:`pandas.Timedelta`."""
        return parse_duration(self.horizon, "horizon")

    def to_dict(self) -> dict:
        """Plain data (YAML/JSON-serialisable), the inverse of :meth:`from_dict`."""
        return {**self.fields(), "models": models_to_dict(self.models), "known_regressors": list(self.known_regressors)}

    def digest(self) -> str:
        """A short stable hash of the configuration, recorded with each run.

        Keys added after digests were first recorded (:data:`LATER_KEYS`)
        count only when set to something else than their default: the
        digest of every earlier config, and the backtest ids made from it,
        stay as they were.
        """
        defaults = {k: json.dumps(type(self).model_fields[k].default) for k in LATER_KEYS}
        data = {k: v for k, v in self.to_dict().items() if not (k in LATER_KEYS and json.dumps(v) == defaults[k])}
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_config(path: str | Path | None) -> ForecastConfig:
    """Read a YAML file and validate its ``forecasting:`` section.

    ``None`` gives the defaults.  Other top-level sections (``backtest:``,
    ``yarn:`` ...) belong to other readers and are ignored here.
    """
    return ForecastConfig.load(path)
