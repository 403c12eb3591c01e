"""What the scheduler and worker entry points share inside a YARN container."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s [app={app} container={container}] %(name)s: %(message)s"


def bind_host() -> str:
    """The address to listen on and advertise.

    ``FORECASTING_BIND_HOST`` if set (tests: 127.0.0.1), else the
    NodeManager's host name that YARN gives every container (``NM_HOST``),
    else this machine's fully qualified name.
    """
    return os.environ.get("FORECASTING_BIND_HOST") or os.environ.get("NM_HOST") or socket.getfqdn()


def configure_logging() -> None:
    """One line per record, tagged with the YARN application and container ids.

    On-call engineers read these lines in ``yarn logs -applicationId ...``.
    """
    fmt = LOG_FORMAT.format(app=os.environ.get("SKEIN_APPLICATION_ID", "-"), container=os.environ.get("SKEIN_CONTAINER_ID", "-"))
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stderr, force=True)


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
