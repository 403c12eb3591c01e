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

Values are checked when the config is made; whether the files it ships
exist is checked by :meth:`YarnConfig.check_files`, on the machine that
submits (the archive of a shipped spec may live on another one).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from forecasting.config.base import ConfigModel
from forecasting.config.fields import MAX_INT32, Duration, Flag, MemorySize, Text, checked, fail, parse_memory
from forecasting.errors import ConfigError

NAMESPACE = "yarn"
#: Names of shipped files (in the container's working directory) and of environment variables.
_FILE_KEY = re.compile(r"^[A-Za-z0-9._-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_FILES = ("environment", "cache.sqlite", "dask.crt", "dask.pem", ".", "..")
#: YARN's LocalResourceVisibility values for the environment archive.
VISIBILITIES = ("application", "public")

__all__ = ["NAMESPACE", "VISIBILITIES", "YarnConfig", "load_yarn_config"]


def _tags(value: Any, key: str) -> tuple[str, ...]:
    tags = value or ()
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)) or any(isinstance(t, (Mapping, list, tuple)) or "\x00" in str(t) for t in tags):
        raise ValueError(f"{key} must be a list of names, got {value!r}")
    return tuple(str(t) for t in tags)


def _pairs(value: Any, key: str) -> tuple[tuple[str, str], ...]:
    """A mapping (YAML) or pairs (a copy) as sorted ``(str, str)`` pairs."""
    value = value or {}
    if isinstance(value, tuple):
        try:
            value = dict(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a mapping") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a mapping")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _files(pairs: tuple, key: str) -> tuple:
    for name, _ in pairs:
        if name in _RESERVED_FILES or not _FILE_KEY.match(name):
            raise ValueError(f"{key}: {name!r} is reserved or not a plain name")
    return pairs


def _env(pairs: tuple, key: str) -> tuple:
    for name, value in pairs:
        if not _ENV_NAME.match(name) or "\x00" in value:
            raise ValueError(f"{key}: {name!r} is not an environment variable name (letters, digits, _)")
    return pairs


def _not_blank(value: str, key: str) -> str:
    if not value.strip():
        raise ValueError(f"{key} must not be empty")
    return value


#: Containers and vcores: YARN's protocol counts them in signed 32-bit integers.
Containers = Annotated[int, Field(ge=1, le=MAX_INT32, description="a whole number >= 1 (and below 2**31)")]
Tags = Annotated[tuple[str, ...], BeforeValidator(checked(_tags))]
Pairs = Annotated[tuple[tuple[str, str], ...], BeforeValidator(checked(_pairs))]


class YarnConfig(ConfigModel):
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

    namespace = NAMESPACE

    name: Annotated[Text, AfterValidator(checked(_not_blank))] = "forecasting"
    queue: Text = "default"
    tags: Tags = ()
    node_label: Text = ""
    user: Text = ""
    workers: Containers = 2
    worker_memory: MemorySize = "4 GiB"
    worker_vcores: Containers = 1
    worker_restarts: Annotated[int, Field(ge=-1, le=MAX_INT32, description="-1 (always) or a whole number >= 0")] = -1
    scheduler_memory: MemorySize = "2 GiB"
    scheduler_vcores: Containers = 1
    master_memory: MemorySize = "512 MiB"
    master_vcores: Containers = 1
    environment: Text = "environment.tar.gz"
    environment_visibility: Annotated[Literal[VISIBILITIES], Field(description=f"one of {', '.join(VISIBILITIES)}")] = "application"
    python: Text = "environment/bin/python"
    files: Annotated[Pairs, AfterValidator(checked(_files))] = ()
    env: Annotated[Pairs, AfterValidator(checked(_env))] = ()
    principal: Text = ""
    keytab: Text = ""
    driver_address: Text = ""
    driver_security: Text = ""
    deploy_timeout: Duration = "120s"
    tls: Flag = False

    @model_validator(mode="after")
    def _consistent(self) -> "YarnConfig":
        if self.environment_visibility == "public" and "://" not in self.environment:
            raise fail("environment_visibility: public needs the environment on the cluster's file system (an hdfs:// URL), "
                       f"not the local file {self.environment}: a file skein uploads lands in the application's private "
                       "folder, which YARN will not share", key="environment_visibility")
        if bool(self.principal) != bool(self.keytab):
            raise fail("give both principal and keytab for Kerberos, or neither", key="keytab" if self.principal else "principal")
        if self.principal and self.driver_address:
            raise fail("principal and keytab are used only when skein starts its own driver; a running driver "
                       "(driver_address) keeps its own Kerberos login: remove one or the other", key="driver_address")
        return self

    def check_files(self, source: str = NAMESPACE) -> "YarnConfig":
        """``self``, after checking that the local files it ships exist (URLs are YARN's to fetch).

        Raises
        ------
        ConfigError
            Naming the key and the missing path.
        """
        paths = [("environment", self.environment)] + [(f"files.{k}", v) for k, v in self.files]
        if self.keytab:
            paths.append(("keytab", self.keytab))
        if self.driver_security:
            paths.append(("driver_security", self.driver_security))
        for what, path in paths:
            if not _exists(path):
                hint = " (build it with 'forecasting pack-env --out ...')" if what == "environment" else ""
                raise ConfigError(f"{source}: {what}: {path} does not exist{hint}", key=what.split(".")[0])
        return self

    @property
    def worker_memory_mib(self) -> int:
        """:attr:`worker_memory` in MiB."""
        return parse_memory(self.worker_memory, "worker_memory")

    def to_dict(self) -> dict:
        """Plain data (YAML/JSON-serialisable), the inverse of :meth:`from_dict`."""
        return {**self.fields(), "files": dict(self.files), "env": dict(self.env), "tags": list(self.tags)}


def _exists(path: str) -> bool:
    if "://" in path:  # hdfs://, s3://: YARN fetches it; nothing to check from here
        return True
    try:
        return Path(path).expanduser().exists()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a name too long, no home directory
        return False


def load_yarn_config(path) -> YarnConfig:
    """The ``yarn:`` section of a YAML file, validated (defaults without a file); files are not checked."""
    return YarnConfig.load(path)
