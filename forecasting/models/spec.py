"""A model of the registry with its parameters: what configs list and outputs name.

A :class:`ModelSpec` is plain, hashable data (it travels to workers inside
each task); :meth:`ModelSpec.build` makes the model.  :func:`parse_models`
reads the ``models:`` value of a config file, :func:`check_spec` checks a
spec can be built.  Errors are :class:`ConfigError` without a source: the
config that reads the value says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from forecasting.errors import ConfigError, PluginError
from forecasting.models.registry import make_model

#: The registry name of forecast combinations, whose label has a format of its own.
COMBINATION = "combination"


@dataclass(frozen=True)
class ModelSpec:
    """A model of the registry and its parameters.

    Parameters
    ----------
    name : str
        Registry name.
    params : tuple of (str, value) pairs
        Constructor arguments, sorted by name; list values are tuples, so
        that the spec is hashable.
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def build(self):
        """A fresh, unfitted model."""
        return make_model(self.name, dict(self.params))

    def validated(self) -> "ModelSpec":
        """``self``, after checking that it builds."""
        self.build()
        return self

    @property
    def label(self) -> str:
        """Readable, parseable identity: ``gbm`` or ``gbm[learning_rate=0.1;max_iter=100]``."""
        if not self.params:
            return self.name
        if self.name == COMBINATION:
            # Members are labels themselves (with their own ';'): a format of its own.
            return "combination(" + " + ".join(dict(self.params).get("members", ())) + ")"
        return f"{self.name}[{';'.join(f'{k}={_format_value(v)}' for k, v in self.params)}]"

    @classmethod
    def parse(cls, label: str) -> "ModelSpec":
        """The inverse of :attr:`label`."""
        label = label.strip()
        if label.startswith("combination(") and label.endswith(")"):
            members = [m.strip() for m in label[len("combination("):-1].split(" + ") if m.strip()]
            return cls(COMBINATION, (("members", tuple(members)),)).validated()
        if not label.endswith("]") or "[" not in label:
            return cls(label)
        name, inner = label[:-1].split("[", 1)
        params = {}
        for item in filter(None, inner.split(";")):
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"model label {label!r}: expected key=value, got {item!r}")
            params[key.strip()] = yaml.safe_load(value)
        try:
            return parse_models({name.strip(): params})[0]
        except ConfigError as exc:
            raise ConfigError(f"model label {label!r}: {exc}") from None


def parse_models(value: Any) -> tuple[ModelSpec, ...]:
    """Specs from a ``models:`` value: ``"a,b"``, ``[a, {b: {...}}]``, ``{a: {...}, b: {...}}`` or specs.

    Raises
    ------
    ConfigError
        The value has the wrong shape, or lists a model twice.  Names and
        parameters are not checked against the registry here
        (:func:`check_spec` does).
    """
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if isinstance(v, ModelSpec):
                items.append((v.name, dict(v.params)))
            elif isinstance(v, Mapping) and len(v) == 1:
                items.extend(v.items())
            elif isinstance(v, Mapping):
                raise ConfigError(f"each item of models is a name or a one-key mapping name: parameters, got {dict(v)!r}")
            else:
                items.append((v, {}))
    else:
        raise ConfigError("models must be a list of names or a mapping of name to parameters")
    specs = []
    for name, params in items:
        if not isinstance(name, str):
            raise ConfigError(f"model names must be strings, got {name!r}")
        params = params or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"parameters of model {name!r} must be a mapping")
        if any(s.name == name for s in specs):
            raise ConfigError(f"model {name!r} is listed twice")
        frozen = {}
        for k, v in params.items():
            if str(k) in frozen:
                raise ConfigError(f"parameter {str(k)!r} of model {name!r} is given twice")
            frozen[str(k)] = _freeze(v)
        specs.append(ModelSpec(name, tuple(sorted(frozen.items(), key=lambda kv: kv[0]))))
    return tuple(specs)


def check_spec(spec: ModelSpec) -> ModelSpec:
    """``spec``, after checking it builds; a combination's members must be two or more labels of models that build.

    (Not :func:`forecasting.models.checks.check_model`, which checks that a
    model class keeps the model contract.)

    Raises
    ------
    PluginError
        The model, or a combination member, is a plug-in that failed to load.
    ConfigError
        An unknown model or parameter (with a did-you-mean), or bad members.
    """
    spec.build()
    if spec.name != COMBINATION or "members" not in dict(spec.params):
        return spec
    members = dict(spec.params)["members"]
    if not isinstance(members, (list, tuple)) or len(members) < 2 or not all(isinstance(m, str) for m in members):
        raise ConfigError(f"members of a combination must be a list of at least two model names, got {members!r}")
    for label in members:
        try:
            ModelSpec.parse(label).build()
        except PluginError as exc:  # keeps its type: a config leaves such a model out (see config.forecast)
            raise PluginError(f"combination member {label!r}: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"combination member {label!r}: {exc}") from None
        except (ValueError, TypeError, yaml.YAMLError):
            raise ConfigError(f"combination member {label!r} is not a model label like gbm or gbm[max_iter=100]") from None
    return spec


def _format_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return yaml.safe_dump(value).split("\n")[0]
    return str(value)


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        raise ConfigError(f"model parameters must be scalars or lists, got {value!r}")
    return value
