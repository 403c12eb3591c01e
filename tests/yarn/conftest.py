"""Fixtures for tests of the YARN path: Hadoop's real mini cluster, once per test run.

``mini_cluster`` starts ``tests/yarn/minicluster/start`` (MiniDFSCluster
and MiniYARNCluster, Hadoop 3.4.1) in a temporary folder for the whole
session, points ``PATH``/``HADOOP_CONF_DIR``/``JAVA_HOME`` at it, so that
skein starts its real Java driver through the cluster's ``yarn classpath``,
and stops it (and every container) at the end, whatever happened.

Without Java or Maven the tests skip, unless ``FORECASTING_REQUIRE_YARN``
is set (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # e.g. under --import-mode=importlib
    sys.path.insert(0, _HERE)

import hadoop  # noqa: E402


@pytest.fixture(scope="session")
def mini_cluster(tmp_path_factory):
    """A running :class:`hadoop.MiniCluster`, this process's Hadoop cluster for the session."""
    reason = hadoop.unavailable()
    if reason:
        if os.environ.get(hadoop.REQUIRE_ENV):
            pytest.fail(f"the YARN tests need Hadoop's mini cluster: {reason}")
        pytest.skip(reason)
    cluster = hadoop.MiniCluster(tmp_path_factory.mktemp("minicluster"))
    try:
        with cluster.start().activated():
            yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def packed_environment(tmp_path_factory):
    """A venv-pack archive of this virtualenv, with the package installed for real."""
    return hadoop.pack_checkout(tmp_path_factory.mktemp("environment"))


@pytest.fixture(scope="session")
def hdfs_environment(mini_cluster, packed_environment):
    """The packed environment put on HDFS once, world-readable, as a production
    cluster keeps it: ``hdfs:///forecasting/environment.tar.gz``.  With
    ``environment_visibility: public`` each NodeManager unpacks it once for
    the whole session."""
    mini_cluster.hdfs("-mkdir", "-p", "/forecasting")
    mini_cluster.hdfs("-put", "-f", str(packed_environment), "/forecasting/environment.tar.gz")
    return "hdfs:///forecasting/environment.tar.gz"
