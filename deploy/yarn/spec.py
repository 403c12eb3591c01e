"""Config -> ``skein.ApplicationSpec``: a pure function, no side effects.

The application follows dask-yarn's conventions, so people who know it feel
at home: a ``dask.scheduler`` service (one instance, never restarted) that
publishes its address and dashboard in skein's key-value store under
``dask.scheduler`` and ``dask.dashboard``, and a ``dask.worker`` service
that depends on it.  Every container gets the packed environment (an
archive, unpacked under ``environment/``); workers also get the SQLite cache
(a file, ``cache.sqlite``) and any extra files.  Containers run the entry
points of :mod:`deploy.yarn.scheduler` and :mod:`deploy.yarn.worker` with
the environment's interpreter.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import skein

from deploy.yarn.config import YarnConfig
from forecasting.config.fields import parse_memory
from forecasting.store.urls import MASK, shown_url

SCHEDULER = "dask.scheduler"
WORKER = "dask.worker"
KV_SCHEDULER = "dask.scheduler"
KV_DASHBOARD = "dask.dashboard"
#: Where workers find the cache: the key it is shipped under.
CACHE_KEY = "cache.sqlite"
ENVIRONMENT_KEY = "environment"
TLS_KEYS = ("dask.crt", "dask.pem")
#: Environment variables whose value is a secret by their name (PGPASSWORD, AWS_SECRET_ACCESS_KEY, API_TOKEN...).
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE|(^|_)(API)?KEY($|_)", re.IGNORECASE)


def _abs(path: str) -> str:
    # skein wants absolute local paths (or URLs such as hdfs://...).
    return path if "://" in path else str(Path(path).expanduser().resolve())


def build_spec(config: YarnConfig, cache_path: str, tls_files: tuple[str, str] | None = None) -> skein.ApplicationSpec:
    """The skein application that runs a Dask cluster for the forecasting jobs.

    Parameters
    ----------
    config : YarnConfig
        Validated ``yarn:`` configuration.
    cache_path : str
        The SQLite cache, shipped to every worker as ``cache.sqlite``.
    tls_files : (str, str), optional
        Certificate and key of this application's Dask TLS, shipped as
        ``dask.crt`` and ``dask.pem``; ``None`` for plain TCP.
    """
    env = dict(config.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    common = {ENVIRONMENT_KEY: skein.File(source=_abs(config.environment), type="archive",
                                          visibility=config.environment_visibility)}
    tls_args = ""
    if tls_files is not None:
        for key, path in zip(TLS_KEYS, tls_files):
            common[key] = skein.File(source=_abs(path), type="file")
        tls_args = " --tls-cert dask.crt --tls-key dask.pem"
    python = shlex.quote(config.python)
    scheduler = skein.Service(
        instances=1,
        max_restarts=0,
        resources=skein.Resources(memory=parse_memory(config.scheduler_memory, "scheduler_memory"), vcores=config.scheduler_vcores),
        files=dict(common),
        env=dict(env),
        script=f"{python} -m deploy.yarn.scheduler{tls_args}",
        node_label=config.node_label,
    )
    worker_files = {**common, CACHE_KEY: skein.File(source=_abs(cache_path), type="file")}
    worker_files.update({key: skein.File(source=_abs(path), type="file") for key, path in config.files})
    memory = config.worker_memory_mib
    worker = skein.Service(
        instances=config.workers,
        max_restarts=config.worker_restarts,
        resources=skein.Resources(memory=memory, vcores=config.worker_vcores),
        files=worker_files,
        env=dict(env),
        script=f"{python} -m deploy.yarn.worker --nthreads {config.worker_vcores} --memory-limit {memory}MiB{tls_args}",
        depends=[SCHEDULER],
        node_label=config.node_label,
    )
    return skein.ApplicationSpec(
        name=config.name,
        queue=config.queue,
        user=config.user,
        node_label=config.node_label,
        tags=set(config.tags),
        master=skein.Master(
            resources=skein.Resources(memory=parse_memory(config.master_memory, "master_memory"), vcores=config.master_vcores)
        ),
        services={SCHEDULER: scheduler, WORKER: worker},
    )


def shown_env(name: str, value: str) -> str:
    """An environment variable's value as it may be printed: ``***`` for a secret, URL passwords masked.

    The containers get the real value (:func:`build_spec`); this is for
    what is shown (``forecasting spec``).
    """
    return MASK if SECRET_NAME.search(name) else shown_url(value)


def shown_spec(spec: skein.ApplicationSpec) -> skein.ApplicationSpec:
    """A copy of ``spec`` to print: every service's environment through :func:`shown_env`.

    What is submitted is ``spec`` itself; a copy printed with the secrets in
    it would put them in terminals, CI logs and cron mails.
    """
    shown = skein.ApplicationSpec.from_dict(spec.to_dict())
    for service in shown.services.values():
        service.env = {name: shown_env(name, value) for name, value in service.env.items()}
    return shown
