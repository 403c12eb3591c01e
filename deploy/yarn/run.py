"""Start a Dask cluster on YARN for one run, and tear it down on every exit path."""

from __future__ import annotations

import contextlib
import logging
import tempfile

from deploy.yarn.config import YarnConfig
from deploy.yarn.spec import CACHE_KEY, build_spec
from forecasting.config.fields import parse_duration
from forecasting.errors import ClusterError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def skein_client(config: YarnConfig):
    """A skein client: connected to ``driver_address`` if given, else skein's own Java driver."""
    import skein

    kwargs = {}
    if config.principal:
        kwargs.update(principal=config.principal, keytab=config.keytab)
    try:
        if config.driver_address:
            security = skein.Security.from_directory(config.driver_security) if config.driver_security else None
            client = skein.Client(address=config.driver_address, security=security, **kwargs)
        else:
            client = skein.Client(**kwargs)
    except Exception as exc:  # noqa: BLE001 - skein raises several kinds here
        where = config.driver_address or "a new skein driver (needs yarn, java and HADOOP_CONF_DIR)"
        raise ClusterError(f"cannot connect to {where}: {type(exc).__name__}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def yarn_client(config: YarnConfig, cache_path: str):
    """Yield ``(distributed.Client, YarnCluster)``; the application ends with the block.

    The final status is SUCCEEDED after a normal exit, KILLED after Ctrl-C,
    FAILED after any other exception.
    """
    from distributed import Client

    from deploy.yarn.cluster import YarnCluster
    from deploy.yarn.tls import dask_security, write_credentials

    config = config.check_files()
    timeout = parse_duration(config.deploy_timeout, "deploy_timeout").total_seconds()
    with tempfile.TemporaryDirectory(prefix="forecasting-yarn-") as tmp:
        tls = write_credentials(tmp) if config.tls else None
        security = dask_security(*tls) if tls else None
        spec = build_spec(config, cache_path, tls)
        with skein_client(config) as skein:
            cluster = YarnCluster(skein, spec, deploy_timeout=timeout, security=security)
            cluster.worker_cache_path = CACHE_KEY
            status, diagnostics = "SUCCEEDED", ""
            try:
                with Client(cluster, security=security) as client:
                    log.info("YARN application %s: dashboard %s", cluster.app_id, cluster.dashboard_link or "unavailable")
                    yield client, cluster
            except KeyboardInterrupt:
                status, diagnostics = "KILLED", "interrupted"
                raise
            except BaseException as exc:
                status, diagnostics = "FAILED", f"{type(exc).__name__}: {exc}"
                raise
            finally:
                cluster.close(status, diagnostics)
