"""Cluster back ends of the engine: a local Dask cluster, a scheduler address, YARN.

Each is a :class:`forecasting.runs.backends.Backend` that ``setup.cfg``
registers in the ``forecasting.backends`` entry-point group, so the engine
finds them without importing this package.  Each opener is a context
manager: whatever happens inside the block (success, an exception, Ctrl-C)
the client is closed and any cluster it started is shut down.

Back ends
---------
``local``
    A ``distributed.LocalCluster`` on this machine: one single-threaded
    worker process per core (or ``workers``), so numerical libraries do not
    fight over cores.  Its scheduler and dashboard listen on loopback only
    (``dashboard_address``, ``--dashboard-address``, exposes the dashboard).
``address`` (``tcp://host:port`` or ``tls://``)
    An existing scheduler.  Its workers must be able to read the cache at
    the same path.  A ``tls://`` scheduler needs the certificates of the
    config's ``cluster:`` section (``deploy.cluster_config``), checked
    before anything connects.
``yarn``
    A Dask cluster on YARN for the length of the block (``deploy.yarn``);
    it adds its own options (``--queue``...) to the commands that start a
    cluster, on top of the config's ``yarn:`` section.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

from deploy.dask_settings import CLUSTER_DASK_CONFIG
from forecasting.errors import ClusterError, UsageError
from forecasting.runs.backends import Backend, Target, open_backend

log = logging.getLogger(__name__)

#: Where a local cluster's dashboard listens by default: this machine only (as the link we log says), a free port.
LOCAL_DASHBOARD = "127.0.0.1:0"


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def open_executor(
    target: str,
    workers: int | None = None,
    retries: int = 2,
    connect_timeout: float | None = None,
    yarn=None,
    cache_path: str | None = None,
    log_dir: str | None = None,
    dashboard_address: str | None = None,
):
    """Open the cluster named by ``target`` and yield an executor for it (a context manager).

    The same as :func:`forecasting.runs.backends.open_backend`, with the
    options of this package's back ends spelled out.

    Parameters
    ----------
    target : str
        ``serial``, ``local``, ``yarn`` or a scheduler address.
    workers : int, optional
        Worker processes of a local cluster (one per core by default), or
        YARN worker containers (overriding ``yarn.workers``).
    retries : int
        Task retries after transient errors.
    connect_timeout : float, optional
        Seconds to wait for a remote scheduler (default: Dask's
        ``distributed.comm.timeouts.connect``, 30 s unless configured).
    yarn : deploy.yarn.config.YarnConfig, optional
        With ``target="yarn"``: the application to start.
    cache_path : str, optional
        With ``target="yarn"``: the cache to ship to the workers.
    log_dir : str, optional
        With ``target="local"``: each worker also logs to
        ``LOG_DIR/worker-<name>/dask.worker.log``.
    dashboard_address : str, optional
        With ``target="local"``: ``HOST:PORT`` the dashboard listens at
        (default :data:`LOCAL_DASHBOARD`, loopback only).

    Raises
    ------
    UsageError
        An unknown target or a bad worker count.
    ClusterError
        The cluster cannot be started or reached.
    """
    return open_backend(target, workers=workers, retries=retries, connect_timeout=connect_timeout, yarn=yarn,
                        cache_path=cache_path, log_dir=log_dir, dashboard_address=dashboard_address)


@contextlib.contextmanager
def open_local(target: Target, workers: int | None = None, retries: int = 2, log_dir: str | None = None,
               dashboard_address: str | None = None, **_other_backends_options) -> Iterator:
    """A ``LocalCluster`` of ``workers`` single-threaded processes (one per core by default).

    Its dashboard listens at ``dashboard_address`` (``HOST:PORT``, port 0 for
    any free one), by default :data:`LOCAL_DASHBOARD`: loopback only, since
    anyone who can reach it sees the run's tasks and logs.
    """
    from forecasting.runs.executors import DaskExecutor

    with _local_client(workers or default_workers(), log_dir, dashboard_address or LOCAL_DASHBOARD) as client:
        yield DaskExecutor(client, retries=retries)


def check_local(target: Target, options: dict) -> dict:
    """Refuse a ``dashboard_address`` that is not ``HOST:PORT`` (or ``:PORT``) before a cluster starts."""
    address = options.get("dashboard_address")
    if address is None:
        return options
    host, sep, port = str(address).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in host):
        raise UsageError(f"dashboard_address must be HOST:PORT (e.g. {LOCAL_DASHBOARD}, or 0.0.0.0:8787 to reach it "
                         f"from other hosts), got {address!r}", param="dashboard_address")
    return options


def add_local_arguments(parser) -> None:
    """The local cluster's own option: where its dashboard listens."""
    group = parser.add_argument_group("local cluster (with --cluster local)")
    group.add_argument("--dashboard-address", metavar="HOST:PORT",
                       help=f"where the dashboard listens (default {LOCAL_DASHBOARD}: this machine only, a free port); "
                       "0.0.0.0:8787 lets other hosts reach it")


def _local_options(args) -> dict:
    return {"dashboard_address": args.dashboard_address}


def check_address(target: Target, options: dict) -> dict:
    """The options with the ``security`` to reach the scheduler with, checked before anything connects.

    A ``security=`` option (a ``distributed.security.Security``) is used as
    given.  Otherwise the ``cluster:`` section of the config file at
    ``config_path`` names the certificates: a ``tls://`` address needs them
    (each file is read now), a ``tcp://`` one must not have any.

    Raises
    ------
    UsageError
        A ``tls://`` address without certificates, or certificates for a ``tcp://`` one (``param="cluster"``).
    ConfigError
        A bad ``cluster:`` section, or a certificate file missing or unreadable.
    """
    from deploy.cluster_config import load_cluster_config

    if options.get("security") is not None:
        return options
    path = options.get("config_path")
    config = load_cluster_config(path)
    encrypted = target.text.startswith("tls://")
    if encrypted and not config.tls:
        where = f"of the config {path}" if path is not None else "of a config (none was given)"
        raise UsageError(f"cluster: {target.text} needs TLS certificates: name tls_ca_file, tls_cert and tls_key in the "
                         f"'cluster:' section {where}", param="cluster")
    if config.tls and not encrypted:
        raise UsageError(f"cluster: {target.text} is not encrypted, but the 'cluster:' section of {path} names TLS "
                         f"certificates: use tls://{target.text.split('://', 1)[1]}", param="cluster")
    return {**options, "security": config.check_files(str(path)).security() if config.tls else None}


@contextlib.contextmanager
def open_address(target: Target, retries: int = 2, connect_timeout: float | None = None, security=None,
                 **_other_backends_options) -> Iterator:
    """A client of the running scheduler at ``target.text``; the cluster outlives it.

    ``connect_timeout`` defaults to Dask's own ``distributed.comm.timeouts.connect``
    (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT``...), the one knob the
    command line has for how long an unreachable scheduler is waited for.
    ``security`` (from :func:`check_address`) is the client's TLS.
    """
    from forecasting.runs.executors import DaskExecutor

    with _remote_client(target.text, connect_timeout, security) as client:
        yield DaskExecutor(client, retries=retries)


def check_yarn(target: Target, options: dict) -> dict:
    """The YARN application to start, validated, with ``workers`` applied."""
    yarn, cache_path = options.get("yarn"), options.get("cache_path")
    if yarn is None or cache_path is None:
        raise UsageError("yarn: the yarn back end needs a YARN config (yarn=, e.g. a config's 'yarn:' section) "
                         "and the cache to ship (cache_path=)", param="yarn")
    return {**options, "yarn": yarn.with_overrides(workers=options.get("workers")).check_files()}


@contextlib.contextmanager
def open_yarn(target: Target, yarn=None, cache_path: str | None = None, retries: int = 2,
              **_other_backends_options) -> Iterator:
    """A Dask cluster on YARN (``yarn``, checked by :func:`check_yarn`) for the length of the block."""
    from deploy.yarn.run import yarn_client
    from forecasting.runs.executors import DaskExecutor

    with yarn_client(yarn, cache_path) as (client, cluster):
        executor = DaskExecutor(client, retries=retries)
        executor.worker_cache_path = cluster.worker_cache_path
        executor.worker_death_reason = cluster.container_end
        yield executor


def add_yarn_arguments(parser, workers: bool = False) -> None:
    """The options that override the config's ``yarn:`` section (``workers``: also ``--workers``)."""
    group = parser.add_argument_group("YARN (with --cluster yarn; override the config's 'yarn:' section)")
    if workers:
        group.add_argument("--workers", type=int, help="worker containers")
    group.add_argument("--queue", help="YARN queue")
    group.add_argument("--name", help="YARN application name")
    group.add_argument("--environment", help="packed environment archive (forecasting pack-env)")
    group.add_argument("--worker-memory", help="memory per worker container, e.g. '6 GiB'")
    group.add_argument("--worker-vcores", type=int, help="vcores (and threads) per worker container")


def yarn_config_from_args(args):
    """The ``yarn:`` section of ``--config`` with the command line's overrides; not yet validated."""
    from deploy.yarn.config import load_yarn_config

    config = load_yarn_config(args.config)
    env = dict(config.env)
    # Containers log at the driver's --log-level unless the config's 'env' says otherwise.
    env.setdefault("FORECASTING_LOG_LEVEL", args.log_level)
    return config.with_overrides(
        queue=args.queue, name=args.name, environment=args.environment, worker_memory=args.worker_memory,
        worker_vcores=args.worker_vcores, env=tuple(sorted(env.items())),
    )


def _yarn_options(args) -> dict:
    return {"yarn": yarn_config_from_args(args)}


local_backend = Backend("local", open_local, check=check_local, add_arguments=add_local_arguments,
                        options_from_args=_local_options)
address_backend = Backend("address", open_address, check=check_address)
yarn_backend = Backend("yarn", open_yarn, check=check_yarn, add_arguments=add_yarn_arguments,
                       options_from_args=_yarn_options)


@contextlib.contextmanager
def _local_client(n_workers: int, log_dir: str | None = None, dashboard_address: str = LOCAL_DASHBOARD):
    import dask
    from distributed import Client, LocalCluster

    from deploy.preload import preload_plugins
    from deploy.worker_logging import ContainerLogging
    from forecasting.logs.timeline import mark

    try:
        with dask.config.set(CLUSTER_DASK_CONFIG):
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                # Not ":0", which is every interface, while the link logged says 127.0.0.1.
                dashboard_address=dashboard_address,
                silence_logs=logging.WARNING,
                # Worker processes log in the driver's format, at its level, and import
                # the models in the background from the moment they start (deploy.preload).
                plugins={ContainerLogging(logging.getLogger().getEffectiveLevel(), log_dir), *preload_plugins()},
            )
        mark("cluster_started")
    except Exception as exc:  # noqa: BLE001 - any start failure is the cluster's
        raise ClusterError(f"could not start a local Dask cluster: {exc}") from exc
    try:
        with Client(cluster) as client:
            log.info("local Dask cluster: %d single-threaded worker processes", n_workers)
            yield client
    finally:
        cluster.close()


@contextlib.contextmanager
def _remote_client(address: str, timeout: float | None, security=None):
    import dask
    from dask.utils import parse_timedelta
    from distributed import Client

    if timeout is None:
        timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds")
    try:
        client = Client(address, timeout=timeout, **({"security": security} if security is not None else {}))
    except (OSError, TimeoutError) as exc:
        tls = _tls_failure(exc) if address.startswith("tls://") else None
        if tls:  # Dask gives up on a TLS handshake at once: waiting is not the problem, so not "within Ns".
            raise ClusterError(f"cannot connect to the Dask scheduler at {address}: {tls}") from None
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g}s: {exc}") from None
    try:
        n = len(client.scheduler_info().get("workers", {}))
        log.info("connected to %s: %d workers", address, n)
        yield client
    finally:
        client.close()


def _tls_failure(exc: Exception) -> str | None:
    """Why a TLS handshake failed, on one line, saying whose certificate was refused; None if it was no TLS failure."""
    import re
    import ssl

    cause = exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (f"its certificate is not signed by a CA of tls_ca_file ({cause.verify_message}); "
                "check the config's 'cluster:' section")
    text = " ".join(str(exc).split())
    found = re.search(r"SSL\w*Error: .*", text)
    detail = found.group(0) if found else (f"{type(cause).__name__}: {cause}" if isinstance(cause, ssl.SSLError) else None)
    if detail is None:
        return None
    if "ALERT" in detail:
        # The scheduler ended the handshake with an alert: it does not trust this client's certificate.
        return f"the scheduler refused this client's certificate (tls_cert): {detail}"
    # With TLS 1.3 the scheduler checks the client's certificate after the client is done:
    # a refusal may reach the client as a closed connection only.
    return f"the TLS handshake failed (does a CA the scheduler trusts sign this client's tls_cert?): {detail}"
