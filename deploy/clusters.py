"""Cluster backends: turn ``--cluster`` into a connected executor.

``open_executor`` is the one place that creates and tears down clusters.  It
is a context manager: whatever happens inside the block (success, an
exception, Ctrl-C) the client is closed and any cluster it started is shut
down.

Targets
-------
``serial``
    No Dask: every job runs in this process, in order.
``local``
    A ``distributed.LocalCluster`` on this machine: one single-threaded
    worker process per core (or ``workers``), so numerical libraries do not
    fight over cores.
``tcp://host:port`` (or ``tls://``)
    An existing scheduler.  Its workers must be able to read the cache at
    the same path.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

from deploy.dask_settings import CLUSTER_DASK_CONFIG
from forecasting.errors import ClusterError, UsageError
from forecasting.runs.executors import DaskExecutor, SerialExecutor

log = logging.getLogger(__name__)

TARGETS = ("serial", "local", "tcp://host:port", "yarn")

def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_target(target: str) -> str:
    """Validate a ``--cluster`` value; return its kind (serial, local, address)."""
    if target in ("serial", "local"):
        return target
    if target.startswith(("tcp://", "tls://")) and len(target.split("://", 1)[1]) > 0:
        return "address"
    if target == "yarn":
        return "yarn"
    raise UsageError(f"--cluster must be one of {', '.join(TARGETS)}, got {target!r}")


@contextlib.contextmanager
def open_executor(
    target: str,
    workers: int | None = None,
    retries: int = 2,
    connect_timeout: float = 30.0,
    yarn=None,
    cache_path: str | None = None,
    log_dir: str | None = None,
) -> Iterator:
    """Open the cluster named by ``target`` and yield an executor for it.

    Parameters
    ----------
    target : str
        ``serial``, ``local`` or a scheduler address.
    workers : int, optional
        Worker processes of a local cluster; one per core by default.
    retries : int
        Task retries after transient errors.
    connect_timeout : float
        Seconds to wait for a remote scheduler.
    yarn : deploy.yarn.config.YarnConfig, optional
        With ``target="yarn"``: the application to start (``workers``
        overrides its worker count).
    cache_path : str, optional
        With ``target="yarn"``: the cache to ship to the workers.
    log_dir : str, optional
        With ``target="local"``: each worker also logs to
        ``LOG_DIR/worker-<name>/dask.worker.log``.

    Raises
    ------
    UsageError
        An unknown target or a bad worker count.
    ClusterError
        The cluster cannot be started or reached.
    """
    kind = parse_target(target)
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if kind == "serial":
        yield SerialExecutor(retries=retries)
        return
    if kind == "local":
        with _local_client(workers or default_workers(), log_dir) as client:
            yield DaskExecutor(client, retries=retries)
        return
    if kind == "yarn":
        from deploy.yarn.run import yarn_client

        if yarn is None or cache_path is None:
            raise UsageError("--cluster yarn needs a config with a 'yarn:' section (--config) and a cache")
        with yarn_client(yarn.with_overrides(workers=workers), cache_path) as (client, cluster):
            executor = DaskExecutor(client, retries=retries)
            executor.worker_cache_path = cluster.worker_cache_path
            executor.worker_death_reason = cluster.container_end
            yield executor
        return
    with _remote_client(target, connect_timeout) as client:
        yield DaskExecutor(client, retries=retries)


@contextlib.contextmanager
def _local_client(n_workers: int, log_dir: str | None = None):
    import dask
    from distributed import Client, LocalCluster

    from deploy.yarn.container import ContainerLogging

    try:
        with dask.config.set(CLUSTER_DASK_CONFIG):
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.WARNING,
                # Worker processes log in the driver's format, at its level.
                plugins={ContainerLogging(logging.getLogger().getEffectiveLevel(), log_dir)},
            )
    except Exception as exc:  # noqa: BLE001 - any start failure is the cluster's
        raise ClusterError(f"could not start a local Dask cluster: {exc}") from exc
    try:
        with Client(cluster) as client:
            log.info("local Dask cluster: %d single-threaded worker processes", n_workers)
            yield client
    finally:
        cluster.close()


@contextlib.contextmanager
def _remote_client(address: str, timeout: float):
    from distributed import Client

    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:.0f}s: {exc}") from None
    try:
        n = len(client.scheduler_info().get("workers", {}))
        log.info("connected to %s: %d workers", address, n)
        yield client
    finally:
        client.close()
