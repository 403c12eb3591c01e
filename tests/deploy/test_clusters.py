"""Cluster back ends: serial, local, an existing scheduler address."""

from __future__ import annotations

import socket

import pytest
from distributed import LocalCluster

from deploy.clusters import open_executor
from forecasting.errors import ClusterError, UsageError
from forecasting.runs.backends import Target, parse_target


def _pid_job(task):
    import os

    return os.getpid()


def test_targets_are_validated():
    assert parse_target("serial") == Target("serial", "serial")
    assert parse_target("local").kind == "local"
    assert parse_target("tcp://10.0.0.1:8786") == Target("address", "tcp://10.0.0.1:8786")
    # The library names its parameter; the CLI shows the flag (tests/cli).
    with pytest.raises(UsageError, match="cluster must be one of") as bad:
        parse_target("lokal")
    assert bad.value.param == "cluster"
    with pytest.raises(UsageError, match="workers") as bad:
        with open_executor("local", workers=0):
            pass
    assert bad.value.param == "workers"


def test_existing_scheduler_address(tmp_path):
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        with open_executor(cluster.scheduler_address) as executor:
            assert executor.client.scheduler.address == cluster.scheduler_address
        # Closing our client leaves a cluster we did not start running.
        assert cluster.scheduler.status.name == "running"


def test_unreachable_scheduler_is_a_cluster_error():
    # A port this test holds without listening on it: connections are refused,
    # and no other program can start listening there meanwhile.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        address = "tcp://127.0.0.1:%d" % held.getsockname()[1]
        # The error names the timeout it waited (a hang would hit pytest's --timeout).
        with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address} within 2s"):
            with open_executor(address, connect_timeout=2):
                pass


def test_local_cluster_is_closed_on_an_exception():
    with pytest.raises(RuntimeError):
        with open_executor("local", workers=1) as executor:
            cluster = executor.client.cluster
            raise RuntimeError("boom")
    assert cluster.status.name == "closed"
