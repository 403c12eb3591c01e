"""What every config model shares: pydantic settings, errors worded for people, YAML sections.

A config is a frozen pydantic model: validated when it is made (by
:meth:`ConfigModel.from_dict`, by :meth:`ConfigModel.with_overrides`, or
by calling the class), immutable, hashable, and a few hundred bytes
pickled.  pydantic's :class:`~pydantic.ValidationError` becomes one
:class:`ConfigError` of one line that names the source, the key and the
value, with a did-you-mean for unknown keys.
"""

from __future__ import annotations

import typing
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any, ClassVar, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from forecasting.config.fields import CONFIG_ERROR
from forecasting.errors import ConfigError, did_you_mean

#: Problems with a key itself rather than with its value.
_KEY_ERRORS = ("extra_forbidden", "invalid_key")


class ConfigModel(BaseModel):
    """Base of the config models.

    Subclasses declare fields with the types of :mod:`forecasting.config.fields`
    and set :attr:`namespace` (their top-level key in a YAML file).
    """

    # strict: YAML's 28 is not the duration "28", its "yes" not a string;
    # frozen: a config cannot change behind the back of the code handed it.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Top-level key of the section in a YAML file (also the default source of errors).
    namespace: ClassVar[str] = "config"

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc, type(self), data, source=None) from None

    # Tell pydantic this __init__ only wraps its own (as pydantic-settings does), so that
    # model_validate keeps validating directly and from_dict sees the ValidationError.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any):
        # The same error a frozen dataclass gives (configs were dataclasses), not a ValidationError.
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str | None = None):
        """Validate a mapping (a config file's section); errors start with ``source``.

        Raises
        ------
        ConfigError
            Not a mapping, an unknown key, or a bad value.
        """
        source = cls.namespace if source is None else source
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
        data = dict(data or {})  # never the caller's own mapping
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, cls, data, source) from None

    @classmethod
    def load(cls, path: str | Path | None):
        """The :attr:`namespace` section of a YAML file, validated (the defaults without a file)."""
        if path is None:
            return cls()
        return cls.from_dict(read_section(path, cls.namespace), source=str(path))

    def with_overrides(self, **overrides: Any):
        """A validated copy with some fields replaced (``None`` values ignored).

        Errors name the key (``horizon: must be positive, got '0D'``) and
        carry it as :attr:`ConfigError.key`: the caller knows where the value
        came from (a command-line flag) and may say so.
        """
        return self._replaced({k: v for k, v in overrides.items() if v is not None})

    def _replaced(self, given: Mapping[str, Any]):
        return type(self)(**{**self.fields(), **given})

    def fields(self) -> dict[str, Any]:
        """Field name -> value, in declaration order."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_dict(self) -> dict:
        """Plain data (YAML/JSON-serialisable), the inverse of :meth:`from_dict`."""
        return self.fields()


def config_error(exc: ValidationError, cls: type[BaseModel], data: Mapping, source: str | None) -> ConfigError:
    """The first problem of a :class:`ValidationError` as one line naming key and value.

    Unknown keys come first (a typo explains the errors that follow from it).
    Our own checks' messages are complete; pydantic's type and range errors
    are worded from the field's description: ``retries must be a whole
    number >= 0, got -1``.  With a ``source`` (a file) the line starts with
    it; without one, with the key.
    """
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] in _KEY_ERRORS]
    error = (unknown or errors)[0]
    key = error["loc"][0] if error["loc"] else None
    ctx = error.get("ctx") or {}
    if unknown:
        known = sorted(cls.model_fields)
        detail = f"unknown key {key!r}{did_you_mean(key, known)}; known keys: {', '.join(known)}"
    elif error["type"] == CONFIG_ERROR:
        detail, key = ctx["detail"], ctx.get("key") or key
    else:
        value = data.get(key, error["input"]) if isinstance(key, str) else error["input"]
        described = _description(cls.model_fields.get(key)) if isinstance(key, str) else None
        if described:
            detail = f"{key} must be {described}, got {value!r}"
        elif error["type"] == "value_error":
            detail = f"{key}: {ctx.get('error')}"
        else:
            detail = f"{key}: {error['msg'][:1].lower()}{error['msg'][1:]}, got {value!r}"
    key = None if key is None else str(key)
    if source:
        message = f"{source}: {detail}"
    elif key and not unknown and not detail.startswith(key):
        message = f"{key}: {detail}"
    else:
        message = detail
    return ConfigError(message, key=key)


def _description(field: FieldInfo | None) -> str | None:
    """The field's description, or that of the annotated type inside ``X | None``."""
    if field is None:
        return None
    if field.description:
        return field.description
    for arg in typing.get_args(field.annotation):
        for meta in getattr(arg, "__metadata__", ()):
            if isinstance(meta, FieldInfo) and meta.description:
                return meta.description
    return None


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
        raise ConfigError(f"{path}: {namespace!r} must be a mapping", key=namespace)
    return section
