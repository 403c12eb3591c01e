"""The mini cluster itself, before any Dask: what every other YARN test relies on.

skein's real driver starts through the cluster's ``yarn classpath --glob``;
an echo service finishes SUCCEEDED and ``yarn logs`` shows what it printed;
a service that allocates past its container's memory is killed by the
NodeManager; Hadoop's own CLIs see both NodeManagers and both queues.
"""

from __future__ import annotations

import time

import pytest
import skein

pytestmark = [pytest.mark.yarn, pytest.mark.timeout(900)]

HOG = """\
import time
hoard = []
while True:
    hoard.append(b"x" * (32 * 2**20))  # touched, so resident
    time.sleep(0.01)
"""


def _finish(client: skein.Client, app_id: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        report = client.application_report(app_id)
        if str(report.state) in ("FINISHED", "FAILED", "KILLED"):
            return report
        assert time.monotonic() < deadline, f"{app_id} still {report.state}"
        time.sleep(0.5)


def test_hadoops_own_clis_see_the_cluster(mini_cluster):
    nodes = mini_cluster.yarn("node", "-list").stdout
    assert nodes.count("RUNNING") == 2
    classpath = mini_cluster.yarn("classpath", "--glob").stdout.strip().split(":")
    assert str(mini_cluster.conf_dir) in classpath
    assert any("hadoop-yarn-client-3.4.1.jar" in entry for entry in classpath)
    small = mini_cluster.yarn("queue", "-status", "small").stdout
    assert "Queue Name : small" in small and "Capacity : 10" in small
    assert mini_cluster.hdfs("-ls", "/").stdout.count("/app-logs") == 1


def test_an_echo_service_succeeds_and_yarn_logs_show_it(mini_cluster):
    spec = skein.ApplicationSpec(
        name="forecasting-test-echo", master=skein.Master(resources=skein.Resources(memory=512, vcores=1)),
        services={"echo": skein.Service(resources=skein.Resources(memory=128, vcores=1),
                                        script="echo hello from $SKEIN_CONTAINER_ID on $NM_HOST")})
    with skein.Client() as client:
        app_id = client.submit(spec)
        report = _finish(client, app_id)
    assert (str(report.state), str(report.final_status)) == ("FINISHED", "SUCCEEDED")
    logs = mini_cluster.logs(app_id)
    assert "hello from echo_0 on " in logs
    assert "LogType:echo.log" in logs and "LogType:application.master.log" in logs


def test_a_service_past_its_memory_is_killed_by_the_nodemanager(mini_cluster, tmp_path):
    hog = tmp_path / "hog.py"
    hog.write_text(HOG)
    spec = skein.ApplicationSpec(
        name="forecasting-test-hog", master=skein.Master(resources=skein.Resources(memory=512, vcores=1)),
        services={"hog": skein.Service(resources=skein.Resources(memory=256, vcores=1), max_restarts=0,
                                       files={"hog.py": str(hog)}, script="exec python3 hog.py")})
    with skein.Client() as client:
        app_id = client.submit(spec)
        report = _finish(client, app_id)
    assert (str(report.state), str(report.final_status)) == ("FINISHED", "FAILED")
    logs = mini_cluster.logs(app_id)
    # skein's application master keeps the gist of YARN's diagnostics.
    assert "FAILED: hog_0 - " in logs and "of 256 MB physical memory used" in logs
