"""The nightly run on YARN, end to end, through the stand-in.

Everything is the project's real code path: the CLI, the application spec,
skein's client, a real venv-pack archive of this virtualenv, the real SQLite
cache shipped to the containers, Dask scheduler and Nanny workers started by
the container entry points.  Only YARN itself is the stand-in.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import dask
import pandas as pd
import pytest
import yaml

from deploy.clusters import open_executor
from deploy.dask_settings import CLUSTER_DASK_CONFIG
from deploy.yarn.config import YarnConfig
from deploy.yarn.run import yarn_client
from forecasting.cli import main
from forecasting.config import ForecastConfig
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.errors import ClusterError
from forecasting.jobs import RegionTask, run_task
from forecasting.results import ResultsStore

pytestmark = [pytest.mark.yarn, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUN_DATE = "2024-03-04"
JOB = {"horizon": "7D", "models": {"seasonal_naive": {}, "gbm": {"max_iter": 30}}, "selection_window": "7D",
       "max_failed_fraction": 0.2}


@pytest.fixture(scope="session")
def packed_environment(tmp_path_factory):
    """A venv-pack archive of this virtualenv, with the package installed for real.

    venv-pack (rightly) refuses editable installs, so the test virtualenv is
    copied and the package reinstalled into the copy from this checkout.
    """
    from standin import pack_checkout

    return pack_checkout(tmp_path_factory.mktemp("environment"), REPO)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """8 regions, one poisoned (all its orders unknown)."""
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=8, days=63, seed=3), path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE orders SET orders = NULL WHERE region = 'r005'")
    conn.close()
    return path


def _yarn_section(standin, environment, tmp_path, **extra) -> dict:
    security = tmp_path / "skein-security"
    if not security.exists():
        standin.security.to_directory(str(security))
    return {
        "name": "forecasting-test", "workers": 2, "worker_memory": "1 GiB", "worker_vcores": 1, "scheduler_memory": "512 MiB",
        "environment": str(environment), "driver_address": standin.address, "driver_security": str(security),
        "env": {"FORECASTING_BIND_HOST": "127.0.0.1"}, "deploy_timeout": "120s", **extra,
    }


def _config_file(tmp_path, yarn: dict) -> Path:
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"forecasting": JOB, "yarn": yarn}))
    return path


def _forecasts(out: Path) -> pd.DataFrame:
    (store_path,) = [out / "results.sqlite"]
    store = ResultsStore(f"sqlite:///{store_path}")
    try:
        (run_id,) = store.engine.connect().exec_driver_sql("SELECT run_id FROM runs").scalars()
        return store.forecasts(run_id).drop(columns="run_id"), store.region_outcomes(run_id).set_index("region")
    finally:
        store.close()


def test_nightly_run_on_yarn_matches_the_local_run(yarn_standin, packed_environment, cache, tmp_path):
    config = _config_file(tmp_path, _yarn_section(yarn_standin, packed_environment, tmp_path, tls=True))
    common = ["--config", str(config), "--cache", str(cache), "--run-date", RUN_DATE]
    assert main(["--log-level", "WARNING", "run", "--cluster", "yarn", "--out", str(tmp_path / "yarn"), *common]) == 1
    assert main(["--log-level", "WARNING", "run", "--cluster", "local", "--out", str(tmp_path / "local"), *common]) == 1
    yarn_fc, yarn_out = _forecasts(tmp_path / "yarn")
    local_fc, _ = _forecasts(tmp_path / "local")
    pd.testing.assert_frame_equal(yarn_fc, local_fc, check_exact=True)
    assert yarn_fc.region.nunique() == 7
    assert yarn_out.loc["r005", "status"] == "failed" and yarn_out.loc["r005", "error_type"] == "RegionDataError"
    assert "Traceback" in yarn_out.loc["r005", "traceback"]
    # The application ended cleanly, and its container logs name the failed region.
    (app,) = yarn_standin.client().get_applications(states=["FINISHED"])
    assert str(app.final_status) == "SUCCEEDED"
    logs = list(yarn_standin.log_root.glob(f"{app.id}/*/dask.worker.log"))
    assert len(logs) >= 2
    # On-call's view: the failure's line says which application, container and region.
    lines = [line for p in logs for line in p.read_text().splitlines() if "RegionDataError" in line and "failed after" in line]
    assert lines and f"[app={app.id} container=container_" in lines[0]
    assert re.search(rf"\[task=forecast-{RUN_DATE}-\d{{6}}-\w+-r005\]", lines[0])  # the run id starts with the run date


def test_killing_a_worker_container_mid_run_still_gives_every_forecast(yarn_standin, packed_environment, cache, tmp_path):
    yarn = YarnConfig.from_dict(_yarn_section(yarn_standin, packed_environment, tmp_path))
    config = ForecastConfig.from_dict(JOB)
    with open_executor("yarn", yarn=yarn, cache_path=str(cache)) as executor:
        cluster = executor.client.cluster
        tasks = [RegionTask(f"r{i:03d}", executor.worker_cache_path, RUN_DATE, config) for i in range(8)]
        outcomes, killed = [], None
        for outcome in executor.run(run_task, tasks):
            outcomes.append(outcome)
            if killed is None:
                busy = [w["name"] for w in executor.client.scheduler_info()["workers"].values()]
                killed = busy[0]
                yarn_standin.kill_container(cluster.app_id, killed)
    by_region = {o.region: o for o in outcomes}
    assert len(outcomes) == len(by_region) == 8  # exactly one outcome per region
    assert [r for r, o in by_region.items() if not o.ok] == ["r005"]
    assert killed is not None


def test_backtest_on_yarn(yarn_standin, packed_environment, cache, tmp_path):
    config = _config_file(tmp_path, _yarn_section(yarn_standin, packed_environment, tmp_path))
    args = ["--log-level", "WARNING", "backtest", "--cluster", "yarn", "--config", str(config), "--cache", str(cache),
            "--out", str(tmp_path / "bt"), "--models", "seasonal_naive,seasonal_median", "--regions", "r000,r001",
            "--cutoffs", "2", "--horizon", "7D", "--no-plots"]
    assert main(args) == 0
    champions = pd.read_csv(tmp_path / "bt" / "champions.csv")
    assert sorted(champions.region) == ["r000", "r001"]


def test_scale_up_and_down(yarn_standin, packed_environment, cache, tmp_path):
    yarn = YarnConfig.from_dict(_yarn_section(yarn_standin, packed_environment, tmp_path, workers=1))
    with yarn_client(yarn, str(cache)) as (client, cluster):
        client.wait_for_workers(1, timeout=120)
        # The containers run under the same Dask settings as local clusters.
        # (dask.config.get travels by reference: the containers do not have this test module.)
        for key, value in CLUSTER_DASK_CONFIG.items():
            assert set(client.run(dask.config.get, key).values()) == {value}
            assert client.run_on_scheduler(dask.config.get, key) == value
        cluster.scale(3)
        client.wait_for_workers(3, timeout=120)
        assert len(cluster.requested) == 3
        cluster.scale(1)
        deadline = time.monotonic() + 60
        while len(client.scheduler_info()["workers"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(client.scheduler_info()["workers"]) == 1
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")


def test_a_scheduler_that_never_starts_is_a_clear_error_and_the_app_is_killed(yarn_standin, packed_environment, cache, tmp_path):
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nsleep 600\n")
    hang.chmod(0o755)
    yarn = YarnConfig.from_dict(
        _yarn_section(yarn_standin, packed_environment, tmp_path, python="./hang", files={"hang": str(hang)}, deploy_timeout="5s")
    )
    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"did not start within 5s.*yarn logs -applicationId application_"):
        with yarn_client(yarn, str(cache)):
            pass
    assert time.monotonic() - start < 60
    (app,) = yarn_standin.client().get_applications(states=["KILLED"])
    assert app.name == "forecasting-test"


def test_adapt_and_ctrl_c_ends_the_application_killed(yarn_standin, packed_environment, cache, tmp_path):
    yarn = YarnConfig.from_dict(_yarn_section(yarn_standin, packed_environment, tmp_path, workers=1))
    with pytest.raises(KeyboardInterrupt):
        with yarn_client(yarn, str(cache)) as (client, cluster):
            app_id = cluster.app_id
            cluster.adapt(minimum=2, maximum=3)
            client.wait_for_workers(2, timeout=120)
            assert 2 <= len(cluster.requested) <= 3
            assert cluster.logs()  # Dask's own recent log lines of scheduler and workers
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C
    yarn_standin.wait_for_app(app_id)
    report = yarn_standin.client().application_report(app_id)
    assert str(report.final_status) == "KILLED"
    assert not yarn_standin.live_process_groups()
