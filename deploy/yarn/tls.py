"""Per-application TLS for Dask's own communication on YARN.

The driver makes a fresh self-signed certificate for every application
(skein's credential generator), ships it with the spec to every container,
and uses it itself: scheduler, workers and client then authenticate each
other with it and encrypt everything.  Nothing outside the application has
the key, so nothing outside it can submit work (and so have pickles
unpickled) to its scheduler.
"""

from __future__ import annotations

import os
from pathlib import Path

import skein


def write_credentials(folder) -> tuple[str, str]:
    """Create a certificate and key in ``folder`` (key readable by the owner only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    creds = skein.Security.new_credentials()
    cert, key = folder / "dask.crt", folder / "dask.pem"
    cert.write_bytes(creds.cert_bytes)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(creds.key_bytes)
    return str(cert), str(key)


def dask_security(cert: str, key: str):
    """``distributed.Security`` requiring TLS with this certificate for every role."""
    from distributed.security import Security

    return Security(
        tls_ca_file=cert,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        require_encryption=True,
    )
