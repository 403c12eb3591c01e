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


def _dashboard_listens_on(executor) -> tuple[str, set[str]]:
    """The dashboard's link, and the addresses its port is listened on as the OS sees the scheduler's process."""
    import os
    from urllib.parse import urlsplit

    import psutil

    link = executor.client.dashboard_link
    port = urlsplit(link).port
    pid = executor.client.run_on_scheduler(os.getpid)
    listening = {c.laddr.ip for c in psutil.Process(pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    return link, listening


def test_a_local_clusters_dashboard_listens_on_loopback_only():
    import urllib.request
    from urllib.parse import urlsplit

    with open_executor("local", workers=1) as executor:
        link, listening = _dashboard_listens_on(executor)
        # Where the link we log points, and nowhere else (":0" would be every interface).
        assert listening == {"127.0.0.1"} and urlsplit(link).hostname == "127.0.0.1"
        with urllib.request.urlopen(link, timeout=30) as page:  # and it is there
            assert page.status == 200


def test_a_local_clusters_dashboard_can_be_exposed():
    with open_executor("local", workers=1, dashboard_address="0.0.0.0:0") as executor:
        assert _dashboard_listens_on(executor)[1] == {"0.0.0.0"}


@pytest.mark.parametrize("command", ["run", "backtest"])
def test_dashboard_address_on_the_command_line(capsys, synthetic_cache, tmp_path, command):
    from forecasting import errors
    from forecasting.cli import jobs
    from forecasting.cli.main import build_parser, main

    argv = [command, "--cache", str(synthetic_cache), "--out", str(tmp_path), "--cluster", "local"]
    args = build_parser().parse_args([*argv, "--dashboard-address", "0.0.0.0:8787"])
    prepared = jobs.prepare_cluster(args, "local", 0, synthetic_cache, tmp_path / "logs")
    assert prepared.options["dashboard_address"] == "0.0.0.0:8787"  # what open_local binds, as above
    assert jobs.prepare_cluster(build_parser().parse_args(argv), "local", 0, synthetic_cache, tmp_path).options["dashboard_address"] is None
    for bad in ("8787", "host:port", "0.0.0.0:99999"):
        assert main([*argv, "--dashboard-address", bad]) == errors.EXIT_USAGE
        err = capsys.readouterr().err.splitlines()
        assert err == [f"forecasting: error: --dashboard-address must be HOST:PORT (e.g. 127.0.0.1:0, or 0.0.0.0:8787 to reach "
                       f"it from other hosts), got {bad!r}"]
    assert not (tmp_path / "results.sqlite").exists()
