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
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import yaml

from forecasting.errors import ConfigError, did_you_mean
from forecasting.models.spec import ModelSpec, check_model, parse_models

NAMESPACE = "forecasting"


def check_keys(data: Mapping[str, Any] | None, cls, source: str) -> dict:
    """A copy of ``data`` after checking its keys are fields of dataclass ``cls``."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    data = dict(data or {})
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{source}: unknown key {key!r}{did_you_mean(key, known)}; known keys: {', '.join(sorted(known))}")
    return data


def parse_duration(value: Any, what: str) -> pd.Timedelta:
    """Parse a positive duration like ``28D``, ``12h`` or ``90min``.

    Raises
    ------
    ConfigError
        If ``value`` is not a positive duration.
    """
    try:
        delta = pd.Timedelta(str(value).strip())
    except (ValueError, TypeError):
        raise ConfigError(f"{what}: {value!r} is not a duration (examples: 28D, 36h, 90min)") from None
    if pd.isna(delta) or delta <= pd.Timedelta(0):
        raise ConfigError(f"{what}: must be positive, got {value!r}")
    return delta


@dataclass(frozen=True)
class ForecastConfig:
    """What each region's job does.

    Parameters
    ----------
    horizon : str
        How far ahead to forecast, from the run date's local midnight.
    models : tuple of ModelSpec
        Candidate models; with several, each region's job picks the one with
        the lowest MASE on the last ``selection_window`` of history.
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
    """

    horizon: str = "28D"
    models: tuple[ModelSpec, ...] = (ModelSpec("seasonal_naive"), ModelSpec("gbm"))
    selection_window: str = "14D"
    min_history: str = "21D"
    max_missing_fraction: float = 0.5
    max_staleness: str = "7D"
    retries: int = 2
    max_failed_fraction: float = 0.1
    interval_adjustment: float = 0.0
    inner_parallelism: str = "serial"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "config") -> "ForecastConfig":
        """Validate a mapping (the contents of the ``forecasting:`` key)."""
        data = check_keys(data, cls, source)
        if "models" in data:
            data["models"] = _parse_models(data["models"], source)
        return cls(**data).validate(source)

    def validate(self, source: str = "config") -> "ForecastConfig":
        """Check every value; return ``self`` or raise :class:`ConfigError`."""
        for name in ("horizon", "selection_window", "min_history", "max_staleness"):
            parse_duration(getattr(self, name), f"{source}: {name}")
        for name in ("max_missing_fraction", "max_failed_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{source}: {name} must be a number between 0 and 1, got {value!r}")
        adj = self.interval_adjustment
        if isinstance(adj, bool) or not isinstance(adj, (int, float)) or not abs(adj) < 10:
            raise ConfigError(f"{source}: interval_adjustment must be a number between -10 and 10, got {adj!r}")
        if self.inner_parallelism not in ("serial", "dask"):
            raise ConfigError(f"{source}: inner_parallelism must be 'serial' or 'dask', got {self.inner_parallelism!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"{source}: retries must be a whole number >= 0, got {self.retries!r}")
        if not self.models:
            raise ConfigError(f"{source}: models must name at least one model")
        for spec in self.models:
            try:
                check_model(spec)  # unknown names and parameters raise ConfigError here
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        return self

    @property
    def horizon_delta(self) -> pd.Timedelta:
        return parse_duration(self.horizon, "horizon")

    def with_overrides(self, **overrides) -> "ForecastConfig":
        """A validated copy with some fields replaced (``None`` values ignored)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "models" in given and not isinstance(given["models"], tuple):
            given["models"] = _parse_models(given["models"], "--models")
        return replace(self, **given).validate("command line")

    def to_dict(self) -> dict:
        """Plain data (YAML/JSON-serialisable), the inverse of :meth:`from_dict`."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        # A list keeps the order (it breaks ties in model selection); YAML
        # mappings are sorted by key when dumped.
        out["models"] = [{m.name: dict(m.params)} for m in self.models]
        return out

    def digest(self) -> str:
        """A short stable hash of the configuration, recorded with each run."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _parse_models(value: Any, source: str) -> tuple[ModelSpec, ...]:
    try:
        return parse_models(value)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def read_section(path: str | Path, namespace: str) -> Mapping:
    """The mapping under top-level key ``namespace`` of a YAML file (empty if absent).

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not YAML, or not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    section = doc.get(namespace) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: {namespace!r} must be a mapping")
    return section


def load_config(path: str | Path | None) -> ForecastConfig:
    """Read a YAML file and validate its ``forecasting:`` section.

    ``None`` gives the defaults.  Other top-level sections (``backtest:``,
    ``yarn:`` ...) belong to other readers and are ignored here.
    """
    if path is None:
        return ForecastConfig()
    return ForecastConfig.from_dict(read_section(path, NAMESPACE), source=str(path))
