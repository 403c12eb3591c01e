"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temporary folder, ``pg_ctl`` on a free loopback port.

Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs
it); no system service is used.  ``initdb`` refuses to run as root, so as
root the server runs as the ``postgres`` user the package creates, in a
folder handed to it; as anyone else it runs as that user.  A watcher
process stops the server and removes its folder should the test process
die without tearing it down (SIGKILL, a crashed interpreter).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Where Debian's postgresql package puts initdb and pg_ctl (one folder per major version).
BIN_GLOB = "/usr/lib/postgresql/*/bin"
USER = "forecasting"


def find_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` with ``initdb`` in it, or None."""
    found = [Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").is_file()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


def missing() -> str | None:
    """Why no server can be started here (None: it can)."""
    if find_bin() is None:
        return f"no PostgreSQL binaries ({BIN_GLOB}/initdb): apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "no psycopg (the PostgreSQL driver): pip install -e '.[postgres]'"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and no 'postgres' user to run the server as (Debian's postgresql package creates it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A PostgreSQL server of its own in ``base``/forecasting-pg-*, with a database per test.

    Parameters
    ----------
    base : path-like
        A folder every user may traverse (the system's temporary folder):
        the server's user must reach its data folder through it.
    """

    def __init__(self, base):
        self.bin = find_bin()
        self.root = Path(tempfile.mkdtemp(prefix="forecasting-pg-", dir=base))
        self.data, self.sockets, self.log = self.root / "data", self.root / "sockets", self.root / "server.log"
        self.password = secrets.token_hex(16)
        self.port = None
        self._watcher = None
        self._n = 0
        # As root the server runs as 'postgres': it owns the folder (mkdtemp made it 0700).
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.sockets.mkdir()
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")

    def _pg(self, tool: str, *args, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True, text=True, **kwargs)

    def start(self) -> "Server":
        """initdb, then pg_ctl start on a free port (retried: another program may take the port first)."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as:
            shutil.chown(pwfile, "postgres", "postgres")
        # Password authentication even on loopback: other users of this machine can reach the port.
        done = self._pg("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
                        "--no-sync", "-E", "UTF8", "--locale=C")
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        for _ in range(5):
            self.port = _free_port()
            # Durability is of no use to a test server: no fsync, and nothing waits for the WAL.
            options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            done = self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
            if done.returncode == 0:
                self._watch()
                return self
        raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{self.log_tail()}")

    def _watch(self) -> None:
        """A process that stops the server and removes its folder once this process is gone without doing so."""
        stop = " ".join([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"{stop} >/dev/null 2>&1; rm -rf '{self.root}'")
        self._watcher = subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg 3, over TCP on loopback)."""
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _admin(self):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password,
                               dbname="postgres", autocommit=True)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        self._n += 1
        name = f"test_{os.getpid()}_{self._n}"
        with self._admin() as conn:
            # FILE_COPY: with fsync off, copying template0's files beats WAL-logging each block.
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 STRATEGY FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whatever is still connected to it."""
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            if self.port is not None:
                self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            if self._watcher is not None:
                self._watcher.kill()
                self._watcher.wait()
            shutil.rmtree(self.root, ignore_errors=True)


def main() -> None:  # pragma: no cover - by hand: python tests/postgres.py
    """Start a server, print its URL and how long that took, stop it."""
    started = time.monotonic()
    server = Server(tempfile.gettempdir()).start()
    try:
        print(server.url(server.create_database()), f"{time.monotonic() - started:.2f} s", file=sys.stderr)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
