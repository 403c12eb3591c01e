"""The ``cluster:`` section of a config file: certificates for an existing scheduler over TLS.

::

    cluster:
      tls_ca_file: certs/ca.pem        # the CA that signed the scheduler's certificate
      tls_cert: certs/client.pem       # this client's certificate (signed by a CA the scheduler trusts)
      tls_key: certs/client-key.pem    # and its private key (PEM, unencrypted)

Used by the ``address`` back end (``--cluster tls://host:port``) only: a
``tls://`` address needs all three, a ``tcp://`` one must have none (a config
naming certificates for an unencrypted address is a mistake, not a choice).

Relative paths are relative to the **folder of the config file**, not the
working directory: a cron job or a notebook runs from anywhere, and the
certificates usually live next to the config.  ``~`` is expanded; absolute
paths are used as they are.  The files are read (and the certificate matched
with its key) by :meth:`ClusterConfig.check_files` before anything connects.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import model_validator

from forecasting.config.base import ConfigModel, read_section
from forecasting.config.fields import Text, fail
from forecasting.errors import ConfigError

NAMESPACE = "cluster"
#: The keys naming files, in the order they are checked.
TLS_KEYS = ("tls_ca_file", "tls_cert", "tls_key")

__all__ = ["NAMESPACE", "ClusterConfig", "load_cluster_config"]


class ClusterConfig(ConfigModel):
    """How to reach an existing Dask scheduler.

    Parameters
    ----------
    tls_ca_file : str
        PEM file of the CA(s) whose signature on the scheduler's certificate is trusted.
    tls_cert : str
        PEM file of this client's certificate, which the scheduler checks against its own CA.
    tls_key : str
        PEM file of that certificate's private key (not encrypted).
    """

    namespace = NAMESPACE

    tls_ca_file: Text = ""
    tls_cert: Text = ""
    tls_key: Text = ""

    @model_validator(mode="after")
    def _all_or_none(self) -> "ClusterConfig":
        missing = [k for k in TLS_KEYS if not getattr(self, k)]
        if missing and len(missing) < len(TLS_KEYS):
            raise fail(f"give tls_ca_file, tls_cert and tls_key together (missing: {', '.join(missing)})", key=missing[0])
        return self

    @property
    def tls(self) -> bool:
        """Whether certificates are named."""
        return bool(self.tls_ca_file)

    def relative_to(self, folder: str | Path, source: str = NAMESPACE) -> "ClusterConfig":
        """A copy with relative paths taken from ``folder`` (the config file's), ``~`` expanded.

        Raises
        ------
        ConfigError
            A ``~user`` whose home directory is unknown.
        """
        def resolve(key: str) -> str:
            path = getattr(self, key)
            try:
                return str(Path(folder) / Path(path).expanduser()) if path else path
            except RuntimeError:  # ~nobody: no such user, or no home directory
                raise ConfigError(f"{source}: cluster.{key}: {path}: cannot find that home directory", key=key) from None

        return self._replaced({k: resolve(k) for k in TLS_KEYS})

    def check_files(self, source: str = NAMESPACE) -> "ClusterConfig":
        """``self``, once each file is read and the certificate matches its key.

        Raises
        ------
        ConfigError
            A file missing or unreadable, not PEM, or a key that is not the certificate's; the
            message starts with ``source`` and names the key.
        """
        if not self.tls:
            return self
        for key in TLS_KEYS:
            path = getattr(self, key)
            if not _is_file(path):
                raise ConfigError(f"{source}: cluster.{key}: {path} does not exist", key=key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(cafile=self.tls_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{source}: cluster.tls_ca_file: {self.tls_ca_file} is not a PEM CA certificate ({_reason(exc)})",
                              key="tls_ca_file") from None
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{source}: cluster.tls_cert, tls_key: cannot load {self.tls_cert} with the key {self.tls_key} "
                              f"(not PEM, an encrypted key, or a key of another certificate: {_reason(exc)})",
                              key="tls_cert") from None
        return self

    def security(self):
        """The ``distributed.security.Security`` of a client that requires TLS with these files."""
        from distributed.security import Security

        return Security(tls_ca_file=self.tls_ca_file, tls_client_cert=self.tls_cert, tls_client_key=self.tls_key,
                        require_encryption=True)


def _is_file(path: str) -> bool:
    try:
        return Path(path).expanduser().is_file()
    except (OSError, ValueError, RuntimeError):  # a name too long, a NUL byte, ~nobody
        return False


def _reason(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "reason", None) or exc).split())


def load_cluster_config(path: str | Path | None) -> ClusterConfig:
    """The ``cluster:`` section of a YAML file, validated, paths relative to the file's folder (defaults without a file).

    The files themselves are not read: see :meth:`ClusterConfig.check_files`.
    """
    if path is None:
        return ClusterConfig()
    # Errors name the section too: its keys could be another section's.
    config = ClusterConfig.from_dict(read_section(path, NAMESPACE), source=f"{path}: {NAMESPACE}")
    return config.relative_to(Path(path).absolute().parent, str(path))
