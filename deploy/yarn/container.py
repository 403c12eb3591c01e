"""What the scheduler and worker entry points share inside a YARN container."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from distributed.diagnostics.plugin import WorkerPlugin

LOG_FORMAT = "%(asctime)s %(levelname)s [app={app} container={container}] [task=%(task)s] %(name)s: %(message)s"


def bind_host() -> str:
    """The address to listen on and advertise.

    ``FORECASTING_BIND_HOST`` if set (tests: 127.0.0.1), else the
    NodeManager's host name that YARN gives every container (``NM_HOST``),
    else this machine's fully qualified name.
    """
    return os.environ.get("FORECASTING_BIND_HOST") or os.environ.get("NM_HOST") or socket.getfqdn()


def configure_logging() -> None:
    """One line per record, tagged with the YARN application and container ids
    and, inside a task, the task's key (region, model, cutoff).

    On-call engineers read these lines in ``yarn logs -applicationId ...``.
    """
    from forecasting.logs import TaskFilter

    # YARN's container id (what 'yarn logs' prints), else skein's name for it.
    container = os.environ.get("CONTAINER_ID") or os.environ.get("SKEIN_CONTAINER_ID", "-")
    fmt = LOG_FORMAT.format(app=os.environ.get("SKEIN_APPLICATION_ID", "-"), container=container)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(TaskFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class ContainerLogging(WorkerPlugin):
    """Worker start-up callback: our log format inside the worker process.

    The Nanny runs the worker in a process of its own; this plugin sets the
    format there when the worker starts.
    """

    name = "forecasting-container-logging"

    def setup(self, worker) -> None:
        configure_logging()


def tls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-cert", help="certificate of this application's Dask TLS")
    parser.add_argument("--tls-key", help="its private key")


def security(args, role: str):
    """A ``distributed.Security`` for TLS, or ``None`` for plain TCP."""
    if not args.tls_cert:
        return None
    from deploy.yarn.tls import dask_security

    return dask_security(args.tls_cert, args.tls_key)


def protocol(args) -> str:
    return "tls://" if args.tls_cert else "tcp://"
