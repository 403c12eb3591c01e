"""examples/plugin, the model plug-in of the README's "Writing a model", installed and used as a user would.

The example is installed with pip into a folder of its own (``--target``),
never into this virtualenv: the rest of the suite must not see its model.
Everything that uses it runs in a subprocess with that folder on
``PYTHONPATH``, where ``forecasting.models`` finds it by its entry point
(and so do the workers a local cluster spawns: they inherit the
environment).  Only public names are used: ``forecasting.*`` and the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import forecasting
from forecasting.models import available_models

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"
CLI = str(Path(sys.executable).parent / "forecasting")


def install_plugin(work: Path) -> Path:
    """The example installed with pip into ``work/site``; the build happens in a copy (pip builds in the tree)."""
    source = work / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
                    str(source)], check=True, cwd=work, stdout=subprocess.DEVNULL)
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_plugin(tmp_path_factory.mktemp("plugin"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Three synthetic regions, 120 days of hourly orders, built by the CLI as the README does."""
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    subprocess.run([CLI, "cache", "build", "--synthetic", "--regions", "3", "--days", "120", "--seed", "0", "--out", str(path)],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def with_plugin(site: Path, cwd: Path, code: str) -> dict:
    """Run ``code`` in a Python that has the plug-in on its path; it prints one JSON object, returned."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_suite_itself_does_not_see_the_plugin():
    assert "weekly_ridge" not in available_models()


def test_the_installed_plugin_is_found_by_its_entry_point_and_passes_check_model(site, tmp_path):
    found = with_plugin(site, tmp_path, """
        import json
        import forecasting
        from forecasting.models import MODELS, available_models
        cls = MODELS["weekly_ridge"]
        forecasting.check_model(cls)   # raises ModelContractError at the first broken check
        print(json.dumps({"models": available_models(), "module": cls.__module__, "name": cls.name,
                          "forecaster": issubclass(cls, forecasting.Forecaster)}))
    """)
    assert "weekly_ridge" in found["models"] and "seasonal_naive" in found["models"]
    assert found == {**found, "module": "weekly_ridge", "name": "weekly_ridge", "forecaster": True}


def test_backtest_on_a_local_cluster_scores_the_plugin_beside_built_in_models(site, cache, tmp_path):
    models = ["weekly_ridge", "seasonal_naive", "gbm[max_iter=20]"]
    found = with_plugin(site, tmp_path, f"""
        import json
        import forecasting
        bt = forecasting.backtest({str(cache)!r}, models={models!r}, cutoffs=2, horizon="7D", cluster="local",
                                  workers=2, progress=False)
        print(json.dumps({{"leaderboard": bt.leaderboard.to_dict("records"),
                          "windows": bt.windows[["region", "model", "cutoff"]].drop_duplicates().to_dict("records"),
                          "failures": bt.failures.to_dict("records")}}))
    """)
    board = pd.DataFrame(found["leaderboard"])
    windows = pd.DataFrame(found["windows"])
    regions = sorted(board.region.unique())
    assert len(regions) == 3 and not found["failures"]
    # The models asked for, and the baselines every backtest adds (zero, mean_week).
    assert set(zip(board.region, board.model)) == {(r, m) for r in regions for m in [*models, "zero", "mean_week"]}
    ridge = board[board.model == "weekly_ridge"].set_index("region")
    assert (ridge.n_windows == 2).all() and ridge.mase.notna().all()
    per_region = windows[windows.model == "weekly_ridge"].groupby("region").cutoff.nunique()
    assert per_region.to_dict() == {r: 2 for r in regions}


def test_the_nightly_run_forecasts_each_region_with_its_champion_and_the_plugin_is_one(site, cache, tmp_path):
    # The combination of the two would be a candidate too; leave it out so that a region's champion is one model.
    config = tmp_path / "backtest.yaml"
    config.write_text("backtest:\n  top_k: 0\n")
    store = tmp_path / "results.sqlite"
    champions = with_plugin(site, tmp_path, f"""
        import json
        import forecasting
        bt = forecasting.backtest({str(cache)!r}, models=["weekly_ridge", "seasonal_naive"], cutoffs=3, horizon="7D",
                                  cluster="serial", config={str(config)!r}, store={str(store)!r}, progress=False)
        print(json.dumps(forecasting.champions({str(store)!r}).to_dict("records")))
    """)
    champion = {row["region"]: row["model"] for row in champions}
    assert len(champion) == 3
    # Won on the data (lower mean MASE than seasonal naive over three windows), not by construction.
    assert "weekly_ridge" in champion.values()

    out = tmp_path / "nightly"
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([CLI, "--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(out), "--store", f"sqlite:///{store}",
                           "--models", "champion", "--horizon", "7D", "--cluster", "serial"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (run,) = (out / "runs").iterdir()
    forecasts = pd.read_csv(run / "forecasts.csv")
    used = forecasts.groupby("region").model.unique()
    assert {region: list(m) for region, m in used.items()} == {region: [model] for region, model in champion.items()}
    summary = json.loads((run / "run.json").read_text())
    assert not summary["failures"]


@pytest.mark.slow  # a local-cluster backtest with gbm and a nightly run: about half a minute
def test_the_readme_writing_a_model_commands_run_as_written(site, tmp_path):
    readme = (PLUGIN.parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Writing a model\n")
    section = readme[start:readme.index("\n## ", start + 1)]
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]
    env = {**os.environ, "PYTHONPATH": str(site)}
    for line in block.strip().splitlines():
        args = shlex.split(line)
        if args[:2] == [".venv/bin/pip", "install"]:
            continue  # installed by the fixture, into a folder of its own
        program = {".venv/bin/python": sys.executable, "forecasting": CLI}[args[0]]
        done = subprocess.run([program, *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    (run,) = (tmp_path / "results" / "runs").iterdir()
    assert "weekly_ridge" in set(pd.read_csv(tmp_path / "bt" / "leaderboard.csv").model)
    champions = pd.read_csv(tmp_path / "bt" / "champions.csv").set_index("region").model
    used = pd.read_csv(run / "forecasts.csv").groupby("region").model.first()
    assert used.to_dict() == champions.to_dict()
