"""What the scheduler and worker entry points share inside a YARN container.

Their logging set-up is :mod:`deploy.worker_logging`, shared with local clusters.
"""

from __future__ import annotations

import argparse
import os
import socket



def bind_host() -> str:
    """The address to listen on and advertise.

    ``FORECASTING_BIND_HOST`` if set (tests: 127.0.0.1), else the
    NodeManager's host name that YARN gives every container (``NM_HOST``),
    else this machine's fully qualified name.
    """
    return os.environ.get("FORECASTING_BIND_HOST") or os.environ.get("NM_HOST") or socket.getfqdn()


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
