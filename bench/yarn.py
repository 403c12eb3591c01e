"""The YARN path for benchmarks: the stand-in of ``tests/yarn`` and a packed copy of this virtualenv.

No YARN runs on this machine, so the benchmark's YARN mode starts the same
stand-in the YARN tests use (``tests/yarn/standin.py``: skein's gRPC
protocol, containers as local subprocesses) and submits the project's real
application spec to it, with a real venv-pack archive of this virtualenv.
Everything but YARN itself is the production code path.

The archive is built as ``tests/yarn/test_yarn_run.py`` builds it: the
virtualenv is copied (without PySpark, which only the benchmark's driver
needs) and the package reinstalled into the copy from this checkout,
because venv-pack refuses editable installs.  It is kept under ``.bench/``
(ignored by git) and repacked only when the installed packages changed.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".bench" / "yarn"
#: Not copied into the packed environment: benchmark-only, and large.
NOT_PACKED = ("pyspark", "py4j")


def unavailable() -> str | None:
    """Why the YARN mode cannot run here, or None."""
    if not (REPO / "tests" / "yarn" / "standin.py").exists():
        return "tests/yarn/standin.py not found"
    try:
        import grpc  # noqa: F401
        import skein  # noqa: F401
        import venv_pack  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed"
    if sys.prefix == sys.base_prefix:
        return "not running in a virtualenv (venv-pack needs one)"
    return None


def packed_environment(work: Path = WORK) -> tuple[Path, float]:
    """A venv-pack archive of a copy of this virtualenv with the package really installed; seconds it took."""
    here = str(REPO / "tests" / "yarn")
    if here not in sys.path:
        sys.path.insert(0, here)
    from standin import pack_checkout

    t0 = time.perf_counter()
    archive = pack_checkout(work, REPO, leave_out=NOT_PACKED)
    return archive, time.perf_counter() - t0


@contextlib.contextmanager
def standin(root: Path):
    """A running YARN stand-in rooted at ``root``; yields ``(standin, security_dir)``."""
    import skein

    here = str(REPO / "tests" / "yarn")
    if here not in sys.path:
        sys.path.insert(0, here)
    from standin import YarnStandIn

    security = skein.Security.new_credentials()
    s = YarnStandIn(Path(root) / "yarn", security=security)
    s.start()
    try:
        folder = Path(root) / "skein-security"
        security.to_directory(str(folder))
        yield s, folder
    finally:
        s.shutdown()


def yarn_config(s, security_dir: Path, archive: Path, workers: int):
    """The ``yarn:`` section a run on the stand-in uses: one vcore per worker."""
    from deploy.yarn.config import YarnConfig

    return YarnConfig.from_dict({
        "name": "forecasting-bench", "workers": workers, "worker_memory": "2 GiB", "worker_vcores": 1,
        "scheduler_memory": "1 GiB", "environment": str(archive), "driver_address": s.address,
        "driver_security": str(security_dir), "env": {"FORECASTING_BIND_HOST": "127.0.0.1"},
        "deploy_timeout": "600s",
    })
