"""The ``yarn:`` section of a config file, validated before anything is submitted.

Example (``specs/nightly.yaml``)::

    yarn:
      name: forecasting-nightly
      queue: default
      workers: 8
      worker_memory: 6 GiB
      worker_vcores: 2
      environment: /opt/forecasting/environment.tar.gz

Memory takes binary units only (``MiB``, ``GiB``, ``TiB``): YARN counts
memory in MiB, and ``4GB`` or a bare ``4096`` are ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from forecasting.config.forecast import check_keys, parse_duration, read_section
from forecasting.errors import ConfigError

NAMESPACE = "yarn"
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MiB|GiB|TiB)\s*$")
_UNITS = {"MiB": 1, "GiB": 1024, "TiB": 1024 * 1024}
_DECIMAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT])[bB]?\s*$")
#: YARN's protocol counts containers, vcores and MiB in signed 32-bit integers.
_MAX_INT32 = 2**31 - 1
#: Names of shipped files (in the container's working directory) and of environment variables.
_FILE_KEY = re.compile(r"^[A-Za-z0-9._-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Fields that must be strings (YAML turns ``queue: 1`` or ``user: no`` into other types).
_TEXT_FIELDS = ("name", "queue", "node_label", "user", "environment", "environment_visibility", "python", "principal",
                "keytab", "driver_address", "driver_security")
#: YARN's LocalResourceVisibility values for the environment archive.
VISIBILITIES = ("application", "public")


def parse_memory(value: Any, what: str) -> int:
    """Memory in MiB from ``"4 GiB"``, ``"512 MiB"``...

    Raises
    ------
    ConfigError
        Without a binary unit, or not positive.
    """
    text = str(value)
    match = _MEMORY.match(text)
    if not match:
        hint = ""
        dec = _DECIMAL.match(text)
        if dec:
            hint = f" (did you mean '{dec.group(1)} {dec.group(2).upper()}iB'?)"
        elif re.fullmatch(r"\s*\d+\s*", text):
            hint = f" (a bare number has no unit: did you mean '{text.strip()} MiB'?)"
        raise ConfigError(f"{what}: {value!r} is not a memory size like '4 GiB' or '512 MiB'{hint}")
    mib = float(match.group(1)) * _UNITS[match.group(2)]
    if mib < 1 or mib != int(mib):
        raise ConfigError(f"{what}: {value!r} must be a whole, positive number of MiB")
    if mib > _MAX_INT32:
        raise ConfigError(f"{what}: {value!r} is more memory than YARN can grant")
    return int(mib)


def _exists(path: str) -> bool:
    if "://" in path:  # hdfs://, s3://: YARN fetches it; nothing to check from here
        return True
    try:
        return Path(path).expanduser().exists()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a name too long, no home directory
        return False


@dataclass(frozen=True)
class YarnConfig:
    """How to run the Dask cluster on YARN.

    Parameters
    ----------
    name, queue, tags, node_label, user
        YARN application name, queue, tags, node label expression (of every
        container) and the user to submit as (empty: the caller).
    workers : int
        Worker containers at start.
    worker_memory, worker_vcores
        Resources of each worker container; the Dask worker gets a memory
        limit of the whole container and one thread per vcore.
    worker_restarts : int
        Times YARN restarts failed worker containers (-1: always).
    scheduler_memory, scheduler_vcores
        Resources of the scheduler container.
    master_memory, master_vcores
        Resources of skein's application master.
    environment : str
        Packed virtualenv (``forecasting pack-env``), shipped as an archive:
        a local path (skein uploads it for each application) or a URL
        (``hdfs:///...``) the NodeManagers read it from.
    environment_visibility : str
        ``application`` (default): every application's containers unpack
        their own copy.  ``public``: each NodeManager unpacks the archive
        once and keeps it for every later application (YARN's public
        cache); needs an ``hdfs://`` (or other cluster) URL whose file and
        folders are world-readable, which YARN checks.
    python : str
        Interpreter inside the unpacked environment.
    files : tuple
        ``(key, path)`` extra files shipped to every container.
    env : tuple
        ``(name, value)`` environment variables of the worker and scheduler.
    principal, keytab
        Kerberos identity of the skein driver (both or neither).
    driver_address, driver_security
        An already running skein driver (``host:port``) and the folder of
        its ``skein.crt``/``skein.pem``; without them skein starts its Java
        driver (needs ``yarn``, ``java`` and ``HADOOP_CONF_DIR``).
    deploy_timeout : str
        How long to wait for the scheduler to come up.
    tls : bool
        Encrypt Dask's own communication with per-application certificates.
    """

    name: str = "forecasting"
    queue: str = "default"
    tags: tuple = ()
    node_label: str = ""
    user: str = ""
    workers: int = 2
    worker_memory: str = "4 GiB"
    worker_vcores: int = 1
    worker_restarts: int = -1
    scheduler_memory: str = "2 GiB"
    scheduler_vcores: int = 1
    master_memory: str = "512 MiB"
    master_vcores: int = 1
    environment: str = "environment.tar.gz"
    environment_visibility: str = "application"
    python: str = "environment/bin/python"
    files: tuple = ()
    env: tuple = ()
    principal: str = ""
    keytab: str = ""
    driver_address: str = ""
    driver_security: str = ""
    deploy_timeout: str = "120s"
    tls: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "yarn") -> "YarnConfig":
        data = check_keys(data, cls, source)
        for key in ("files", "env"):
            if key in data:
                value = data[key] or {}
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{source}: {key} must be a mapping")
                data[key] = tuple(sorted((str(k), str(v)) for k, v in value.items()))
        if "tags" in data:
            tags = data["tags"] or ()
            if isinstance(tags, str) or not isinstance(tags, (list, tuple)) or any(isinstance(t, (Mapping, list)) or "\x00" in str(t) for t in tags):
                raise ConfigError(f"{source}: tags must be a list of names, got {tags!r}")
            data["tags"] = tuple(str(t) for t in tags)
        return cls(**data)

    def validate(self, source: str = "yarn", check_files: bool = True) -> "YarnConfig":
        """Check every value (and, unless told not to, that shipped files exist)."""
        for name in _TEXT_FIELDS:
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{source}: {name} must be a string, got {getattr(self, name)!r}")
            if "\x00" in getattr(self, name):
                raise ConfigError(f"{source}: {name} contains a NUL character")
        if not isinstance(self.tls, bool):
            raise ConfigError(f"{source}: tls must be true or false, got {self.tls!r}")
        for name in ("workers", "worker_vcores", "scheduler_vcores", "master_vcores"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_INT32:
                raise ConfigError(f"{source}: {name} must be a whole number >= 1 (and below 2**31), got {value!r}")
        restarts = self.worker_restarts
        if isinstance(restarts, bool) or not isinstance(restarts, int) or not -1 <= restarts <= _MAX_INT32:
            raise ConfigError(f"{source}: worker_restarts must be -1 (always) or a whole number >= 0, got {self.worker_restarts!r}")
        for name in ("worker_memory", "scheduler_memory", "master_memory"):
            parse_memory(getattr(self, name), f"{source}: {name}")
        parse_duration(self.deploy_timeout, f"{source}: deploy_timeout")
        if not self.name.strip():
            raise ConfigError(f"{source}: name must not be empty")
        if self.environment_visibility not in VISIBILITIES:
            raise ConfigError(f"{source}: environment_visibility must be one of {', '.join(VISIBILITIES)}, "
                              f"got {self.environment_visibility!r}")
        if self.environment_visibility == "public" and "://" not in self.environment:
            raise ConfigError(f"{source}: environment_visibility: public needs the environment on the cluster's file "
                              f"system (an hdfs:// URL), not the local file {self.environment}: a file skein uploads "
                              "lands in the application's private folder, which YARN will not share")
        if bool(self.principal) != bool(self.keytab):
            raise ConfigError(f"{source}: give both principal and keytab for Kerberos, or neither")
        if self.principal and self.driver_address:
            raise ConfigError(
                f"{source}: principal and keytab are used only when skein starts its own driver; "
                "a running driver (driver_address) keeps its own Kerberos login: remove one or the other"
            )
        if check_files:
            paths = [("environment", self.environment)] + [(f"files.{k}", v) for k, v in self.files]
            if self.keytab:
                paths.append(("keytab", self.keytab))
            if self.driver_security:
                paths.append(("driver_security", self.driver_security))
            for what, path in paths:
                if not _exists(path):
                    hint = " (build it with 'forecasting pack-env --out ...')" if what == "environment" else ""
                    raise ConfigError(f"{source}: {what}: {path} does not exist{hint}")
        for key, _ in self.files:
            if key in ("environment", "cache.sqlite", "dask.crt", "dask.pem", ".", "..") or not _FILE_KEY.match(key):
                raise ConfigError(f"{source}: files: {key!r} is reserved or not a plain name")
        for key, value in self.env:
            if not _ENV_NAME.match(key) or "\x00" in value:
                raise ConfigError(f"{source}: env: {key!r} is not an environment variable name (letters, digits, _)")
        return self

    def with_overrides(self, **overrides) -> "YarnConfig":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def worker_memory_mib(self) -> int:
        return parse_memory(self.worker_memory, "worker_memory")

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["files"], out["env"], out["tags"] = dict(self.files), dict(self.env), list(self.tags)
        return out


def load_yarn_config(path) -> YarnConfig:
    """The ``yarn:`` section of a YAML file (defaults without a file); not yet validated."""
    if path is None:
        return YarnConfig()
    return YarnConfig.from_dict(read_section(path, NAMESPACE), source=str(path))
