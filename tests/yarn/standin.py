"""A YARN stand-in for tests: a fake skein driver and application master.

No Hadoop or YARN can run in this project's test environment, so this module
plays the parts of skein's Java *driver* (``com.anaconda.skein.Driver``), of
skein's *application master* (``com.anaconda.skein.ApplicationMaster``) and of
the YARN ResourceManager/NodeManager behind them, on one host, inside the test
process.  Both servers are real gRPC servers (grpcio) that implement skein's
own protocol (``skein.proto.skein_pb2_grpc``: ``DriverServicer`` and
``AppMasterServicer``) with mutual TLS, bound to 127.0.0.1 only, so skein's
unmodified client code (``skein.Client(address=..., security=...)``,
``ApplicationClient``, ``ApplicationClient.from_current()`` inside containers,
the key-value store, ``kv.wait``, event queues...) talks to them exactly as it
talks to the Java processes.

What is emulated (semantics follow skein 0.8.2's Java sources)
-----------------------------------------------------------------
Driver / ResourceManager
    ``ping``, ``submit`` (ids ``application_<cluster-ts>_<NNNN>``),
    ``getStatus``, ``waitForStart`` (blocks until RUNNING or terminal),
    ``getApplications`` (states/name/user/queue/time filters, default
    SUBMITTED/ACCEPTED/RUNNING), ``kill`` (state KILLED, final status KILLED,
    returns once everything is dead, like ``YarnClient.killApplication``),
    ``getLogs`` (completed applications only; an approximation of YARN's
    aggregated log format), ``getNodes`` (one node, 127.0.0.1),
    ``getQueue``/``getChildQueues``/``getAllQueues``/``moveApplication``
    (a single queue named ``default``).
    Application states go NEW -> SUBMITTED -> ACCEPTED (synchronously in
    ``submit``) -> RUNNING (once the AM's server is up) -> FINISHED (the AM
    unregistered; final status SUCCEEDED, FAILED or KILLED with its
    diagnostics, as in YARN) or KILLED (``kill``) or FAILED (only through the
    fault injection ``kill_application_master``).  Every transition is kept in
    ``application(app_id).state_history``.  The report's host is 127.0.0.1 and
    its port the AM's gRPC port ("N/A"/-1 before RUNNING); the tracking URL
    and the Web UI address are ``http://127.0.0.1:8088/proxy/<app_id>/``, where
    nothing listens.
    At ``submit`` the driver does what skein's driver does with a default
    file system that is not the local one (HDFS): every local file/archive of
    the spec is *uploaded* (copied) to a staging folder
    ``<root>/staging/<app_id>/<md5-of-source>/<name>``, with its size and
    modification time recorded in the spec, so later edits of the source do
    not reach containers.  A missing source fails ``submit`` (``DriverError``).
    Only ``file://`` (or scheme-less) sources are supported: ``hdfs://``,
    ``s3a://``... fail at submit like a driver without that file system.
    As in skein, the spec the AM serves (``get_specification()``) is the one
    rewritten by the driver: each service's script becomes
    ``bash .skein.sh ><LOG_DIR>/<service>.log 2>&1``, its ``files`` gain
    ``.skein.sh``, ``.skein.crt`` and ``.skein.pem``, file sources point to the
    staged copies, ``LANG`` is added to each service's ``env`` when the driver
    has one, and ``master.security`` names the staged certificate files.
    The AM (and every container) uses ``spec.master.security`` when given,
    otherwise the driver's credentials, as skein does.

Application master (one gRPC server per application)
    Specification, key-value store (``GetRange``, ``PutKey`` with owners,
    ``DeleteRange``, ``Transaction`` with value/owner conditions, ``Watch``
    streams with PUT/DELETE events; keys owned by a container are deleted,
    with DELETE events, when it completes), ``getContainers`` (default states
    WAITING/REQUESTED/RUNNING), ``scale`` (count or delta; scaling down picks
    WAITING, then REQUESTED (oldest), then RUNNING (oldest) containers, which
    end KILLED), ``addContainer`` (with env overrides), ``killContainer``
    (KILLED, never restarted), ``SetProgress``, ``shutdown`` (final status +
    diagnostics, default "Shutdown requested by user."), and the Web UI
    registry (``AddProxy``/``RemoveProxy``/``GetProxies``/``UiInfo``: pages are
    recorded, nothing is proxied or served).
    Service semantics are skein's: ``instances``; ``depends`` (a service's
    containers stay WAITING until, for every service it depends on, all of its
    initially requested containers have been *allocated*, i.e. are RUNNING in
    skein's sense; the dependency's process may not have done anything yet);
    ``max_restarts`` (a container that exits non-zero is FAILED and replaced
    by a *new* instance, ``svc_1`` replacing ``svc_0``, at most max_restarts
    times per service, -1 = always; when a service has more failures than
    restarts and ``allow_failures`` is false the application finishes with
    final status FAILED and "Failure in service <name>, see logs for more
    information."); when no service has an active container left (and there
    is no master script) the application finishes SUCCEEDED with
    "Application completed successfully.".  ``master.script`` runs as skein's
    "application driver" (``application.driver.log``), ending the
    application when it exits.

NodeManager (containers)
    Each container is a subprocess started in a fresh session (its own process
    group) with ``bash -c <the service's launch command>``, where
    ``<LOG_DIR>`` is expanded, i.e. ``bash .skein.sh ><log dir>/<service>.log
    2>&1``: the script runs *without* ``set -e``, exactly as under skein
    (pass ``strict_scripts=True`` to prepend ``set -e``).  Working directory:
    ``<work_root>/<app_id>/<container_id>/`` (fresh).  Resources are
    *localized* once per application under ``<work_root>/<app_id>/filecache/``
    and symlinked into the working directory under their key, as YARN does:
    FILE entries are copied; ARCHIVE entries (``.tar.gz``/``.tgz``/``.tar``
    with tarfile's ``"data"`` filter, except that symbolic links pointing
    outside the archive are kept, as YARN keeps them (venv-pack archives have
    ``bin/python`` -> /usr/bin/python3...); ``.zip``/``.jar`` with path checks)
    are unpacked into a folder named after the key; an ARCHIVE with another
    extension is localized as a plain file (YARN: "Cannot unpack").  Localized
    files get YARN's permissions (0500 files, 0700 folders; 0555/0755 for
    PUBLIC visibility): not writable, unless you are root.  A staged file
    whose size or modification time changed since submit fails the container
    ("Resource ... changed on src filesystem").
    Environment: the test process's environment as of ``start()`` (minus
    ``SKEIN_*``, ``PYTEST_*`` and the variables below), with the directory of
    ``sys.executable`` prepended to ``PATH`` (so ``python`` is this
    interpreter; disable with ``python_on_path=False``), then the service's
    ``env``, then ``add_container`` overrides, then skein's variables
    ``SKEIN_APPMASTER_ADDRESS``, ``SKEIN_APPLICATION_ID``,
    ``SKEIN_CONTAINER_ID`` (``<service>_<instance>``),
    ``SKEIN_RESOURCE_MEMORY`` (MiB, as requested), ``SKEIN_RESOURCE_VCORES``
    and ``HADOOP_USER_NAME``, then YARN's ``CONTAINER_ID`` (the YARN id),
    ``LOCAL_DIRS`` (``<work_root>/<app_id>``: with ``CONTAINER_ID`` this is how
    ``skein.properties.container_dir`` and hence ``from_current()`` find
    ``.skein.crt``/``.skein.pem``), ``LOG_DIRS``, ``NM_HOST`` (127.0.0.1),
    ``NM_PORT``, ``NM_HTTP_PORT``, ``PWD``, ``USER``, ``LOGNAME``.  ``HOME`` is
    inherited (YARN would set ``/home/``).  stdin is /dev/null.
    Logs: ``<log_root>/<app_id>/<container_id>/<service>.log`` holds the
    script's stdout and stderr together (skein's own redirection), beside
    ``prelaunch.out``/``prelaunch.err`` (output of the outer launch shell,
    normally empty).  The AM's log is
    ``<log_root>/<app_id>/<am_container_id>/application.master.log``
    (stand-in events in skein's wording: REQUESTED, RUNNING, FAILED...), plus
    ``application.driver.log`` for a master script.
    Ids: application ``application_<ts>_<NNNN>``; YARN containers
    ``container_<ts>_<NNNN>_01_<NNNNNN>``, 000001 being the AM.
    Exit handling: exit 0 -> SUCCEEDED "Completed successfully."; non-zero ->
    FAILED "Container failed during execution, see logs for more
    information." (death by signal N counts as exit 128+N); a localization
    error -> FAILED with its message.  When a container's main process ends,
    whatever is left in its process group is SIGKILLed.  Stopping a container
    (scale down, ``kill_container``, application end) sends SIGTERM to its
    process group and SIGKILL ``sigkill_delay`` seconds later (YARN's
    ``sleep-delay-before-sigkill.ms``, 250 ms).  When an application ends, all
    of its containers are stopped *before* its state turns terminal, so a
    terminal report means no container process of it is alive.

What is NOT emulated
--------------------
No resource enforcement (memory and vcores are recorded, reported, passed in
``SKEIN_RESOURCE_*``, never limited; no node capacity, every request is
granted after ``allocation_delay`` seconds), except an optional
``max_allocation`` check; no scheduler queues (one ``default`` queue is
reported, any queue name is accepted and recorded), no node labels, node or
rack locality, no ACL enforcement, no HDFS or other Hadoop file system, no
Kerberos / delegation tokens / proxy users (``user`` is only recorded), no
application attempts (``max_attempts`` is ignored: the AM never restarts), no
Web UI or proxy (nothing listens on the tracking/node HTTP addresses), no log
aggregation service (logs stay where the containers wrote them), no
``/home/`` ``HOME``.  Single host: every container runs on this machine, as the
user running the tests, node 127.0.0.1.  Processes that leave their process
group (``setsid``) escape cleanup, and if the test process is SIGKILLed its
containers are orphaned (an ``atexit`` hook covers normal exits).

Usage::

    with YarnStandIn(tmp_path) as yarn:
        client = yarn.client()
        app_id = client.submit(spec)
        app = client.connect(app_id)
"""

from __future__ import annotations

import atexit
import getpass
import hashlib
import itertools
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import grpc
import skein
from skein.proto import skein_pb2 as pb
from skein.proto import skein_pb2_grpc as pb_grpc

__all__ = ["YarnStandIn", "NODE_HOST", "wait_until"]

#: The host name in every report and in ``NM_HOST``.
NODE_HOST = "127.0.0.1"
#: Nominal NodeManager ports (nothing listens on them).
NM_PORT = 45454
NM_HTTP_PORT = 8042
RM_WEB = "http://%s:8088" % NODE_HOST

_STARTED = frozenset({"RUNNING", "FINISHED", "FAILED", "KILLED"})
_COMPLETED = frozenset({"FINISHED", "FAILED", "KILLED"})
_ACTIVE_CONTAINER = ("WAITING", "REQUESTED", "RUNNING")
_DONE_CONTAINER = frozenset({"SUCCEEDED", "FAILED", "KILLED"})
_APP_ID = re.compile(r"^application_(\d+)_(\d+)$")
_LOG_DIR_VAR = "<LOG_DIR>"
_ENV_DROP = ("CONTAINER_ID", "LOCAL_DIRS", "LOG_DIRS", "NM_HOST", "NM_PORT", "NM_HTTP_PORT", "PWD")


def _now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate()`` until it returns something truthy (returned); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def _killpg(pgid: int | None, sig: int) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class _Abort(Exception):
    """Raised inside the AM to answer an RPC with an error status."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self.code = code
        self.details = details


class _LocalizationError(Exception):
    pass


# ----------------------------------------------------------------------------
# Localization (NodeManager side)
# ----------------------------------------------------------------------------


def _url_path(url: pb.Url) -> str:
    if url.scheme not in ("", "file"):
        raise FileNotFoundError('No FileSystem for scheme "%s"' % url.scheme)
    return url.file


def _yarn_tar_filter(member: tarfile.TarInfo, dest: str):
    """tarfile's "data" filter, but symlinks pointing outside are kept (YARN keeps them)."""
    try:
        return tarfile.data_filter(member, dest)
    except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
        if member.issym():
            # The link itself is harmless; a later member written *through* it
            # is still refused by data_filter (it checks the resolved path).
            return member.replace(uid=None, gid=None, uname=None, gname=None, deep=False)
        raise


def _safe_unzip(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(dest)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = os.path.realpath(os.path.join(root, info.filename))
            if os.path.commonpath([root, target]) != root:
                raise _LocalizationError("zip entry %r would be extracted outside %s" % (info.filename, dest))
            zf.extract(info, root)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(target, mode)


def _yarn_permissions(path: Path, public: bool) -> None:
    """FSDownload.changePermissions: 0500/0700 (private, application) or 0555/0755 (public)."""
    fperm, dperm = (0o555, 0o755) if public else (0o500, 0o700)

    def fix(p: str) -> None:
        if os.path.islink(p):
            return
        os.chmod(p, dperm if os.path.isdir(p) else fperm)

    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in filenames + dirnames:
                fix(os.path.join(dirpath, name))
    fix(str(path))


# ----------------------------------------------------------------------------
# Application master state
# ----------------------------------------------------------------------------


class _Container:
    """skein's Model.Container, plus the NodeManager's view of the process."""

    def __init__(self, service: str, instance: int, state: str, env: dict, resources: pb.Resources):
        self.service = service
        self.instance = instance
        self.state = state
        self.env = dict(env)
        self.resources = resources
        self.priority: int | None = None
        self.yarn_container_id = ""
        self.start_time = 0
        self.finish_time = 0
        self.exit_message = ""
        self.owned_keys: set[str] = set()
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.exit_code: int | None = None
        self.exited = threading.Event()
        self.container_dir: Path | None = None
        self.log_dir: Path | None = None

    @property
    def id(self) -> str:
        return "%s_%d" % (self.service, self.instance)

    @property
    def completed(self) -> bool:
        return self.state in _DONE_CONTAINER

    def to_proto(self) -> pb.Container:
        return pb.Container(
            service_name=self.service,
            instance=self.instance,
            state=self.state,
            yarn_container_id=self.yarn_container_id,
            yarn_node_http_address=("%s:%d" % (NODE_HOST, NM_HTTP_PORT)) if self.yarn_container_id else "",
            start_time=self.start_time,
            finish_time=self.finish_time,
            exit_message=self.exit_message,
        )

    def __repr__(self) -> str:
        return "<container %s %s %s>" % (self.id, self.yarn_container_id or "-", self.state)


class _ServiceTracker:
    """skein's ApplicationMaster.ServiceTracker (all methods run under the AM lock)."""

    def __init__(self, am: "_AppMaster", name: str, service: pb.Service):
        self.am = am
        self.name = name
        self.service = service
        self.depends = set(service.depends)
        self.waiting: list[int] = []
        self.requested: dict[int, _Container] = {}  # priority -> container, oldest first
        self.running: list[int] = []
        self.containers: list[_Container] = []
        self.dependents: list[_ServiceTracker] = []
        self.initial_running = False
        self.num_succeeded = self.num_failed = self.num_killed = self.num_restarted = 0

    def num_active(self) -> int:
        return len(self.waiting) + len(self.requested) + len(self.running)

    def is_ready(self) -> bool:
        return not self.depends

    def is_finished(self) -> bool:
        return self.num_active() == 0

    def is_failed(self) -> bool:
        return self.num_failed > self.num_restarted and not self.service.allow_failures

    def get(self, instance: int) -> _Container | None:
        if 0 <= instance < len(self.containers):
            return self.containers[instance]
        return None


class _Watcher:
    def __init__(self, start: str, end: str, event_type: int, stream: "_WatchStream"):
        self.start = start or ""
        self.end = end or None  # "" -> unbounded
        self.put = event_type in (pb.WatchCreateRequest.ALL, pb.WatchCreateRequest.PUT)
        self.delete = event_type in (pb.WatchCreateRequest.ALL, pb.WatchCreateRequest.DELETE)
        self.stream = stream

    def contains(self, key: str) -> bool:
        return self.start <= key and (self.end is None or key < self.end)

    def overlaps(self, first: str, last: str) -> bool:
        return self.start <= last and (self.end is None or self.end > first)


class _WatchStream:
    def __init__(self, am: "_AppMaster"):
        self.am = am
        self.out: queue.Queue = queue.Queue()
        self.registered: set[int] = set()
        self.closed = False

    def send(self, msg: pb.WatchResponse) -> None:
        if self.registered and not self.closed:
            self.out.put(msg)

    def close(self, error: str | None = None) -> None:
        """End the stream: normally (client half-closed/cancelled) or with UNAVAILABLE (AM going away)."""
        with self.am.lock:
            for wid in self.registered:
                self.am.watchers.pop(wid, None)
            self.registered.clear()
            self.am.streams.discard(self)
            if not self.closed:
                self.closed = True
                self.out.put(("end", error))


def _signed(b: bytes) -> list[int]:
    # Java's ByteBuffer.compareTo compares signed bytes.
    return [x - 256 if x > 127 else x for x in b]


class _AppMaster:
    """One application's master: gRPC server, services, kv store, containers."""

    def __init__(self, standin: "YarnStandIn", app: "_Application"):
        self.standin = standin
        self.app = app
        self.spec = app.spec
        self.lock = threading.RLock()
        self.kv: dict[str, tuple[bytes, tuple[str, int] | None]] = {}
        self.watchers: dict[int, _Watcher] = {}
        self.streams: set[_WatchStream] = set()
        self._watch_ids = itertools.count()
        self._priorities = itertools.count(1)
        self._container_seq = itertools.count(2)
        self.services: dict[str, _ServiceTracker] = {}
        self.by_yarn_id: dict[str, _Container] = {}
        self.proxies: dict[str, pb.Proxy] = {}
        self.progress = -1.0
        self.finished = False
        self.final: tuple[str, str, str] | None = None
        self.done = threading.Event()
        self.wake = threading.Event()
        self.server: grpc.Server | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.port = 0
        self.driver_proc: subprocess.Popen | None = None
        self.driver_exited = threading.Event()
        self.start_time = _now_ms()
        self.finish_time = 0
        self.am_container_id = app.container_id(1)
        self.app_work = standin.work_root / app.id
        self.app_logs = standin.log_root / app.id
        self.am_dir = self.app_work / self.am_container_id
        self.am_log_dir = self.app_logs / self.am_container_id
        self._loc_lock = threading.Lock()
        self._localized: dict[tuple, Path] = {}
        self._loc_seq = itertools.count(10)
        self._log_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- logging ---------------------------------------------------------

    def log(self, level: str, msg: str) -> None:
        line = "%s %s ApplicationMaster: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), level, msg)
        with self._log_lock:
            try:
                with open(self.am_log_dir / "application.master.log", "a") as fh:
                    fh.write(line)
            except OSError:
                pass

    # -- start / stop ----------------------------------------------------

    def start(self) -> None:
        """Prepare the AM container, start the gRPC server, create the services' containers."""
        self.am_dir.mkdir(parents=True)
        self.am_log_dir.mkdir(parents=True, exist_ok=True)
        self.log("INFO", "Starting Skein stand-in application master for %s" % self.app.id)
        cert, key = self.app.cert, self.app.key
        for name, data in ((".skein.crt", cert), (".skein.pem", key), (".skein.proto", self.spec.SerializeToString())):
            path = self.am_dir / name
            path.write_bytes(data)
            path.chmod(0o600)
        for key_name, f in self.spec.master.files.items():
            os.symlink(self.localize(f), self.am_dir / key_name)

        self.executor = ThreadPoolExecutor(max_workers=256, thread_name_prefix="standin-am-%s" % self.app.seq)
        self.server = grpc.server(self.executor, options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_AppMasterServicer_to_server(_AppMasterServicer(self), self.server)
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=cert, require_client_auth=True)
        self.port = self.server.add_secure_port("%s:0" % NODE_HOST, creds)
        self.server.start()
        self.log("INFO", "gRPC server started at %s:%d" % (NODE_HOST, self.port))

        with self.lock:
            for name, service in self.spec.services.items():
                self.services[name] = _ServiceTracker(self, name, service)
            for tracker in self.services.values():
                for dep in tracker.service.depends:
                    self.services[dep].dependents.append(tracker)
            for tracker in self.services.values():
                self.log("INFO", "Initializing service '%s'." % tracker.name)
                for _ in range(tracker.service.instances):
                    self.add_container(tracker)

    def run(self) -> None:
        """After registration: start the allocator and the application driver (master script)."""
        t = threading.Thread(target=self._allocator_loop, name="standin-allocator-%s" % self.app.seq, daemon=True)
        t.start()
        self._threads.append(t)
        if self.spec.master.script:
            self._start_driver()

    def begin_shutdown(self, final_status: str, msg: str, app_state: str = "FINISHED") -> bool:
        with self.lock:
            if self.finished:
                return False
            self.finished = True
            self.final = (app_state, final_status, msg)
        self.log("INFO" if final_status == "SUCCEEDED" else "WARN", "Shutting down: %s" % msg)
        self.wake.set()
        t = threading.Thread(target=self._teardown, name="standin-teardown-%s" % self.app.seq, daemon=True)
        t.start()
        return True

    def terminate(self, app_state: str, final_status: str, msg: str, timeout: float = 30) -> None:
        """Stop everything (RM kill / AM crash / stand-in shutdown) and wait until done."""
        self.begin_shutdown(final_status, msg, app_state)
        self.done.wait(timeout)

    def _teardown(self) -> None:
        try:
            stoppers = []
            if self.driver_proc is not None:
                t = threading.Thread(target=self._stop_group, args=(self.driver_proc.pid, self.driver_exited), daemon=True)
                t.start()
                stoppers.append(t)
            with self.lock:
                live = [c for c in self.by_yarn_id.values() if c.proc is not None and not c.exited.is_set()]
            for c in live:
                t = threading.Thread(target=self._stop_group, args=(c.pgid, c.exited), daemon=True)
                t.start()
                stoppers.append(t)
            for t in stoppers:
                t.join(10)
            with self.lock:
                for tracker in self.services.values():
                    for c in tracker.containers:
                        if c.state in _ACTIVE_CONTAINER:
                            if c.state == "RUNNING":
                                c.finish_time = _now_ms()
                            else:
                                c.exited.set()  # never launched
                            c.state = "KILLED"
                            c.exit_message = "Container killed: the application finished."
                streams = list(self.streams)
            for s in streams:
                s.close("application master shut down")
            if self.server is not None:
                self.server.stop(grace=0.5).wait(5)
            if self.executor is not None:
                self.executor.shutdown(wait=False, cancel_futures=True)
            self.finish_time = _now_ms()
            app_state, final_status, msg = self.final
            self.log("INFO", "Unregistering application with status %s" % final_status)
        except Exception:  # pragma: no cover - diagnostics only
            self.log("ERROR", "teardown failed:\n%s" % traceback.format_exc())
            app_state, final_status, msg = self.final or ("FAILED", "FAILED", "stand-in teardown failed")
        finally:
            self.standin._app_ended(self.app, app_state, final_status, msg)
            self.done.set()

    def _stop_group(self, pgid: int | None, exited: threading.Event) -> None:
        """NodeManager stop: SIGTERM to the process group, SIGKILL after sigkill_delay."""
        if exited.is_set() or not _killpg(pgid, signal.SIGTERM):
            return
        if not exited.wait(self.standin.sigkill_delay):
            _killpg(pgid, signal.SIGKILL)
        exited.wait(10)

    # -- containers (all under self.lock) ---------------------------------

    def add_container(self, tracker: _ServiceTracker, env: dict | None = None) -> _Container:
        instance = len(tracker.containers)
        if not tracker.is_ready():
            c = _Container(tracker.name, instance, "WAITING", env or {}, tracker.service.resources)
            tracker.waiting.append(instance)
            tracker.containers.append(c)
            self.log("INFO", "WAITING: %s" % c.id)
        else:
            c = _Container(tracker.name, instance, "REQUESTED", env or {}, tracker.service.resources)
            tracker.containers.append(c)
            self._request(tracker, c)
        return c

    def _request(self, tracker: _ServiceTracker, c: _Container) -> None:
        c.priority = next(self._priorities)
        c.state = "REQUESTED"
        tracker.requested[c.priority] = c
        self.log("INFO", "REQUESTED: %s" % c.id)
        self.wake.set()

    def _notify_running(self, tracker: _ServiceTracker, dependency: str) -> None:
        tracker.depends.discard(dependency)
        if tracker.is_ready():
            for instance in tracker.waiting:
                self._request(tracker, tracker.containers[instance])
            tracker.waiting.clear()

    def scale(self, tracker: _ServiceTracker, count: int, delta: int) -> list[_Container]:
        out = []
        active = tracker.num_active()
        if delta == 0:
            delta = count - active
        else:
            delta = max(delta, -active)
            count = delta + active
        self.log("INFO", "Scaling service '%s' to %d instances, a delta of %d." % (tracker.name, count, delta))
        if delta > 0:
            for _ in range(delta):
                out.append(self.add_container(tracker))
        else:
            for _ in range(-delta):
                if tracker.waiting:
                    instance = tracker.waiting[0]
                elif tracker.requested:
                    instance = next(iter(tracker.requested.values())).instance
                else:
                    instance = tracker.running[0]
                self.finish_container(tracker, instance, "KILLED", "Killed by user request.")
                out.append(tracker.containers[instance])
        return out

    def finish_container(self, tracker: _ServiceTracker, instance: int, state: str, msg: str) -> None:
        c = tracker.containers[instance]
        if c.state == "WAITING":
            tracker.waiting.remove(instance)
            c.exited.set()  # never launched
        elif c.state == "REQUESTED":
            tracker.requested.pop(c.priority, None)
            c.priority = None
            c.exited.set()  # never launched
        elif c.state == "RUNNING":
            if instance in tracker.running:
                tracker.running.remove(instance)
            c.finish_time = _now_ms()
            self._release(c)
        else:
            return
        may_restart = False
        if state == "SUCCEEDED":
            tracker.num_succeeded += 1
        elif state == "KILLED":
            tracker.num_killed += 1
        elif state == "FAILED":
            tracker.num_failed += 1
            may_restart = True
        else:  # pragma: no cover
            raise ValueError(state)
        self.log("WARN" if state == "FAILED" else "INFO", "%s: %s - %s" % (state, c.id, msg))
        c.state = state
        c.exit_message = msg
        for key in sorted(c.owned_keys):
            if self.kv.pop(key, None) is not None:
                for wid, w in list(self.watchers.items()):
                    if w.delete and w.contains(key):
                        w.stream.send(pb.WatchResponse(type=pb.WatchResponse.DELETE, watch_id=wid, event=[pb.KeyValue(key=key)]))
        c.owned_keys.clear()
        if self.finished:
            return
        max_restarts = tracker.service.max_restarts
        if may_restart and (max_restarts == -1 or tracker.num_restarted < max_restarts):
            tracker.num_restarted += 1
            self.log("INFO", "RESTARTING: adding new container to replace %s." % c.id)
            self.add_container(tracker, c.env)
        if tracker.is_finished() or tracker.is_failed():
            self._maybe_shutdown()

    def _maybe_shutdown(self) -> None:
        finished = self.driver_proc is None
        for tracker in self.services.values():
            finished = finished and tracker.is_finished()
            if tracker.is_failed():
                self.begin_shutdown("FAILED", "Failure in service %s, see logs for more information." % tracker.name)
                return
        if finished:
            self.begin_shutdown("SUCCEEDED", "Application completed successfully.")

    def _release(self, c: _Container) -> None:
        """releaseAssignedContainer: the NodeManager stops the process (if launched)."""
        if c.proc is not None and not c.exited.is_set():
            threading.Thread(target=self._stop_group, args=(c.pgid, c.exited), daemon=True).start()

    # -- allocation ------------------------------------------------------

    def _allocator_loop(self) -> None:
        while not self.finished:
            self.wake.wait(0.5)
            if self.finished:
                break
            self.wake.clear()
            time.sleep(self.standin.allocation_delay)
            try:
                self._allocate()
            except Exception as exc:  # pragma: no cover - diagnostics only
                self.log("ERROR", traceback.format_exc())
                self.begin_shutdown("FAILED", "Failure in container allocator:\n%s" % exc)
                break

    def _allocate(self) -> None:
        launches = []
        with self.lock:
            if self.finished:
                return
            pending = sorted(
                ((prio, tracker, c) for tracker in self.services.values() for prio, c in tracker.requested.items()),
                key=lambda x: x[0],
            )
            touched = []
            limit = self.standin.max_allocation
            for prio, tracker, c in pending:
                res = tracker.service.resources
                if limit is not None and (res.memory > limit[0] or res.vcores > limit[1]):
                    self.begin_shutdown(
                        "FAILED",
                        "Failure in container allocator:\nInvalid resource request, requested resource "
                        "<memory:%d, vCores:%d> for service %s exceeds the maximum allowed allocation "
                        "<memory:%d, vCores:%d>" % (res.memory, res.vcores, tracker.name, limit[0], limit[1]),
                    )
                    return
                del tracker.requested[prio]
                c.priority = None
                c.state = "RUNNING"
                c.start_time = _now_ms()
                c.yarn_container_id = self.app.container_id(next(self._container_seq))
                tracker.running.append(c.instance)
                self.by_yarn_id[c.yarn_container_id] = c
                self.log("INFO", "RUNNING: %s on %s" % (c.id, c.yarn_container_id))
                launches.append((tracker, c))
                if tracker not in touched:
                    touched.append(tracker)
            for tracker in touched:
                if not tracker.initial_running and not tracker.requested:
                    tracker.initial_running = True
                    for dep in tracker.dependents:
                        self._notify_running(dep, tracker.name)
        for tracker, c in launches:
            t = threading.Thread(target=self._launch, args=(tracker, c), name="standin-launch-%s" % c.yarn_container_id, daemon=True)
            t.start()

    # -- NodeManager: localization and launch ------------------------------

    def localize(self, f: pb.File) -> Path:
        src = _url_path(f.source)
        key = (src, f.type, f.visibility)
        with self._loc_lock:
            if key in self._localized:
                return self._localized[key]
            if not os.path.exists(src):
                raise _LocalizationError("java.io.FileNotFoundException: File file:%s does not exist" % src)
            st = os.stat(src)
            mtime = int(st.st_mtime * 1000)
            if f.timestamp and mtime != f.timestamp:
                raise _LocalizationError(
                    "Resource file:%s changed on src filesystem (expected %d, was %d" % (src, f.timestamp, mtime)
                )
            if f.size and os.path.isfile(src) and st.st_size != f.size:
                raise _LocalizationError(
                    "Resource file:%s changed on src filesystem (expected size %d, was %d" % (src, f.size, st.st_size)
                )
            folder = self.app_work / "filecache" / str(next(self._loc_seq))
            folder.mkdir(parents=True)
            name = os.path.basename(src.rstrip("/"))
            dest = folder / name
            lower = name.lower()
            if f.type == pb.File.ARCHIVE and lower.endswith((".tar.gz", ".tgz", ".tar")):
                dest.mkdir()
                with tarfile.open(src) as tf:
                    tf.extractall(dest, filter=_yarn_tar_filter)
            elif f.type == pb.File.ARCHIVE and lower.endswith((".zip", ".jar")):
                _safe_unzip(Path(src), dest)
            elif os.path.isdir(src):
                shutil.copytree(src, dest, symlinks=True)
            else:
                if f.type == pb.File.ARCHIVE:
                    self.log("WARN", "Cannot unpack %s, localizing it as a file" % src)
                shutil.copy2(src, dest)
            _yarn_permissions(dest, public=f.visibility == pb.File.PUBLIC)
            self._localized[key] = dest
            return dest

    def base_env(self, container_id: str, log_dir: Path, workdir: Path, res: pb.Resources, user_env) -> dict:
        env = dict(self.standin.base_env)
        env.update(user_env)
        env["SKEIN_APPMASTER_ADDRESS"] = "%s:%d" % (NODE_HOST, self.port)
        env["SKEIN_APPLICATION_ID"] = self.app.id
        env["SKEIN_RESOURCE_VCORES"] = str(res.vcores)
        env["SKEIN_RESOURCE_MEMORY"] = str(res.memory)
        env["HADOOP_USER_NAME"] = self.app.user
        env.update(
            CONTAINER_ID=container_id,
            LOCAL_DIRS=str(self.app_work),
            LOG_DIRS=str(log_dir),
            NM_HOST=NODE_HOST,
            NM_PORT=str(NM_PORT),
            NM_HTTP_PORT=str(NM_HTTP_PORT),
            PWD=str(workdir),
            USER=self.app.user,
            LOGNAME=self.app.user,
        )
        return env

    def _launch(self, tracker: _ServiceTracker, c: _Container) -> None:
        service = tracker.service
        try:
            cdir = self.app_work / c.yarn_container_id
            ldir = self.app_logs / c.yarn_container_id
            cdir.mkdir(parents=True)
            ldir.mkdir(parents=True, exist_ok=True)
            c.container_dir, c.log_dir = cdir, ldir
            for key, f in service.files.items():
                os.symlink(self.localize(f), cdir / key)
            env = self.base_env(c.yarn_container_id, ldir, cdir, service.resources, {**dict(service.env), **c.env})
            env["SKEIN_CONTAINER_ID"] = c.id
            command = service.script.replace(_LOG_DIR_VAR, str(ldir))
            out = open(ldir / "prelaunch.out", "ab")
            err = open(ldir / "prelaunch.err", "ab")
        except Exception as exc:
            with self.lock:
                if c.state == "RUNNING":
                    c.exit_code = -1000
                    self.finish_container(tracker, c.instance, "FAILED", str(exc) or repr(exc))
            c.exited.set()
            return
        try:
            with self.lock:
                if c.state != "RUNNING" or self.finished:
                    c.exited.set()
                    return
                c.proc = subprocess.Popen(
                    ["bash", "-c", command],
                    cwd=cdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                )
                c.pgid = c.proc.pid
        except Exception as exc:
            with self.lock:
                c.exit_code = -1000
                self.finish_container(tracker, c.instance, "FAILED", "Failed to start, exception raised: %s" % exc)
            c.exited.set()
            return
        finally:
            out.close()
            err.close()
        self._monitor(tracker, c)

    def _monitor(self, tracker: _ServiceTracker, c: _Container) -> None:
        proc = c.proc
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        # The main process has ended but is not reaped yet, so its pid (the
        # process group id) cannot be reused: clean up what is left in the group.
        _killpg(c.pgid, signal.SIGKILL)
        rc = proc.wait()
        code = rc if rc >= 0 else 128 - rc
        c.exit_code = code
        with self.lock:
            if c.state == "RUNNING" and not self.finished:
                if code == 0:
                    self.finish_container(tracker, c.instance, "SUCCEEDED", "Completed successfully.")
                else:
                    self.finish_container(
                        tracker, c.instance, "FAILED", "Container failed during execution, see logs for more information."
                    )
        c.exited.set()

    def _start_driver(self) -> None:
        script = self.am_dir / ".skein.sh"
        script.write_text(("set -e\n" if self.standin.strict_scripts else "") + self.spec.master.script)
        env = self.base_env(self.am_container_id, self.am_log_dir, self.am_dir, self.spec.master.resources, self.spec.master.env)
        env.pop("CLASSPATH", None)
        with open(self.am_log_dir / "application.driver.log", "ab") as log:
            self.driver_proc = subprocess.Popen(
                ["bash", ".skein.sh"], cwd=self.am_dir, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.log("INFO", "Starting application driver")
        threading.Thread(target=self._watch_driver, daemon=True).start()

    def _watch_driver(self) -> None:
        proc = self.driver_proc
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        _killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        code = rc if rc >= 0 else 128 - rc
        self.driver_exited.set()
        if code == 0:
            self.begin_shutdown("SUCCEEDED", "Application driver completed successfully.")
        elif code == 143:
            self.begin_shutdown(
                "FAILED",
                "Application driver failed with exit code 143. This is often due to the application master "
                "memory limit being exceeded. See the diagnostics for more information.",
            )
        else:
            self.begin_shutdown("FAILED", "Application driver failed with exit code %d, see logs for more information." % code)

    # -- reporting -------------------------------------------------------

    def usage(self) -> pb.ResourceUsageReport:
        now = self.finish_time or _now_ms()
        with self.lock:
            am = self.spec.master.resources
            secs = max(0.0, (now - self.start_time) / 1000.0)
            mem_s, vc_s = am.memory * secs, am.vcores * secs
            used_mem, used_vc, used_n = (0, 0, 0) if self.finish_time else (am.memory, am.vcores, 1)
            need_mem, need_vc = used_mem, used_vc
            for tracker in self.services.values():
                for c in tracker.containers:
                    if c.start_time:
                        end = c.finish_time or now
                        secs = max(0.0, (end - c.start_time) / 1000.0)
                        mem_s += c.resources.memory * secs
                        vc_s += c.resources.vcores * secs
                    if c.state == "RUNNING" and not self.finish_time:
                        used_mem += c.resources.memory
                        used_vc += c.resources.vcores
                        used_n += 1
                    if c.state == "REQUESTED":
                        need_mem += c.resources.memory
                        need_vc += c.resources.vcores
        return pb.ResourceUsageReport(
            memory_seconds=int(mem_s),
            vcore_seconds=int(vc_s),
            num_used_containers=used_n,
            needed_resources=pb.Resources(memory=need_mem, vcores=need_vc),
            reserved_resources=pb.Resources(memory=0, vcores=0),
            used_resources=pb.Resources(memory=used_mem, vcores=used_vc),
        )

    # -- key-value store (under self.lock) ----------------------------------

    @staticmethod
    def _kv_proto(key: str, entry) -> pb.KeyValue:
        value, owner = entry
        kv = pb.KeyValue(key=key, value=value)
        if owner is not None:
            kv.owner.CopyFrom(pb.ContainerInstance(service_name=owner[0], instance=owner[1]))
        return kv

    def _select(self, start: str, end: str) -> list[str] | None:
        open_start = start == "" or start == "\x00"
        open_end = end == ""
        if not open_start and not open_end and start > end:
            return None
        return sorted(k for k in self.kv if (open_start or k >= start) and (open_end or k < end))

    def check_container(self, service: str, instance: int, not_completed: bool) -> _Container:
        tracker = self.services.get(service)
        if tracker is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Unknown service '%s'" % service)
        c = tracker.get(instance)
        if c is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Service '%s' has no container instance %d" % (service, instance))
        if not_completed and c.completed:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Container '%s_%d' has already completed" % (service, instance))
        return c

    def get_range(self, req: pb.GetRangeRequest) -> pb.GetRangeResponse:
        keys = self._select(req.start, req.end)
        resp = pb.GetRangeResponse(count=len(keys or ()), result_type=req.result_type)
        if keys:
            if req.result_type == pb.GetRangeRequest.ITEMS:
                resp.result.extend(self._kv_proto(k, self.kv[k]) for k in keys)
            elif req.result_type == pb.GetRangeRequest.KEYS:
                resp.result.extend(pb.KeyValue(key=k) for k in keys)
        return resp

    def delete_range(self, req: pb.DeleteRangeRequest) -> pb.DeleteRangeResponse:
        keys = self._select(req.start, req.end)
        resp = pb.DeleteRangeResponse(count=len(keys or ()), result_type=req.result_type)
        if keys:
            if req.result_type == pb.DeleteRangeRequest.ITEMS:
                resp.result.extend(self._kv_proto(k, self.kv[k]) for k in keys)
            elif req.result_type == pb.DeleteRangeRequest.KEYS:
                resp.result.extend(pb.KeyValue(key=k) for k in keys)
            first, last = keys[0], keys[-1]
            for wid, w in list(self.watchers.items()):
                if w.delete and w.overlaps(first, last):
                    sub = [k for k in keys if w.contains(k)]
                    if sub:
                        w.stream.send(pb.WatchResponse(type=pb.WatchResponse.DELETE, watch_id=wid, event=[pb.KeyValue(key=k) for k in sub]))
            for k in keys:
                _, owner = self.kv.pop(k)
                if owner is not None:
                    c = self.services[owner[0]].get(owner[1])
                    if c is not None:
                        c.owned_keys.discard(k)
        return resp

    def precheck_put(self, req: pb.PutKeyRequest) -> None:
        if req.ignore_value and req.ignore_owner:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "ignore_value & ignore_owner can't both be true")
        if req.ignore_value and req.key not in self.kv:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "ignore_value=True & key isn't already set")
        if not req.ignore_owner and req.HasField("owner"):
            self.check_container(req.owner.service_name, req.owner.instance, True)

    def put_key(self, req: pb.PutKeyRequest) -> pb.PutKeyResponse:
        key = req.key
        prev = self.kv.get(key)
        value = prev[0] if req.ignore_value else req.value
        if req.ignore_owner:
            owner = prev[1] if prev is not None else None
        else:
            if prev is not None and prev[1] is not None:
                c = self.services[prev[1][0]].get(prev[1][1])
                if c is not None:
                    c.owned_keys.discard(key)
            owner = None
            if req.HasField("owner"):
                owner = (req.owner.service_name, req.owner.instance)
                self.services[owner[0]].containers[owner[1]].owned_keys.add(key)
        self.kv[key] = (value, owner)
        kv = self._kv_proto(key, self.kv[key])
        for wid, w in list(self.watchers.items()):
            if w.put and w.contains(key):
                w.stream.send(pb.WatchResponse(type=pb.WatchResponse.PUT, watch_id=wid, event=[kv]))
        resp = pb.PutKeyResponse(return_previous=req.return_previous)
        if req.return_previous and prev is not None:
            resp.previous.CopyFrom(self._kv_proto(key, prev))
        return resp

    def eval_condition(self, cond: pb.Condition) -> bool:
        entry = self.kv.get(cond.key)
        lhs_value = entry[0] if entry is not None else None
        lhs_owner = entry[1] if entry is not None else None
        which = cond.WhichOneof("rhs")
        rhs_value = cond.value if which == "value" else None
        rhs_owner = (cond.owner.service_name, cond.owner.instance) if which == "owner" else None
        op = cond.operator
        C = pb.Condition
        if cond.field == C.VALUE:
            lhs, rhs = lhs_value, rhs_value
            if lhs is not None and rhs is not None:
                lhs, rhs = _signed(lhs), _signed(rhs)
        else:
            lhs, rhs = lhs_owner, rhs_owner
        if lhs is None or rhs is None:
            if op == C.EQUAL:
                return lhs is None and rhs is None
            if op == C.NOT_EQUAL:
                return not (lhs is None and rhs is None)
            return False
        return {
            C.EQUAL: lhs == rhs,
            C.NOT_EQUAL: lhs != rhs,
            C.LESS: lhs < rhs,
            C.LESS_EQUAL: lhs <= rhs,
            C.GREATER: lhs > rhs,
            C.GREATER_EQUAL: lhs >= rhs,
        }[op]

    def transaction(self, req: pb.TransactionRequest) -> pb.TransactionResponse:
        succeeded = all(self.eval_condition(c) for c in req.condition)
        ops = req.on_success if succeeded else req.on_failure
        for op in ops:
            if op.WhichOneof("request") == "put_key":
                self.precheck_put(op.put_key)
        resp = pb.TransactionResponse(succeeded=succeeded)
        for op in ops:
            which = op.WhichOneof("request")
            if which == "put_key":
                resp.result.append(pb.OpResponse(put_key=self.put_key(op.put_key)))
            elif which == "get_range":
                resp.result.append(pb.OpResponse(get_range=self.get_range(op.get_range)))
            elif which == "delete_range":
                resp.result.append(pb.OpResponse(delete_range=self.delete_range(op.delete_range)))
        return resp


def _rpc(method):
    """Run an AppMaster RPC under the AM lock, turning _Abort into a status."""

    def wrapper(self, request, context):
        try:
            with self.am.lock:
                return method(self, request, context)
        except _Abort as exc:
            context.abort(exc.code, exc.details)

    wrapper.__name__ = method.__name__
    return wrapper


class _AppMasterServicer(pb_grpc.AppMasterServicer):
    def __init__(self, am: _AppMaster):
        self.am = am

    def shutdown(self, request, context):
        status = pb.FinalStatus.Type.Name(request.final_status)
        msg = request.diagnostics or "Shutdown requested by user."
        self.am.begin_shutdown(status, msg)
        return pb.Empty()

    @_rpc
    def getApplicationSpec(self, request, context):
        return self.am.spec

    @_rpc
    def getContainers(self, request, context):
        am = self.am
        names = list(request.services) if request.services else list(am.services)
        for name in names:
            if name not in am.services:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Unknown service '%s'" % name)
        states = {pb.Container.State.Name(s) for s in request.states} if request.states else set(_ACTIVE_CONTAINER)
        resp = pb.ContainersResponse()
        for name in dict.fromkeys(names):
            for c in am.services[name].containers:
                if c.state in states:
                    resp.containers.append(c.to_proto())
        return resp

    @_rpc
    def killContainer(self, request, context):
        self.am.check_container(request.service_name, request.instance, False)
        tracker = self.am.services[request.service_name]
        self.am.finish_container(tracker, request.instance, "KILLED", "Killed by user request.")
        return pb.Empty()

    @_rpc
    def scale(self, request, context):
        tracker = self.am.services.get(request.service_name)
        if tracker is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Unknown service '%s'" % request.service_name)
        if request.delta != 0 and request.count != 0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Can't specify both count and delta")
        if request.delta == 0 and request.count < 0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "count must be >= 0")
        changed = self.am.scale(tracker, request.count, request.delta)
        return pb.ContainersResponse(containers=[c.to_proto() for c in changed])

    @_rpc
    def addContainer(self, request, context):
        tracker = self.am.services.get(request.service_name)
        if tracker is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Unknown service '%s'" % request.service_name)
        return self.am.add_container(tracker, dict(request.env)).to_proto()

    @_rpc
    def SetProgress(self, request, context):
        if not 0.0 <= request.progress <= 1.0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "progress must be between 0 and 1, got %s" % request.progress)
        self.am.progress = request.progress
        return pb.Empty()

    @_rpc
    def GetRange(self, request, context):
        return self.am.get_range(request)

    @_rpc
    def DeleteRange(self, request, context):
        return self.am.delete_range(request)

    @_rpc
    def PutKey(self, request, context):
        self.am.precheck_put(request)
        return self.am.put_key(request)

    @_rpc
    def Transaction(self, request, context):
        return self.am.transaction(request)

    def Watch(self, request_iterator, context):
        am = self.am
        stream = _WatchStream(am)
        with am.lock:
            if am.finished:
                context.abort(grpc.StatusCode.UNAVAILABLE, "application master shut down")
            am.streams.add(stream)
        context.add_callback(stream.close)

        def read():
            try:
                for req in request_iterator:
                    which = req.WhichOneof("request")
                    with am.lock:
                        if stream.closed:
                            return
                        if which == "create":
                            wid = next(am._watch_ids)
                            am.watchers[wid] = _Watcher(req.create.start, req.create.end, req.create.event_type, stream)
                            stream.registered.add(wid)
                            stream.out.put(pb.WatchResponse(type=pb.WatchResponse.CREATE, watch_id=wid))
                        elif which == "cancel":
                            wid = req.cancel.watch_id
                            if wid in stream.registered:
                                stream.registered.discard(wid)
                                am.watchers.pop(wid, None)
                            stream.out.put(pb.WatchResponse(type=pb.WatchResponse.CANCEL, watch_id=wid))
            except Exception:
                pass
            stream.close()

        threading.Thread(target=read, name="standin-watch-reader", daemon=True).start()
        while True:
            msg = stream.out.get()
            if isinstance(msg, tuple):
                if msg[1] is not None:
                    context.abort(grpc.StatusCode.UNAVAILABLE, msg[1])
                return
            yield msg

    @_rpc
    def AddProxy(self, request, context):
        route, target, name = request.route, request.target, request.link_name
        if "/" in route:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Page page routes must not contain '/'")
        url = urlparse(target)
        if not url.scheme or not url.netloc:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Page target address '%s' is an invalid URL:\nno protocol" % target)
        if route in self.am.proxies:
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, "A proxied page with route '%s' already exists" % route)
        if name and any(p.link_name == name for p in self.am.proxies.values()):
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, "A proxied page with name '%s' already exists" % name)
        self.am.proxies[route] = pb.Proxy(route=route, target=target, link_name=name)
        return pb.Empty()

    @_rpc
    def RemoveProxy(self, request, context):
        if self.am.proxies.pop(request.route, None) is None:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "A proxied page with route '%s' doesn't exist" % request.route)
        return pb.Empty()

    @_rpc
    def UiInfo(self, request, context):
        return pb.UIInfoResponse(ui_address=[self.am.app.tracking_url], proxy_prefix="/pages")

    @_rpc
    def GetProxies(self, request, context):
        return pb.GetProxiesResponse(proxy=list(self.am.proxies.values()))


# ----------------------------------------------------------------------------
# Driver / ResourceManager
# ----------------------------------------------------------------------------


class _Application:
    """The ResourceManager's record of one application."""

    def __init__(self, standin: "YarnStandIn", seq: int, spec: pb.ApplicationSpec, cert: bytes, key: bytes, user: str):
        self.standin = standin
        self.seq = seq
        self.id = "application_%d_%04d" % (standin.cluster_timestamp, seq)
        self.spec = spec
        self.cert = cert
        self.key = key
        self.user = user
        self.name = spec.name
        self.queue = spec.queue or "default"
        self.tags = sorted(spec.tags)
        self.start_time = _now_ms()
        self.finish_time = 0
        self.state = "NEW"
        self.final_status = "UNDEFINED"
        self.diagnostics = ""
        self.host = "N/A"
        self.port = -1
        self.tracking_url = "%s/proxy/%s/" % (RM_WEB, self.id)
        self.am: _AppMaster | None = None
        self.state_history: list[tuple[str, int]] = [("NEW", self.start_time)]

    def container_id(self, n: int) -> str:
        return "container_%d_%04d_01_%06d" % (self.standin.cluster_timestamp, self.seq, n)

    def set_state(self, state: str) -> None:
        self.state = state
        self.state_history.append((state, _now_ms()))

    def report(self) -> pb.ApplicationReport:
        am = self.am
        if am is not None:
            usage = am.usage()
            progress = 1.0 if self.state in _COMPLETED else (am.progress if am.progress >= 0 else 0.1)
        else:
            zero = pb.Resources(memory=0, vcores=0)
            usage = pb.ResourceUsageReport(needed_resources=zero, reserved_resources=zero, used_resources=zero)
            progress = 1.0 if self.state in _COMPLETED else 0.0
        return pb.ApplicationReport(
            id=self.id, name=self.name, user=self.user, queue=self.queue, tags=self.tags,
            host=self.host, port=self.port, tracking_url=self.tracking_url,
            state=self.state, final_status=self.final_status, progress=progress, usage=usage,
            diagnostics=self.diagnostics, start_time=self.start_time, finish_time=self.finish_time,
        )


class _DriverServicer(pb_grpc.DriverServicer):
    def __init__(self, standin: "YarnStandIn"):
        self.s = standin

    def _app(self, app_id: str, context) -> _Application:
        if not _APP_ID.match(app_id or ""):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid ApplicationId '%s'" % app_id)
        with self.s._cond:
            app = self.s._apps.get(app_id)
        if app is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Unknown ApplicationId '%s'" % app_id)
        return app

    def ping(self, request, context):
        return pb.Empty()

    def submit(self, request, context):
        try:
            skein.ApplicationSpec.from_protobuf(request)
        except Exception as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            app = self.s._submit(request)
        except Exception as exc:
            context.abort(grpc.StatusCode.INTERNAL, "Failed to submit application, exception:\n%s" % exc)
        return pb.Application(id=app.id)

    def getStatus(self, request, context):
        app = self._app(request.id, context)
        with self.s._cond:
            return app.report()

    def waitForStart(self, request, context):
        app = self._app(request.id, context)
        with self.s._cond:
            while app.state not in _STARTED:
                if not context.is_active():
                    context.abort(grpc.StatusCode.CANCELLED, "cancelled")
                self.s._cond.wait(0.25)
            return app.report()

    def getApplications(self, request, context):
        states = {pb.ApplicationState.Type.Name(s) for s in request.states} or {"SUBMITTED", "ACCEPTED", "RUNNING"}
        started_end = request.started_end or 2**62
        finished_end = request.finished_end or 2**62
        resp = pb.ApplicationsResponse()
        with self.s._cond:
            for app in self.s._apps.values():
                if app.state not in states:
                    continue
                if request.name and app.name != request.name:
                    continue
                if request.user and app.user != request.user:
                    continue
                if request.queue and app.queue != request.queue:
                    continue
                if not request.started_begin <= app.start_time <= started_end:
                    continue
                if not request.finished_begin <= app.finish_time <= finished_end:
                    continue
                resp.reports.append(app.report())
        return resp

    def kill(self, request, context):
        app = self._app(request.id, context)
        self.s._kill(app, request.user or self.s.user)
        return pb.Empty()

    def getLogs(self, request, context):
        app = self._app(request.id, context)
        if app.state not in _COMPLETED:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "Application %s has not completed, logs are not available" % request.id,
            )
        return pb.LogsResponse(logs=self.s._aggregated_logs(app))

    def getNodes(self, request, context):
        states = {pb.NodeState.Type.Name(s) for s in request.states}
        resp = pb.NodesResponse()
        if not states or "RUNNING" in states:
            resp.reports.append(self.s._node_report())
        return resp

    def _queue(self) -> pb.Queue:
        with self.s._cond:
            used = sum(
                a.report().usage.used_resources.memory for a in self.s._apps.values() if a.state == "RUNNING"
            )
        total = self.s.node_resources[0] or 1
        return pb.Queue(name="default", state="RUNNING", capacity=100.0, max_capacity=100.0,
                        percent_used=100.0 * used / total, node_labels=[], default_node_label="")

    def getQueue(self, request, context):
        if request.name != "default":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Queue '%s' does not exist" % request.name)
        return self._queue()

    def getChildQueues(self, request, context):
        if request.name != "default":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Queue '%s' does not exist" % request.name)
        return pb.QueuesResponse()

    def getAllQueues(self, request, context):
        return pb.QueuesResponse(queues=[self._queue()])

    def moveApplication(self, request, context):
        app = self._app(request.id, context)
        if request.queue != "default":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Failed to move to queue: %s does not exist" % request.queue)
        with self.s._cond:
            app.queue = request.queue
        return pb.Empty()


class YarnStandIn:
    """A fake YARN (skein driver + application masters + NodeManager) on 127.0.0.1.

    Parameters
    ----------
    root : path
        Folder for everything: ``logs/`` (:attr:`log_root`), ``work/``
        (:attr:`work_root`, container working directories) and ``staging/``.
    security : skein.Security, optional
        Credentials of the driver (default: new ones).  Clients must use them.
    cluster_timestamp : int, optional
        The ResourceManager start time in ids (default: now, in ms).
    allocation_delay : float
        Seconds between a container request and its allocation.
    am_start_delay : float
        Seconds an application stays ACCEPTED before its AM starts.
    sigkill_delay : float
        Seconds between SIGTERM and SIGKILL when a container is stopped.
    strict_scripts : bool
        Prepend ``set -e`` to service (and master) scripts.  skein does not.
    python_on_path : bool
        Prepend ``os.path.dirname(sys.executable)`` to the containers' PATH.
    extra_env : dict, optional
        Added to every container's base environment.
    max_allocation : (memory_mib, vcores), optional
        YARN's maximum allocation: a larger request fails the application.
    node_resources : (memory_mib, vcores)
        What the single node reports as its capacity (not enforced).
    """

    def __init__(self, root, *, security: skein.Security | None = None, cluster_timestamp: int | None = None,
                 allocation_delay: float = 0.02, am_start_delay: float = 0.02, sigkill_delay: float = 0.25,
                 strict_scripts: bool = False, python_on_path: bool = True, extra_env: dict | None = None,
                 max_allocation: tuple[int, int] | None = None, node_resources: tuple[int, int] = (65536, 64),
                 user: str | None = None):
        self.root = Path(root).resolve()
        self.log_root = self.root / "logs"
        self.work_root = self.root / "work"
        self.staging_root = self.root / "staging"
        self.security = security or skein.Security.new_credentials()
        self.cluster_timestamp = cluster_timestamp or _now_ms()
        self.allocation_delay = allocation_delay
        self.am_start_delay = am_start_delay
        self.sigkill_delay = sigkill_delay
        self.strict_scripts = strict_scripts
        self.python_on_path = python_on_path
        self.extra_env = dict(extra_env or {})
        self.max_allocation = max_allocation
        self.node_resources = node_resources
        self.user = user or getpass.getuser()
        self.address = ""
        self.port = 0
        self.base_env: dict[str, str] = {}
        self._cond = threading.Condition(threading.RLock())
        self._apps: dict[str, _Application] = {}
        self._seq = itertools.count(1)
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._clients: list[skein.Client] = []
        self._rm_threads: list[threading.Thread] = []
        self._started = False
        self._stopped = False

    # -- lifecycle -------------------------------------------------------

    def start(self) -> "YarnStandIn":
        if self._started:
            return self
        for d in (self.log_root, self.work_root, self.staging_root):
            d.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SKEIN_", "PYTEST_")) and k not in _ENV_DROP}
        if self.python_on_path:
            env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", os.defpath)
        env.update(self.extra_env)
        self.base_env = env
        cert = self.security._get_bytes("cert")
        key = self.security._get_bytes("key")
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="standin-driver")
        self._server = grpc.server(self._executor, options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_DriverServicer_to_server(_DriverServicer(self), self._server)
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=cert, require_client_auth=True)
        self.port = self._server.add_secure_port("%s:0" % NODE_HOST, creds)
        if not self.port:
            raise RuntimeError("could not bind the stand-in driver on %s" % NODE_HOST)
        self._server.start()
        self.address = "%s:%d" % (NODE_HOST, self.port)
        self._started = True
        atexit.register(self.shutdown)
        return self

    def shutdown(self) -> None:
        """Kill every application (and so every container process) and stop the servers. Idempotent."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        with self._cond:
            apps = list(self._apps.values())
        for app in apps:
            try:
                self._kill(app, self.user, diagnostics="Killed: the YARN stand-in was shut down.")
            except Exception:  # pragma: no cover
                traceback.print_exc()
        for t in list(self._rm_threads):  # applications whose AM was starting
            t.join(30)
        # Safety net: anything still alive in a container process group.
        for app in apps:
            am = app.am
            if am is None:
                continue
            groups = [c.pgid for t in am.services.values() for c in t.containers if c.pgid and not c.exited.is_set()]
            if am.driver_proc is not None and not am.driver_exited.is_set():
                groups.append(am.driver_proc.pid)
            for pgid in groups:
                _killpg(pgid, signal.SIGKILL)
        if self._server is not None:
            self._server.stop(grace=0.2).wait(5)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        atexit.unregister(self.shutdown)

    def __enter__(self) -> "YarnStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- public helpers --------------------------------------------------

    def client(self) -> skein.Client:
        """A new ``skein.Client`` connected to this driver (closed by :meth:`shutdown`)."""
        c = skein.Client(address=self.address, security=self.security)
        self._clients.append(c)
        return c

    def application(self, app_id: str) -> _Application:
        """The ResourceManager record (``state_history``, ``am`` with its containers...)."""
        with self._cond:
            return self._apps[app_id]

    def applications(self) -> list[_Application]:
        with self._cond:
            return list(self._apps.values())

    def _find_container(self, app_id: str, container_id: str) -> _Container:
        am = self.application(app_id).am
        if am is None:
            raise KeyError("%s has no application master" % app_id)
        with am.lock:
            if container_id in am.by_yarn_id:
                return am.by_yarn_id[container_id]
            service, _, instance = container_id.rpartition("_")
            tracker = am.services.get(service)
            c = tracker.get(int(instance)) if tracker is not None and instance.isdigit() else None
            if c is None:
                raise KeyError("no container %r in %s" % (container_id, app_id))
            return c

    def kill_container(self, app_id: str, container_id: str, sig: int = signal.SIGKILL, wait: bool = True,
                       timeout: float = 15.0) -> None:
        """Fault injection: send ``sig`` (SIGKILL) to a container's process group, as the OOM killer or a crash would.

        ``container_id`` is skein's (``svc_0``) or YARN's (``container_...``).
        The container then ends FAILED (exit 128+sig) and max_restarts
        applies.  With ``wait``, returns once the AM has seen it end.
        """
        c = self._find_container(app_id, container_id)
        deadline = time.monotonic() + timeout
        while c.pgid is None and c.state == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.01)
        if c.pgid is None:
            raise RuntimeError("container %s of %s has no process (state %s)" % (container_id, app_id, c.state))
        _killpg(c.pgid, sig)
        if wait and not c.exited.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError("container %s of %s did not end after signal %d" % (container_id, app_id, sig))

    def kill_application_master(self, app_id: str) -> None:
        """Fault injection: the AM container dies; the application ends FAILED (no AM retry)."""
        app = self.application(app_id)
        diag = ("Application %s failed 1 times due to AM Container for appattempt_%d_%04d_000001 exited with "
                " exitCode: 137\nKilled by the YARN stand-in (fault injection)." % (app.id, self.cluster_timestamp, app.seq))
        self._kill(app, self.user, state="FAILED", diagnostics=diag)

    def wait_for_app(self, app_id: str, timeout: float = 30.0) -> skein.model.ApplicationReport:
        """Block until the application is FINISHED/FAILED/KILLED; return its report."""
        app = self.application(app_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while app.state not in _COMPLETED:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s still %s after %.0f s" % (app_id, app.state, timeout))
                self._cond.wait(min(left, 0.25))
            return skein.model.ApplicationReport.from_protobuf(app.report())

    def container_log(self, app_id: str, container_id: str) -> Path:
        """Path of a container's ``<service>.log`` (skein or YARN container id)."""
        c = self._find_container(app_id, container_id)
        return self.log_root / app_id / c.yarn_container_id / ("%s.log" % c.service)

    def container_exit_code(self, app_id: str, container_id: str, timeout: float = 15.0) -> int | None:
        """Wait for a container's process to end; its exit code (128+N for signal N), None if never launched."""
        c = self._find_container(app_id, container_id)
        if not c.exited.wait(timeout):
            raise TimeoutError("container %s of %s still running after %.0f s" % (container_id, app_id, timeout))
        return c.exit_code if c.proc is not None else None

    def live_process_groups(self) -> list[int]:
        """Process groups of containers/drivers not known to have ended (for leak checks)."""
        out = []
        for app in self.applications():
            am = app.am
            if am is None:
                continue
            with am.lock:
                out += [c.pgid for t in am.services.values() for c in t.containers if c.pgid and not c.exited.is_set()]
            if am.driver_proc is not None and not am.driver_exited.is_set():
                out.append(am.driver_proc.pid)
        return out

    # -- driver internals ------------------------------------------------

    def _submit(self, request: pb.ApplicationSpec) -> _Application:
        seq = next(self._seq)
        app_id = "application_%d_%04d" % (self.cluster_timestamp, seq)
        staging = self.staging_root / app_id
        staging.mkdir(parents=True)
        spec = pb.ApplicationSpec()
        spec.CopyFrom(request)
        try:
            if spec.master.HasField("security"):
                sec = skein.Security.from_protobuf(spec.master.security)
            else:
                sec = self.security
            cert, key = sec._get_bytes("cert"), sec._get_bytes("key")
            uploads: dict[str, str] = {}

            def write(name: str, data: bytes) -> pb.File:
                path = staging / name
                path.write_bytes(data)
                path.chmod(0o600)
                st = path.stat()
                return pb.File(source=pb.Url(scheme="file", file=str(path)), type=pb.File.FILE,
                               visibility=pb.File.APPLICATION, size=st.st_size, timestamp=int(st.st_mtime * 1000))

            def stage(f: pb.File) -> None:
                src = _url_path(f.source)
                if not os.path.exists(src):
                    raise FileNotFoundError("File file:%s does not exist" % src)
                dst = uploads.get(src)
                if dst is None:
                    folder = staging / hashlib.md5(src.encode()).hexdigest()
                    folder.mkdir(exist_ok=True)
                    dst = str(folder / os.path.basename(src.rstrip("/")))
                    if os.path.isdir(src):
                        shutil.copytree(src, dst, symlinks=True)
                    else:
                        shutil.copy(src, dst)
                    uploads[src] = dst
                st = os.stat(dst)
                f.source.CopyFrom(pb.Url(scheme="file", file=dst))
                if f.size == 0 and os.path.isfile(dst):
                    f.size = st.st_size
                if f.timestamp == 0:
                    f.timestamp = int(st.st_mtime * 1000)

            crt_file, pem_file = write(".skein.crt", cert), write(".skein.pem", key)
            spec.master.security.CopyFrom(pb.Security(cert_file=crt_file, key_file=pem_file))
            lang = os.environ.get("LANG")
            for name, svc in spec.services.items():
                script_file = write("%s.sh" % name, (("set -e\n" if self.strict_scripts else "") + svc.script).encode())
                for f in svc.files.values():
                    stage(f)
                svc.script = "bash .skein.sh >%s/%s.log 2>&1" % (_LOG_DIR_VAR, name)
                svc.files[".skein.sh"].CopyFrom(script_file)
                svc.files[".skein.crt"].CopyFrom(crt_file)
                svc.files[".skein.pem"].CopyFrom(pem_file)
                if lang is not None:
                    svc.env["LANG"] = lang
            for f in spec.master.files.values():
                stage(f)
            if spec.master.HasField("log_config"):
                stage(spec.master.log_config)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        app = _Application(self, seq, spec, cert, key, spec.user or self.user)
        with self._cond:
            self._apps[app.id] = app
            app.set_state("SUBMITTED")
            app.set_state("ACCEPTED")
            self._cond.notify_all()
        t = threading.Thread(target=self._run_app, args=(app,), name="standin-rm-%s" % app.id, daemon=True)
        self._rm_threads.append(t)
        t.start()
        return app

    def _run_app(self, app: _Application) -> None:
        time.sleep(self.am_start_delay)
        with self._cond:
            if app.state in _COMPLETED:
                return
        am = _AppMaster(self, app)
        try:
            am.start()
        except Exception as exc:
            am.log("ERROR", traceback.format_exc())
            if am.server is not None:
                am.server.stop(0)
            self._app_ended(app, "FAILED", "FAILED", "Application master failed to start: %s" % exc)
            return
        with self._cond:
            app.am = am
            killed = app.state in _COMPLETED
            if not killed:
                app.host, app.port = NODE_HOST, am.port
                app.set_state("RUNNING")
                self._cond.notify_all()
        if killed:
            am.terminate(app.state, app.final_status, app.diagnostics)
            return
        am.run()

    def _kill(self, app: _Application, user: str, state: str = "KILLED", diagnostics: str | None = None) -> None:
        diag = diagnostics or "Application %s was killed by user %s at %s" % (app.id, user, NODE_HOST)
        with self._cond:
            if app.state in _COMPLETED:
                return
            am = app.am
            if am is None:
                self._set_final(app, state, "KILLED" if state == "KILLED" else "FAILED", diag)
                return
        am.terminate(state, "KILLED" if state == "KILLED" else "FAILED", diag)
        with self._cond:
            if app.state not in _COMPLETED:  # pragma: no cover - teardown timed out
                self._set_final(app, state, "KILLED" if state == "KILLED" else "FAILED", diag)

    def _set_final(self, app: _Application, state: str, final_status: str, diagnostics: str) -> None:
        with self._cond:
            if app.state in _COMPLETED:
                return
            app.final_status = final_status
            app.diagnostics = diagnostics
            app.finish_time = _now_ms()
            app.set_state(state)
            self._cond.notify_all()

    def _app_ended(self, app: _Application, state: str, final_status: str, diagnostics: str) -> None:
        self._set_final(app, state, final_status, diagnostics)

    def _node_report(self) -> pb.NodeReport:
        used_mem = used_vc = 0
        for app in self.applications():
            if app.state == "RUNNING" and app.am is not None:
                u = app.am.usage().used_resources
                used_mem += u.memory
                used_vc += u.vcores
        return pb.NodeReport(
            id="%s:%d" % (NODE_HOST, NM_PORT), http_address="%s:%d" % (NODE_HOST, NM_HTTP_PORT),
            rack_name="/default-rack", labels=[], state="RUNNING", health_report="",
            total_resources=pb.Resources(memory=self.node_resources[0], vcores=self.node_resources[1]),
            used_resources=pb.Resources(memory=used_mem, vcores=used_vc),
        )

    def _aggregated_logs(self, app: _Application) -> dict[str, str]:
        """An approximation of YARN's aggregated logs: container id -> all its log files."""
        out = {}
        folder = self.log_root / app.id
        if not folder.is_dir():
            return out
        for cdir in sorted(p for p in folder.iterdir() if p.is_dir()):
            parts = []
            for f in sorted(p for p in cdir.iterdir() if p.is_file()):
                data = f.read_text(errors="replace")
                parts.append("LogType:%s\nLogLength:%d\nLog Contents:\n%s\nEnd of LogType:%s\n"
                             % (f.name, len(data.encode()), data, f.name))
            out[cdir.name] = "\n".join(parts)
        return out


def pack_checkout(work: Path, repo: Path, leave_out: tuple = ()) -> Path:
    """A venv-pack archive of a copy of this virtualenv with ``repo`` installed for real.

    venv-pack (rightly) refuses editable installs, so the running virtualenv
    is copied to ``work/venv`` (without the site-packages distributions named
    in ``leave_out``) and the package reinstalled there from the checkout.
    Used by the YARN tests, the log fixtures and the YARN benchmark.
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
    archive = work / "environment.tar.gz"
    pack_environment(archive, prefix=env)
    return archive
