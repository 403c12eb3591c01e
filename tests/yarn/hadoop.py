"""Hadoop's own mini cluster for the YARN tests and the benchmarks.

:class:`MiniCluster` drives ``tests/yarn/minicluster/start`` and ``stop``
(the same scripts CI and a person use): a real ResourceManager, two real
NodeManagers launching real containers with physical-memory enforcement,
real log aggregation, and a real HDFS, all on loopback.  Its ``yarn`` and
``hdfs`` methods run Hadoop's own CLIs on the cluster's classpath.

:func:`pack_checkout` makes the venv-pack archive the containers run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "yarn" / "minicluster"
HADOOP_VERSION = "3.4.1"
#: Set (CI does) to make a missing Java or Maven fail the YARN tests instead of skipping them.
REQUIRE_ENV = "FORECASTING_REQUIRE_YARN"
#: What ``env.sh`` exports besides ``PATH``.
ENV_KEYS = ("HADOOP_CONF_DIR", "JAVA_HOME", "SKEIN_DRIVER_JAVA_OPTIONS", "KRB5CCNAME")


def unavailable() -> str | None:
    """Why the mini cluster cannot start here, or None."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None and not (tool == "java" and os.environ.get("JAVA_HOME")):
            return f"{tool} is not installed (Debian: openjdk-17-jdk-headless, maven)"
    return None


class MiniCluster:
    """A mini cluster rooted at ``root`` (``start``/``stop``, its CLIs, its logs)."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.conf_dir = self.root / "conf"

    # ------------------------------------------------------------ lifecycle

    def start(self, nodemanagers: int = 2, nm_memory_mb: int = 4096, timeout: float = 900,
              keep_container_logs: bool = False, kerberos: bool = False,
              ticket_lifetime: int | None = None) -> "MiniCluster":
        """Start it; ``keep_container_logs``: the NodeManagers keep each container's log
        folder after aggregating it (see :meth:`container_log_dirs`); ``kerberos``: with
        Hadoop's MiniKdc, HDFS and YARN kerberized, every ticket living at most
        ``ticket_lifetime`` s (see :attr:`kerberos`)."""
        args = [str(SCRIPTS / "start"), str(self.root), "--nodemanagers", str(nodemanagers),
                "--nm-memory-mb", str(nm_memory_mb)] + (["--keep-container-logs"] if keep_container_logs else [])
        if kerberos:
            args.append("--kerberos")
            if ticket_lifetime is not None:
                args += ["--ticket-lifetime", str(ticket_lifetime)]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()  # whatever the start script left running
            raise
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError(f"the mini cluster did not start:\n{proc.stderr[-4000:]}")
        self.info = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        return self

    @property
    def kerberos(self) -> dict:
        """On a kerberized cluster: ``realm``, ``krb5_conf``, ``principal`` (the user's),
        ``keytab`` (its keytab) and ``other_keytab`` (one that holds another principal);
        else empty."""
        return {k.removeprefix("kerberos."): v for k, v in self.info.items() if k.startswith("kerberos.")}

    def stop(self) -> None:
        subprocess.run([str(SCRIPTS / "stop"), str(self.root)], capture_output=True, timeout=180)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def env(self) -> dict:
        """What ``DIR/env.sh`` sets: the cluster's ``yarn`` on ``PATH``, ``HADOOP_CONF_DIR``, ``JAVA_HOME``
        (and on a kerberized cluster ``SKEIN_DRIVER_JAVA_OPTIONS``, naming its krb5.conf, and ``KRB5CCNAME``)."""
        text = (self.root / "env.sh").read_text()
        exported = dict(re.findall(r'^export (\w+)="(.*)"$', text, re.M))
        env = {k: v for k, v in exported.items() if k in ENV_KEYS}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return env

    @contextlib.contextmanager
    def activated(self):
        """Make this cluster the process's Hadoop cluster (what ``env.sh`` does) while the block runs."""
        saved = {k: os.environ.get(k) for k in ("PATH", *ENV_KEYS)}
        os.environ.update(self.env())
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    # ------------------------------------------------------------ Hadoop's CLIs

    def yarn(self, *args, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.root / "bin" / "yarn"), *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"yarn {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def hdfs(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.root / "bin" / "hdfs"), "dfs", *args], capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise RuntimeError(f"hdfs dfs {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def status(self, app_id: str) -> dict:
        """``yarn application -status``, as ``{"State": ..., "Final-State": ..., ...}``."""
        out = self.yarn("application", "-status", app_id).stdout
        return {k.strip(): v.strip() for k, _, v in (line.partition(" : ") for line in out.splitlines()) if _}

    def applications(self, states: str = "ALL") -> list[dict]:
        """``yarn application -list -appStates STATES``: one dict per application (id, name, queue, state...)."""
        out = self.yarn("application", "-list", "-appStates", states).stdout
        rows = []
        for line in out.splitlines():
            cells = [c.strip() for c in line.split("\t")]
            if cells and cells[0].startswith("application_"):
                rows.append({"id": cells[0], "name": cells[1], "user": cells[3], "queue": cells[4], "state": cells[5],
                             "final_status": cells[6]})
        return rows

    def wait_for_state(self, app_id: str, states=("FINISHED", "FAILED", "KILLED"), timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(app_id)
            if status.get("State") in states:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"{app_id} still {status.get('State')} after {timeout:.0f}s")
            time.sleep(1)

    def logs(self, app_id: str, timeout: float = 180) -> str:
        """``yarn logs -applicationId``, once the application ended and its logs are aggregated."""
        self.wait_for_state(app_id, timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.status(app_id).get("Log Aggregation Status") not in ("SUCCEEDED", "FAILED", "TIME_OUT"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the logs of {app_id} were not aggregated within {timeout:.0f}s")
            time.sleep(1)
        return self.yarn("logs", "-applicationId", app_id).stdout

    def container_log_dirs(self, app_id: str) -> list[Path]:
        """The NodeManagers' own log folders of ``app_id``'s containers (kept only when
        started with ``keep_container_logs``; never the local folders, where
        resources are unpacked)."""
        return sorted(self.root.glob(f"work/target/test/data/*/*/*-logDir-nm-*/{app_id}/container_*"))

    def lingering_processes(self, timeout: float = 60) -> list[int]:
        """Container processes still running after ``timeout`` s (the
        NodeManagers stop an ended application's containers asynchronously)."""
        deadline = time.monotonic() + timeout
        while (pids := self.container_processes()) and time.monotonic() < deadline:
            time.sleep(0.5)
        return pids

    def container_processes(self) -> list[int]:
        """Pids of processes still running in a container of this cluster (their working folder is under it)."""
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(self.root / "work") + "/") and "/appcache/" in cwd:
                pids.append(int(proc.name))
        return pids


def pack_checkout(work: Path, repo: Path = REPO, leave_out: tuple = (), extra: tuple = ()) -> Path:
    """A venv-pack archive of a copy of this virtualenv with ``repo`` installed for real.

    venv-pack (rightly) refuses editable installs, so the running virtualenv
    is copied to ``work/venv`` (without the site-packages distributions named
    in ``leave_out``) and the package reinstalled there from the checkout.
    ``extra`` are source folders of further distributions (a model plug-in
    such as ``examples/plugin``) installed into the copy too, non-editable,
    without their dependencies; each is built from a copy under ``work``, as
    pip builds in the source tree.  The copy's ``bin/python`` can then drive
    a run with them.  Used by the YARN tests, the log fixtures and the YARN
    benchmark.
    """
    from deploy.packing import pack_environment

    def ignore(folder, names):
        if Path(folder).name != "site-packages":
            return []
        return [n for n in names if n.split("-")[0].lower() in leave_out]

    work = Path(work)
    env = work / "venv"
    if env.exists():
        shutil.rmtree(env)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(sys.prefix, env, symlinks=True, ignore=ignore)
    python = str(env / "bin" / "python")
    subprocess.run([python, "-m", "pip", "uninstall", "-y", "-q", "forecasting"], check=True, cwd=work)
    for leftover in env.glob("lib/python*/site-packages/__editable__*forecasting*"):
        leftover.unlink()  # whatever the uninstall left of the editable install
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(repo)], check=True,
                   cwd=work, stdout=subprocess.DEVNULL)
    for n, source in enumerate(extra):
        copy = work / "extra" / f"{n}-{Path(source).name}"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(copy)], check=True,
                       cwd=work, stdout=subprocess.DEVNULL)
    archive = work / "environment.tar.gz"
    pack_environment(archive, prefix=env)
    return archive
