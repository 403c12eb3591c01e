"""A model plug-in on Hadoop's real YARN (mini cluster): packed with the environment, found by the workers.

The example plug-in (``examples/plugin``, model ``weekly_ridge``) is
installed non-editable into a copy of this virtualenv, which is packed as
``forecasting pack-env`` packs (``hadoop.pack_checkout``) and put on HDFS.
The driver is that copy's own Python (this test process must not load the
plug-in), and the nightly run forecasts every region with ``weekly_ridge``
on the YARN workers, which find it by the same entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

import hadoop
from forecasting import errors
from forecasting.cli.main import main
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.store.runs import ResultsStore

pytestmark = [pytest.mark.yarn, pytest.mark.timeout(900)]

PLUGIN = hadoop.REPO / "examples" / "plugin"
RUN_DATE = "2024-03-04"
NAME = "forecasting-test-plugin"


@pytest.fixture(scope="module")
def plugin_environment(mini_cluster, tmp_path_factory):
    """(the packed environment with the plug-in on HDFS, the virtualenv copy it was packed from)."""
    work = tmp_path_factory.mktemp("plugin-environment")
    archive = hadoop.pack_checkout(work, extra=(PLUGIN,))
    mini_cluster.hdfs("-mkdir", "-p", "/forecasting")
    mini_cluster.hdfs("-put", "-f", str(archive), "/forecasting/plugin-environment.tar.gz")
    return "hdfs:///forecasting/plugin-environment.tar.gz", work / "venv"


def test_yarn_workers_forecast_with_a_plugin_model_from_the_packed_environment(mini_cluster, plugin_environment, tmp_path, capsys):
    environment, venv = plugin_environment
    cache = tmp_path / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=4, days=63, seed=3), cache)
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({
        "forecasting": {"horizon": "7D", "models": {"weekly_ridge": {}}, "selection_window": "7D"},
        "yarn": {"name": NAME, "workers": 2, "worker_memory": "1 GiB", "worker_vcores": 1, "scheduler_memory": "512 MiB",
                 "environment": environment, "environment_visibility": "public", "deploy_timeout": "300s"},
    }))
    out = tmp_path / "results"
    driver = [str(venv / "bin" / "python"), "-m", "forecasting.cli", "--log-level", "INFO", "run", "--cluster", "yarn",
              "--config", str(config), "--cache", str(cache), "--out", str(out), "--run-date", RUN_DATE]
    done = subprocess.run(driver, env=dict(os.environ), capture_output=True, text=True, timeout=840)
    assert done.returncode == errors.EXIT_OK, done.stderr

    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        (run_id,) = store.engine.connect().exec_driver_sql("SELECT run_id FROM runs").scalars()
        outcomes = store.region_outcomes(run_id)
    finally:
        store.close()
    assert len(outcomes) == 4
    assert (outcomes.status == "ok").all() and (outcomes.model == "weekly_ridge").all()

    (app,) = [a for a in mini_cluster.applications() if a["name"] == NAME]
    status = mini_cluster.status(app["id"])
    assert (status["State"], status["Final-State"]) == ("FINISHED", "SUCCEEDED")
    # The workers' own logs (aggregated by YARN; INFO: each task's end names its model) show them running weekly_ridge.
    worker_logs = mini_cluster.logs(app["id"])
    assert "model=weekly_ridge" in worker_logs and "failed to load" not in worker_logs
    capsys.readouterr()
    assert main(["logs", "--json", app["id"]]) == errors.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks"]["ok"] >= 4 and not summary["failed_regions"]
    assert sorted(c["service"] for c in summary["containers"]).count("dask.worker") == 2
