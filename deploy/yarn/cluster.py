"""A Dask cluster on YARN, through skein: the object ``Client(cluster)`` accepts.

:class:`YarnCluster` submits the application built by
:func:`deploy.yarn.spec.build_spec`, waits (with a timeout) for the
scheduler to publish its address, and then implements distributed's
``Cluster`` interface: ``scale``, ``adapt``, ``dashboard_link``, ``logs``,
``close``.  Workers are named after their YARN container, so adaptive
scaling can retire exactly the containers it chose.

A failed start kills the application and raises a
:class:`~forecasting.errors.ClusterError` naming ``yarn logs
-applicationId <id>``.  ``close(status)`` sets YARN's final status
(SUCCEEDED, FAILED or KILLED).
"""

from __future__ import annotations

import logging
import re
import time

from distributed.core import Status, rpc
from distributed.deploy import Cluster

from deploy.yarn.spec import KV_DASHBOARD, KV_SCHEDULER, WORKER
from forecasting.errors import ClusterError

log = logging.getLogger(__name__)

ACTIVE = ("WAITING", "REQUESTED", "RUNNING")
#: How skein's application master words YARN's memory kills (its gist of
#: "Container ... is running beyond the 'PHYSICAL' memory limit").
MEMORY_KILL_RE = re.compile(r"(?:physical|virtual) memory used|exceeding memory limits|beyond the '(?:PHYSICAL|VIRTUAL)' memory")
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "KILLED")
#: YARN's states of an application that has ended.
ENDED = ("FINISHED", "FAILED", "KILLED")


def logs_hint(app_id: str) -> str:
    return f"see 'yarn logs -applicationId {app_id}'"


class YarnCluster(Cluster):
    """Dask on YARN.

    Parameters
    ----------
    skein_client : skein.Client
        Connected to a skein driver (the caller owns and closes it).
    spec : skein.ApplicationSpec
        From :func:`deploy.yarn.spec.build_spec`.
    deploy_timeout : float
        Seconds to wait for the scheduler's address.
    security : distributed.Security, optional
        The application's Dask TLS, if any.
    """

    def __init__(self, skein_client, spec, deploy_timeout: float = 120.0, security=None):
        super().__init__(asynchronous=False, name=spec.name)
        self._loop_runner.start()  # SpecCluster does this itself; a bare Cluster does not
        self.skein_client = skein_client
        self.security = security
        self.app = None
        self.final_state = None
        try:
            self.app_id = skein_client.submit(spec)
        except BaseException:
            self._loop_runner.stop()
            raise
        log.info("submitted YARN application %s (%s)", self.app_id, logs_hint(self.app_id))
        # One deadline for everything: waiting in the queue counts too.
        deadline = time.monotonic() + deploy_timeout
        try:
            self._wait_until_running(deadline, deploy_timeout)
            self.app = skein_client.connect(self.app_id, wait=False)
            address = self._wait_for_scheduler(deadline, deploy_timeout)
            args = security.get_connection_args("client") if security is not None else {}
            self.scheduler_comm = rpc(address, connection_args=args)
            self.sync(self._start)
        except BaseException as exc:
            self._kill(f"failed to start: {exc}")
            if self.scheduler_comm is not None:
                self.sync(self.scheduler_comm.close_rpc)
            self.status = Status.closed
            self._loop_runner.stop()
            if isinstance(exc, ClusterError):
                raise
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ClusterError(f"YARN application {self.app_id} did not start: {exc}; {logs_hint(self.app_id)}") from exc

    def _ended(self, report, what: str) -> ClusterError:
        return ClusterError(
            f"YARN application {self.app_id} ended ({report.state}, {report.final_status}) before {what}: "
            f"{report.diagnostics or 'no diagnostics'}; {logs_hint(self.app_id)}"
        )

    def _timed_out(self, timeout: float, what: str) -> ClusterError:
        return ClusterError(
            f"{what} of YARN application {self.app_id} did not start within {timeout:.0f}s; "
            f"the application was killed; {logs_hint(self.app_id)}"
        )

    def _wait_until_running(self, deadline: float, timeout: float) -> None:
        while True:
            report = self.skein_client.application_report(self.app_id)
            state = str(report.state)
            if state == "RUNNING":
                return
            if state in ENDED:
                raise self._ended(report, "it started")
            if time.monotonic() > deadline:
                raise self._timed_out(timeout, f"the application master (still {state}: a full queue?)")
            time.sleep(0.25)

    def _wait_for_scheduler(self, deadline: float, timeout: float) -> str:
        while True:
            value = self.app.kv.get(KV_SCHEDULER)
            if value:
                return value.decode()
            report = self.skein_client.application_report(self.app_id)
            if str(report.state) in ENDED:
                raise self._ended(report, "its scheduler started")
            if time.monotonic() > deadline:
                raise self._timed_out(timeout, "the Dask scheduler")
            time.sleep(0.25)

    def _kill(self, reason: str) -> None:
        try:
            self.skein_client.kill_application(self.app_id, user="")
        except Exception:  # noqa: BLE001 - already gone is fine
            log.debug("could not kill %s (%s)", self.app_id, reason, exc_info=True)

    # ------------------------------------------------------------------ Cluster interface

    @property
    def dashboard_link(self) -> str:
        try:
            value = self.app.kv.get(KV_DASHBOARD)
        except Exception:  # noqa: BLE001 - application gone
            value = None
        return value.decode() if value else super().dashboard_link

    def _containers(self, states=ACTIVE) -> list:
        return self.app.get_containers(services=[WORKER], states=list(states))

    @property
    def requested(self) -> set:
        return {c.id for c in self._containers()}

    @property
    def plan(self) -> set:
        return self.requested

    def scale(self, n: int) -> None:
        """Ask YARN for ``n`` worker containers."""
        if n < 0:
            raise ValueError(f"cannot scale to {n} workers")
        self.app.scale(WORKER, n)

    def scale_down(self, workers) -> None:
        """Release the containers of these workers (worker names are container ids)."""
        active = self.requested
        for name in workers:
            if name in active:
                self.app.kill_container(name)

    def workers(self) -> dict:
        """Worker containers by id, with their state."""
        return {c.id: str(c.state) for c in self._containers(ACTIVE + ("SUCCEEDED", "FAILED", "KILLED"))}

    def container_end(self, name: str, wait: float = 15.0) -> str | None:
        """How YARN ended the container of worker ``name`` (workers are named
        after their skein container), or None if it has not ended.

        YARN's diagnostics reach the driver through skein's application
        master, which keeps their gist (``1.1 GB of 1 GB physical memory
        used`` for a memory kill).  A container the NodeManager just killed
        may take a heartbeat or two to be reported: wait up to ``wait`` s.
        """
        deadline = time.monotonic() + wait
        while True:
            try:
                ended = self._containers(("SUCCEEDED", "FAILED", "KILLED"))
            except Exception:  # noqa: BLE001 - the application master is gone
                return None
            for c in ended:
                if c.id == name:
                    message = c.exit_message or "no diagnostics"
                    if MEMORY_KILL_RE.search(message):
                        return f"YARN killed its container {c.yarn_container_id} ({name}) for memory: {message}"
                    return f"its container {c.yarn_container_id} ({name}) ended {c.state}: {message}"
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

    def logs(self, scheduler: bool = True, workers: bool = True):
        """Recent log lines of the scheduler and workers, from Dask itself.

        The complete per-container logs are YARN's: ``yarn logs -applicationId <id>``.
        """
        return self.get_logs(cluster=False, scheduler=scheduler, workers=workers)

    def close(self, status: str = "SUCCEEDED", diagnostics: str = "", timeout: float | None = None):
        """Stop the cluster, and the YARN application with ``status`` as its final status."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {FINAL_STATUSES}, got {status!r}")
        try:
            super().close(timeout=timeout)
            self._loop_runner.stop()
        finally:
            if getattr(self, "app", None) is not None:
                try:
                    self.app.shutdown(status, diagnostics)
                except Exception:  # noqa: BLE001 - the application may be gone already
                    self._kill(diagnostics or status)
                self.app = None
                self.final_state = self._final_report()

    def _final_report(self, wait: float = 10.0) -> str | None:
        """Log how YARN ended the application (``FINISHED/SUCCEEDED``...), once it has.

        Asked of the ResourceManager through the driver at the very end of a
        run, typically on a new connection: on a kerberized cluster that
        needs a fresh ticket, which skein's driver gets from its keytab when
        the run outlived the first one.  Not knowing it never fails the run.
        """
        deadline = time.monotonic() + wait
        try:
            while True:
                report = self.skein_client.application_report(self.app_id)
                if str(report.state) in ENDED or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
        except Exception as exc:  # noqa: BLE001 - the driver or the ResourceManager is gone
            log.warning("YARN application %s: its final state is unknown (%s: %s)", self.app_id, type(exc).__name__, exc)
            return None
        state = f"{report.state}/{report.final_status}"
        log.info("YARN application %s ended %s", self.app_id, state)
        return state
