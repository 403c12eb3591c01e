"""Annotated types of config values: one per kind of value, each checked in one place.

A config model declares ``horizon: Duration`` or ``workers: Count`` and
pydantic applies the check.  Messages name the key and the value; pydantic's
own type and range errors are worded from the type's ``description``
(``retries must be a whole number >= 0, got -1``) by
:func:`forecasting.config.base.config_error`.

Durations and memory sizes are kept as the text given (``"28D"``,
``"6 GiB"``), so a config dumps back to what was written and its digest does
not depend on how the value was parsed; :func:`parse_duration` and
:func:`parse_memory` give the numbers.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Callable

import pandas as pd
from pydantic import AfterValidator, Field, PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from forecasting.errors import ConfigError

#: pydantic error type of our own checks: the message is complete (``ctx["detail"]``).
CONFIG_ERROR = "config"
#: YARN's protocol counts containers, vcores and MiB in signed 32-bit integers.
MAX_INT32 = 2**31 - 1

_NUMBER = re.compile(r"^\s*[-+]?\d+(?:\.\d*)?\s*$")
_UNSIGNED = re.compile(r"^\s*\d+(?:\.\d*)?\s*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MiB|GiB|TiB)\s*$")
_UNITS = {"MiB": 1, "GiB": 1024, "TiB": 1024 * 1024}
_DECIMAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT])[bB]?\s*$")


def fail(detail: str, key: str | None = None) -> PydanticCustomError:
    """A validation error with our complete message (raise it in a model validator).

    ``key`` names the config key at fault where pydantic's location does not
    (checks across several fields).
    """
    return PydanticCustomError(CONFIG_ERROR, "{detail}", {"detail": detail, "key": key})


def checked(check: Callable[[Any, str], Any]) -> Callable[[Any, ValidationInfo], Any]:
    """A pydantic validator from ``check(value, key)``, which returns the value to keep
    or raises :class:`ValueError` / :class:`ConfigError` with a message naming the key."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return check(value, info.field_name)
        except (ValueError, ConfigError) as exc:
            raise fail(str(exc)) from None

    return validate


# --------------------------------------------------------------------------- durations


def parse_duration(value: Any, what: str) -> pd.Timedelta:
    """Parse a positive duration like ``28D``, ``12h`` or ``90min``.

    Raises
    ------
    ConfigError
        If ``value`` is not a positive duration (a bare number is not: it has no unit).
    """
    try:
        return _timedelta(value, what)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _timedelta(value: Any, what: str) -> pd.Timedelta:
    hint = ""
    if isinstance(value, bool) or not isinstance(value, str) or _NUMBER.match(value):
        # pandas reads "28" as 28 nanoseconds: a unit is required.
        if not isinstance(value, bool) and isinstance(value, (int, float, str)) and _UNSIGNED.match(str(value)):
            hint = f" (a bare number has no unit: did you mean '{str(value).strip()}D'?)"
        raise ValueError(f"{what}: {value!r} is not a duration (examples: 28D, 36h, 90min){hint}")
    try:
        delta = pd.Timedelta(value.strip())
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{what}: {value!r} is not a duration (examples: 28D, 36h, 90min)") from None
    if pd.isna(delta) or delta <= pd.Timedelta(0):
        raise ValueError(f"{what}: must be positive, got {value!r}")
    return delta


def _duration(value: Any, what: str) -> str:
    _timedelta(value, what)
    return value


def _whole_days(value: Any, what: str) -> str:
    if _timedelta(value, what) % pd.Timedelta("1D"):
        raise ValueError(f"{what} must be whole days, got {value!r}")
    return value


def _date(value: Any, what: str):
    # YAML gives a date object for 2024-01-01 and a string for "2024-01-01": both are dates.
    try:
        if not isinstance(value, (str, datetime.date)):
            raise TypeError(value)
        pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{what} is not a date: {value!r}") from None
    return value


#: A positive duration with a unit (``28D``, ``36h``, ``90min``), kept as given.
Duration = Annotated[str, PlainValidator(checked(_duration))]
#: A positive duration of whole days (``7D``).
WholeDays = Annotated[str, PlainValidator(checked(_whole_days))]
#: A date: ``2024-01-01`` (YAML makes it a ``datetime.date``) or any text pandas reads as one.
Date = Annotated[Any, PlainValidator(checked(_date))]


# --------------------------------------------------------------------------- memory


def parse_memory(value: Any, what: str) -> int:
    """Memory in MiB from ``"4 GiB"``, ``"512 MiB"``...

    Binary units only: YARN counts memory in MiB, and ``4GB`` or a bare
    ``4096`` are ambiguous.

    Raises
    ------
    ConfigError
        Without a binary unit, or not positive.
    """
    try:
        return _mib(value, what)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _mib(value: Any, what: str) -> int:
    text = str(value)
    match = _MEMORY.match(text) if isinstance(value, str) else None
    if not match:
        hint = ""
        dec = _DECIMAL.match(text)
        if dec:
            hint = f" (did you mean '{dec.group(1)} {dec.group(2).upper()}iB'?)"
        elif re.fullmatch(r"\s*\d+\s*", text):
            hint = f" (a bare number has no unit: did you mean '{text.strip()} MiB'?)"
        raise ValueError(f"{what}: {value!r} is not a memory size like '4 GiB' or '512 MiB'{hint}")
    mib = float(match.group(1)) * _UNITS[match.group(2)]
    if mib < 1 or mib != int(mib):
        raise ValueError(f"{what}: {value!r} must be a whole, positive number of MiB")
    if mib > MAX_INT32:
        raise ValueError(f"{what}: {value!r} is more memory than YARN can grant")
    return int(mib)


def _memory(value: Any, what: str) -> str:
    _mib(value, what)
    return value


#: Memory with a binary unit (``6 GiB``, ``512 MiB``), kept as given.
MemorySize = Annotated[str, PlainValidator(checked(_memory))]


# --------------------------------------------------------------------------- numbers, text, flags


def _no_nul(value: str, what: str) -> str:
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    return value


#: A number from 0 to 1; an int stays an int (``1`` is ``1``, not ``1.0``), so digests do not change.
Fraction = Annotated[int | float, Field(ge=0, le=1, description="a number between 0 and 1")]
#: 0, 1, 2...
WholeNumber = Annotated[int, Field(ge=0, description="a whole number >= 0")]
#: 1, 2, 3...
Count = Annotated[int, Field(ge=1, description="a whole number >= 1")]
#: A random seed numpy accepts.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="a whole number from 0 to 2**32 - 1")]
#: Text without NUL characters (YAML turns ``queue: 1`` or ``user: no`` into other types: refused).
Text = Annotated[str, Field(description="a string"), AfterValidator(checked(_no_nul))]
#: ``true`` or ``false``.
Flag = Annotated[bool, Field(description="true or false")]


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{what} must be a list of names, got {value!r}")
    return tuple(v.strip() for v in value)


#: Names: a YAML list of non-empty strings, or one comma-separated string; a tuple.
Names = Annotated[tuple[str, ...], PlainValidator(checked(_names))]
