"""The Dask cluster on real YARN: scaling, adaptive scaling, Ctrl-C, start-up failures, a full queue.

``deploy.yarn.run.yarn_client`` against Hadoop's mini cluster, through
skein's real driver and ApplicationMaster; YARN's own view of each
application is read back with ``yarn application -status``.
"""

from __future__ import annotations

import time

import dask
import pytest
import skein

from deploy.dask_settings import CLUSTER_DASK_CONFIG
from deploy.yarn.config import YarnConfig
from deploy.yarn.run import yarn_client
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.errors import ClusterError

# The first application to use the environment on HDFS waits for the
# NodeManagers to unpack it into the public cache: minutes, on this machine.
pytestmark = [pytest.mark.yarn, pytest.mark.timeout(900)]

#: How long a worker may take to join.  The first container on each
#: NodeManager waits for it to unpack the environment (~20,000 files, each
#: a chmod without Hadoop's native library): over 3 minutes on this 2-core
#: machine, and which test meets it depends on where YARN places containers.
WORKER_JOIN_S = 600


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=2, days=21, seed=1), path)
    return path


def config(environment, name: str, **extra) -> YarnConfig:
    section = {"name": name, "workers": 1, "worker_memory": "1 GiB", "scheduler_memory": "512 MiB",
               "environment": environment, "environment_visibility": "public", "deploy_timeout": "300s", **extra}
    return YarnConfig.from_dict(section)


def application(mini_cluster, name: str) -> dict:
    (app,) = [a for a in mini_cluster.applications() if a["name"] == name]
    return app


def test_scale_up_and_down(mini_cluster, hdfs_environment, cache):
    with yarn_client(config(hdfs_environment, "forecasting-test-scale"), str(cache)) as (client, cluster):
        client.wait_for_workers(1, timeout=WORKER_JOIN_S)
        # The containers run under the same Dask settings as local clusters.
        for key, value in CLUSTER_DASK_CONFIG.items():
            assert set(client.run(dask.config.get, key).values()) == {value}
            assert client.run_on_scheduler(dask.config.get, key) == value
        cluster.scale(3)
        client.wait_for_workers(3, timeout=WORKER_JOIN_S)
        assert len(cluster.requested) == 3
        assert len(cluster.app.get_containers(services=["dask.worker"], states=["RUNNING"])) == 3
        cluster.scale(1)
        deadline = time.monotonic() + 90
        while len(client.scheduler_info()["workers"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(client.scheduler_info()["workers"]) == 1
        assert len(cluster.app.get_containers(services=["dask.worker"], states=["RUNNING"])) == 1
        assert cluster.dashboard_link.startswith("http://")
        app_id = cluster.app_id
    status = mini_cluster.wait_for_state(app_id)
    assert (status["State"], status["Final-State"]) == ("FINISHED", "SUCCEEDED")
    assert not mini_cluster.lingering_processes()


def test_adapt_and_ctrl_c_ends_the_application_killed(mini_cluster, hdfs_environment, cache):
    with pytest.raises(KeyboardInterrupt):
        with yarn_client(config(hdfs_environment, "forecasting-test-adapt"), str(cache)) as (client, cluster):
            app_id = cluster.app_id
            cluster.adapt(minimum=2, maximum=3)
            client.wait_for_workers(2, timeout=WORKER_JOIN_S)
            assert 2 <= len(cluster.requested) <= 3
            assert cluster.logs()  # Dask's own recent log lines of scheduler and workers
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C
    status = mini_cluster.wait_for_state(app_id)
    assert status["Final-State"] == "KILLED"
    assert "interrupted" in status["Diagnostics"]
    assert not mini_cluster.lingering_processes()


def test_a_scheduler_that_never_starts_is_a_clear_error_and_the_app_is_killed(mini_cluster, hdfs_environment, cache,
                                                                               tmp_path):
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nsleep 600\n")
    hang.chmod(0o755)
    # An interpreter that never returns (every NodeManager here shares this host's files).
    yarn = config(hdfs_environment, "forecasting-test-hang", python=str(hang), deploy_timeout="40s")
    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"did not start within 40s.*yarn logs -applicationId application_"):
        with yarn_client(yarn, str(cache)):
            pass
    # It waited out the deploy timeout (a lower bound the feature implies; a
    # hang instead is the test's own timeout, not a wall-clock ceiling here).
    assert time.monotonic() - start >= 40
    app = application(mini_cluster, "forecasting-test-hang")
    assert mini_cluster.wait_for_state(app["id"])["State"] == "KILLED"
    assert not mini_cluster.lingering_processes()


def test_a_job_in_a_full_queue_waits_then_fails_cleanly_at_the_deploy_timeout(mini_cluster, hdfs_environment, cache):
    # The 'small' queue holds 10% of the cluster (819 MiB): one 512 MiB
    # application master fills it, so a second one cannot start.
    blocker = skein.ApplicationSpec(
        name="forecasting-test-blocker", queue="small",
        master=skein.Master(resources=skein.Resources(memory=512, vcores=1)),
        services={"sleep": skein.Service(resources=skein.Resources(memory=256, vcores=1), script="sleep 600")})
    with skein.Client() as skein_client:
        blocker_id = skein_client.submit(blocker)
        try:
            mini_cluster.wait_for_state(blocker_id, states=("RUNNING",))
            yarn = config(hdfs_environment, "forecasting-test-full-queue", queue="small", deploy_timeout="30s")
            start = time.monotonic()
            with pytest.raises(ClusterError, match=r"still ACCEPTED: a full queue\?.*did not start within 30s"):
                with yarn_client(yarn, str(cache)):
                    pass
            assert time.monotonic() - start >= 30  # it waited the deploy timeout out
            app = application(mini_cluster, "forecasting-test-full-queue")
            status = mini_cluster.wait_for_state(app["id"])
            assert status["State"] == "KILLED" and status["Queue"] == "root.small"
        finally:
            skein_client.kill_application(blocker_id)
    assert not mini_cluster.lingering_processes()
