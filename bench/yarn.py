"""The YARN path for benchmarks: Hadoop's mini cluster and a packed copy of this virtualenv.

The benchmark's YARN mode starts the mini cluster the YARN tests use
(``tests/yarn/minicluster``: Hadoop 3.4.1's MiniDFSCluster and
MiniYARNCluster, a real ResourceManager and two NodeManagers on this
machine) and submits the project's real application spec to it through
skein's real driver, with a real venv-pack archive of this virtualenv put
on HDFS in YARN's public cache.  Each worker gets a container of its own
on its own NodeManager: one vcore, and more memory than half a
NodeManager, so that no NodeManager can hold two.

The archive is built as the YARN tests build it: the virtualenv is copied
(without PySpark, which only the benchmark's driver needs) and the package
reinstalled into the copy from this checkout, because venv-pack refuses
editable installs.  It is kept under ``.bench/`` (ignored by git) and
repacked each run.
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
#: Each NodeManager's memory; a worker takes more than half of it.
NM_MEMORY_MB = 4096
WORKER_MEMORY = "2560 MiB"


def _hadoop():
    here = str(REPO / "tests" / "yarn")
    if here not in sys.path:
        sys.path.insert(0, here)
    import hadoop

    return hadoop


def unavailable() -> str | None:
    """Why the YARN mode cannot run here, or None."""
    if not (REPO / "tests" / "yarn" / "minicluster" / "start").exists():
        return "tests/yarn/minicluster/start not found"
    try:
        import skein  # noqa: F401
        import venv_pack  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed"
    if sys.prefix == sys.base_prefix:
        return "not running in a virtualenv (venv-pack needs one)"
    return _hadoop().unavailable()


def packed_environment(work: Path = WORK) -> tuple[Path, float]:
    """A venv-pack archive of a copy of this virtualenv with the package really installed; seconds it took."""
    t0 = time.perf_counter()
    archive = _hadoop().pack_checkout(work, REPO, leave_out=NOT_PACKED)
    return archive, time.perf_counter() - t0


@contextlib.contextmanager
def mini_cluster(root: Path, archive: Path):
    """A running mini cluster with ``archive`` on HDFS; yields the environment's URL.

    ``PATH``/``HADOOP_CONF_DIR``/``JAVA_HOME`` point at it while the block runs.
    """
    cluster = _hadoop().MiniCluster(Path(root) / "minicluster")
    try:
        with cluster.start(nm_memory_mb=NM_MEMORY_MB).activated():
            cluster.hdfs("-mkdir", "-p", "/forecasting")
            cluster.hdfs("-put", "-f", str(archive), "/forecasting/environment.tar.gz")
            yield "hdfs:///forecasting/environment.tar.gz"
    finally:
        cluster.stop()


def yarn_config(environment: str, workers: int):
    """The ``yarn:`` section a benchmark run uses: one vcore per worker, one worker per NodeManager."""
    from deploy.yarn.config import YarnConfig

    return YarnConfig.from_dict({
        "name": "forecasting-bench", "workers": workers, "worker_memory": WORKER_MEMORY, "worker_vcores": 1,
        "scheduler_memory": "1 GiB", "environment": environment, "environment_visibility": "public",
        "deploy_timeout": "900s",
    })
