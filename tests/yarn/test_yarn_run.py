"""The nightly run and the backtest on Hadoop's real YARN (mini cluster), end to end.

Everything is the project's real code path: the CLI, the application spec,
skein's real client and Java driver (started through the cluster's ``yarn
classpath``), skein's ApplicationMaster in a real container, a real
venv-pack archive of this virtualenv and the SQLite cache staged through
HDFS, Dask's scheduler and Nanny workers started by the container entry
points, YARN's own memory enforcement and log aggregation.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from deploy.clusters import open_executor
from deploy.yarn.config import YarnConfig
from forecasting import errors
from forecasting.cli.main import main
from forecasting.config.forecast import ForecastConfig
from forecasting.models.spec import ModelSpec
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.runs.nightly import run_nightly
from forecasting.runs.tasks import RegionTask, run_task
from forecasting.store.runs import ResultsStore

# The first application to use the environment on HDFS waits for the
# NodeManagers to unpack it into the public cache: minutes, on this machine.
pytestmark = [pytest.mark.yarn, pytest.mark.timeout(900)]

HERE = Path(__file__).resolve().parent
RUN_DATE = "2024-03-04"
POISONED = "r005"
JOB = {"horizon": "7D", "models": {"seasonal_naive": {}, "gbm": {"max_iter": 30}}, "selection_window": "7D",
       "max_failed_fraction": 0.2}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """8 regions, one poisoned (all its orders unknown)."""
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=8, days=63, seed=3), path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE orders SET orders = NULL WHERE region = ?", (POISONED,))
    conn.close()
    return path


def yarn_section(environment, name: str, **extra) -> dict:
    """Small containers: 2 workers of 1 GiB fit the two 4 GiB NodeManagers with room to scale.

    The first application to use the environment waits for every
    NodeManager to unpack it (a couple of minutes here: without Hadoop's
    native library each of its ~20,000 files costs a ``chmod`` process).
    """
    if str(environment).startswith("hdfs://"):
        extra.setdefault("environment_visibility", "public")
    return {"name": name, "workers": 2, "worker_memory": "1 GiB", "worker_vcores": 1, "scheduler_memory": "512 MiB",
            "environment": str(environment), "deploy_timeout": "300s", **extra}


def config_file(tmp_path, yarn: dict, job: dict = JOB) -> Path:
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"forecasting": job, "yarn": yarn}))
    return path


def only_application(mini_cluster, name: str) -> dict:
    (app,) = [a for a in mini_cluster.applications() if a["name"] == name]
    return app


def stored(out: Path):
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        (run_id,) = store.engine.connect().exec_driver_sql("SELECT run_id FROM runs").scalars()
        return store.forecasts(run_id).drop(columns="run_id"), store.region_outcomes(run_id).set_index("region")
    finally:
        store.close()


def logs_summary(mini_cluster, app_id: str, capsys) -> dict:
    """``forecasting logs APP_ID --json``, which runs the real ``yarn logs``, once YARN aggregated them."""
    mini_cluster.logs(app_id)  # waits for log aggregation to finish
    capsys.readouterr()
    assert main(["logs", "--json", app_id]) == errors.EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_nightly_run_on_yarn_matches_the_local_run(mini_cluster, packed_environment, cache, tmp_path, capsys):
    # A local archive: skein's driver uploads it (and the cache) to HDFS for the containers.
    name = "forecasting-test-nightly"
    config = config_file(tmp_path, yarn_section(packed_environment, name, tls=True))
    common = ["--config", str(config), "--cache", str(cache), "--run-date", RUN_DATE]
    assert main(["--log-level", "INFO", "run", "--cluster", "yarn", "--out", str(tmp_path / "yarn"), *common]) == 1
    assert main(["--log-level", "WARNING", "run", "--cluster", "local", "--out", str(tmp_path / "local"), *common]) == 1
    yarn_fc, yarn_out = stored(tmp_path / "yarn")
    local_fc, _ = stored(tmp_path / "local")
    pd.testing.assert_frame_equal(yarn_fc, local_fc, check_exact=True)
    assert yarn_fc.region.nunique() == 7
    assert yarn_out.loc[POISONED, "status"] == "failed" and yarn_out.loc[POISONED, "error_type"] == "RegionDataError"
    assert "Traceback" in yarn_out.loc[POISONED, "traceback"]

    app = only_application(mini_cluster, name)
    status = mini_cluster.status(app["id"])
    assert (status["State"], status["Final-State"]) == ("FINISHED", "SUCCEEDED")
    # On-call's view, from YARN's aggregated logs.
    summary = logs_summary(mini_cluster, app["id"], capsys)
    assert summary["application"]["id"] == app["id"] and summary["application"]["status"] == "SUCCEEDED"
    assert [(f["region"], f["error_type"]) for f in summary["failed_regions"]] == [(POISONED, "RegionDataError")]
    assert summary["failed_regions"][0]["traceback"]
    services = sorted(c["service"] for c in summary["containers"])
    assert services == ["application master", "dask.scheduler", "dask.worker", "dask.worker"]
    assert summary["tasks"]["ok"] >= 7
    assert not mini_cluster.lingering_processes()


def test_a_worker_container_killed_mid_task_is_replaced_and_its_task_reruns_elsewhere(
        mini_cluster, hdfs_environment, cache, capsys):
    name = "forecasting-test-sigkill"
    yarn = YarnConfig.from_dict(yarn_section(hdfs_environment, name))
    config = ForecastConfig.from_dict(JOB)

    def executing(dask_worker) -> list[str]:
        # The keys a worker is running right now, not those queued on it.  (A
        # local function: pickled by value, the containers cannot import tests.)
        return sorted(str(ts.key) for ts in dask_worker.state.executing)

    with open_executor("yarn", yarn=yarn, cache_path=str(cache)) as executor:
        cluster, client = executor.client.cluster, executor.client
        client.wait_for_workers(2, timeout=600)  # a NodeManager's first unpacking of the environment
        first_names = {w["name"] for w in client.scheduler_info()["workers"].values()}
        tasks = [RegionTask(f"r{i:03d}", executor.worker_cache_path, RUN_DATE, config) for i in range(8)]
        outcomes, killed, running_then = [], None, []
        for outcome in executor.run(run_task, tasks):
            outcomes.append(outcome)
            deadline = time.monotonic() + 60
            while killed is None and time.monotonic() < deadline:
                # A worker in the middle of a region's job, never an idle one.
                busy = {a: keys for a, keys in client.run(executing).items()
                        if keys and POISONED not in keys[0]}  # the poisoned region fails at once
                if not busy:
                    time.sleep(0.05)
                    continue
                address, running_then = sorted(busy.items())[0]
                killed = client.scheduler_info()["workers"][address]["name"]
                # SIGKILL every process of that worker's container (its
                # session: the container's shell, the nanny and its worker), as a crash would.
                (group,) = client.run(os.getpgid, 0, workers=[address]).values()
                os.killpg(group, signal.SIGKILL)
        assert killed is not None, "no worker was ever seen running a task"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            names = {w["name"] for w in client.scheduler_info()["workers"].values()}
            running = cluster.app.get_containers(services=["dask.worker"], states=["RUNNING"])
            if len(names) == 2 and killed not in names and names == {c.id for c in running}:
                break
            time.sleep(1)
        failed = cluster.app.get_containers(services=["dask.worker"], states=["FAILED"])
        app_id = cluster.app_id
    by_region = {o.region: o for o in outcomes}
    assert len(outcomes) == len(by_region) == 8  # exactly one outcome per region
    assert [r for r, o in by_region.items() if not o.ok] == [POISONED]
    # YARN saw the container fail; skein started a new one (worker_restarts: -1),
    # whose worker joined the scheduler in the killed one's place.
    assert [c.id for c in failed] == [killed]
    (replacement,) = names - first_names
    assert killed in first_names and replacement not in first_names and killed not in names

    summary = logs_summary(mini_cluster, app_id, capsys)
    dead = [d for d in summary["dead_workers"] if d["kind"] == "container failed"]
    assert [d["detail"].split(":")[0] for d in dead] == [killed]
    assert len([c for c in summary["containers"] if c["service"] == "dask.worker"]) == 3  # two, and the restart
    # The job the killed worker was running started there, never ended there,
    # and ran again to the end in another container.
    by_skein = {c["skein_id"]: c["container"] for c in summary["containers"]}
    (key,) = running_then
    region = next(t.region for t in tasks if t.key == key)
    assert dead[0]["regions_in_flight"] == [region]
    capsys.readouterr()
    assert main(["logs", "--json", "--region", region, app_id]) == errors.EXIT_OK
    lines = json.loads(capsys.readouterr().out)["region"]["lines"]
    ends = {(line["container"], line["fields"].get("outcome")) for line in lines if line["event"] == "task_end"}
    starts = {line["container"] for line in lines if line["event"] == "task_start"}
    assert by_skein[killed] in starts and not any(c == by_skein[killed] for c, _ in ends)
    assert [c for c, outcome in ends if outcome == "ok"] and all(c != by_skein[killed] for c, _ in ends)
    assert by_region[region].ok
    assert not mini_cluster.lingering_processes()


@pytest.fixture
def grow_model():
    import yarn_test_models

    yield yarn_test_models.register()
    yarn_test_models.unregister()


def test_a_region_outgrowing_its_container_is_killed_by_yarn_and_fails_alone(
        mini_cluster, hdfs_environment, cache, tmp_path, grow_model, capsys):
    import yarn_test_models

    hog = "r002"
    grown = tmp_path / "cache.sqlite"
    grown.write_bytes(cache.read_bytes())
    with sqlite3.connect(grown) as conn:
        conn.execute("UPDATE orders SET orders = ? WHERE region = ? AND ts = (SELECT max(ts) FROM orders WHERE region = ?)",
                     (yarn_test_models.MARKER, hog, hog))
    conn.close()
    name = "forecasting-test-memory"
    yarn = YarnConfig.from_dict(yarn_section(
        hdfs_environment, name, worker_memory="768 MiB",
        files={"yarn_test_models.py": str(HERE / "yarn_test_models.py")},
        env={
            # YARN's limit is the one that acts: the nanny's own guard is off.
            "DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE": "False",
            # A region may kill two workers, then it has failed; a worker
            # holds one task at a time, so no bystander dies with it.
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
            "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
        }))
    config = ForecastConfig(horizon="3D", models=(ModelSpec(grow_model),))
    with open_executor("yarn", yarn=yarn, cache_path=str(grown), retries=0) as executor:
        import yarn_test_models as shipped

        executor.client.register_plugin(shipped.RegisterTestModels())
        app_id = executor.client.cluster.app_id
        summary = run_nightly(grown, tmp_path / "out", executor, config, run_date=RUN_DATE, cluster="yarn")

    assert summary.n_regions == 8 and summary.n_failed == 2  # the hog, and the poisoned region
    failures = {f.region: f for f in summary.failures}
    assert set(failures) == {hog, POISONED}
    assert failures[hog].error_type == "KilledWorker"
    assert "YARN killed its container" in failures[hog].message and "for memory" in failures[hog].message
    assert "physical memory used" in failures[hog].message, failures[hog].message

    logs = logs_summary(mini_cluster, app_id, capsys)
    memory = [d for d in logs["dead_workers"] if d["kind"] == "memory"]
    assert len(memory) >= 2, logs["dead_workers"]  # both attempts' containers
    assert all(hog in d["regions_in_flight"] for d in memory if d["service"] == "dask.worker"
               and d.get("regions_in_flight")), memory
    assert any(hog in d.get("regions_in_flight", []) for d in logs["dead_workers"])
    assert not mini_cluster.lingering_processes()


def test_backtest_on_yarn(mini_cluster, hdfs_environment, cache, tmp_path):
    name = "forecasting-test-backtest"
    config = config_file(tmp_path, yarn_section(hdfs_environment, name))
    args = ["--log-level", "WARNING", "backtest", "--cluster", "yarn", "--config", str(config), "--cache", str(cache),
            "--out", str(tmp_path / "bt"), "--models", "seasonal_naive,seasonal_median", "--regions", "r000,r001",
            "--cutoffs", "2", "--horizon", "7D", "--no-plots"]
    assert main(args) == 0
    champions = pd.read_csv(tmp_path / "bt" / "champions.csv")
    assert sorted(champions.region) == ["r000", "r001"]
    status = mini_cluster.status(only_application(mini_cluster, name)["id"])
    assert (status["State"], status["Final-State"]) == ("FINISHED", "SUCCEEDED")
