"""Start a Dask cluster on YARN for one run, and tear it down on every exit path."""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from pathlib import Path

from deploy.yarn.config import YarnConfig
from deploy.yarn.spec import CACHE_KEY, build_spec
from forecasting.config.fields import parse_duration
from forecasting.errors import ClusterError

log = logging.getLogger(__name__)


#: What a Kerberos login failure looks like in the driver's log (JAAS, Kerby and the JDK's wording).
KERBEROS_LOGIN_FAILED_RE = re.compile(
    r"LoginException|Unable to obtain password|Checksum failed|Pre-authentication|Client not found in Kerberos database"
    r"|Cannot locate default realm|KrbException|keytab", re.I)
NO_TICKET = "Kerberos ticket not found"


def _driver_gist(log_path: Path) -> str:
    """The most telling line of a skein driver's log: its last exception or error, without the stack trace."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    causes = [ln.strip() for ln in lines if re.match(r"\s*(Caused by: |Exception in thread|\S*(Exception|Error)\b)", ln)]
    errors_ = [ln.strip() for ln in lines if " ERROR " in ln or " FATAL " in ln]
    pick = (causes or errors_ or [ln.strip() for ln in lines if ln.strip()] or [""])[-1]
    return pick.removeprefix("Caused by: ")[:300]


def kerberos_login_error(config: YarnConfig, gist: str) -> ClusterError:
    return ClusterError(
        f"Kerberos login as {config.principal} with keytab {config.keytab} failed ({gist or 'see the driver log'}); "
        "check yarn.principal and yarn.keytab in the config ('klist -kt KEYTAB' lists the principals a keytab holds) "
        "and that the JVM finds krb5.conf (/etc/krb5.conf, or -Djava.security.krb5.conf in SKEIN_DRIVER_JAVA_OPTIONS)")


def no_ticket_error() -> ClusterError:
    return ClusterError(
        "the YARN cluster needs Kerberos and this process has no Kerberos ticket: set yarn.principal and yarn.keytab "
        "in the config (the nightly run logs in and renews from the keytab), or run 'kinit' before starting")


def check_logged_in(client, config: YarnConfig) -> None:
    """Fail before submitting when the driver holds no Kerberos credentials.

    skein's driver starts even without a ticket on a kerberized cluster and
    answers every YARN call with "Kerberos ticket not found": one cheap call
    (the queue's status) finds out, before anything is uploaded.
    """
    import skein

    try:
        client.get_queue(config.queue)
    except Exception as exc:  # noqa: BLE001 - a missing queue etc.: submit says it better
        if isinstance(exc, skein.exceptions.DriverError) and NO_TICKET in str(exc):
            raise no_ticket_error() from None
        log.debug("queue check before submitting failed: %s", exc)


@contextlib.contextmanager
def skein_client(config: YarnConfig, log_dir: str | None = None):
    """A skein client: connected to ``driver_address`` if given, else skein's own Java driver.

    The driver's own output goes to ``log_dir/skein-driver.log`` (never to
    the terminal: a failed Kerberos login there is a Java stack trace); its
    gist is in the one-line :class:`~forecasting.errors.ClusterError`.
    """
    import skein

    kwargs = {}
    if config.principal:
        kwargs.update(principal=config.principal, keytab=config.keytab)
    with contextlib.ExitStack() as stack:
        folder = Path(log_dir) if log_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="skein-")))
        driver_log = folder / "skein-driver.log"
        try:
            if config.driver_address:
                security = skein.Security.from_directory(config.driver_security) if config.driver_security else None
                client = skein.Client(address=config.driver_address, security=security, **kwargs)
            else:
                client = skein.Client(log=str(driver_log), **kwargs)
        except Exception as exc:  # noqa: BLE001 - skein raises several kinds here
            gist = _driver_gist(driver_log)
            if config.principal and KERBEROS_LOGIN_FAILED_RE.search(gist):
                raise kerberos_login_error(config, gist) from None
            where = config.driver_address or "a new skein driver (needs yarn, java and HADOOP_CONF_DIR)"
            raise ClusterError(f"cannot connect to {where}: {type(exc).__name__}: {exc}"
                               + (f" ({gist})" if gist else "")) from None
        try:
            check_logged_in(client, config)
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
        with skein_client(config, log_dir=tmp) as skein:
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
