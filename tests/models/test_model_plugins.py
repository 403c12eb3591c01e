"""Model plug-ins through real installed distributions: found, used, and when broken reported once and left out.

Two tiny distributions are built and installed with pip into a folder of
their own; each check runs in a fresh ``python`` whose PYTHONPATH holds that
folder, so this test process's registry and environment stay as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GOOD = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "weekly-ridge"
        version = "0.1"

        [project.entry-points."forecasting.models"]
        weekly_ridge = "weekly_ridge:WeeklyRidge"

        [tool.setuptools]
        py-modules = ["weekly_ridge"]
    """,
    "weekly_ridge.py": '''
        """A plug-in model: the mean of each local slot of the week, shrunk toward the overall mean."""
        import numpy as np

        from forecasting.models import Forecaster
        from forecasting.models.base import finalize_forecast


        class WeeklyRidge(Forecaster):
            name = "weekly_ridge"

            def __init__(self, *, alpha: float = 1.0):
                self.alpha = alpha

            def fit(self, y, X, horizon):
                keys = self._keys(X)
                values = y.to_numpy(dtype=float)
                known = np.isfinite(values)
                self.level_ = float(values[known].mean())
                sums = np.bincount(keys[known], values[known], minlength=7 * 24 * 4)
                counts = np.bincount(keys[known], minlength=7 * 24 * 4)
                self.means_ = (sums + self.alpha * self.level_) / (counts + self.alpha)
                return self

            def predict(self, X_future):
                point = self.means_[self._keys(X_future)]
                return finalize_forecast(X_future.index, point, {0.1: 0.7 * point, 0.5: point, 0.9: 1.3 * point})

            @staticmethod
            def _keys(X):
                return (X["cal_dow"].to_numpy() * 96 + X["cal_slot_of_day"].to_numpy()).astype(int)
    ''',
}

BROKEN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "broken-models"
        version = "2.0"

        [project.entry-points."forecasting.models"]
        exploding = "exploding:Exploding"
        not_a_model = "misc:helper"
        misnamed = "misc:Misnamed"
        gbm = "clash:MyGBM"

        [tool.setuptools]
        py-modules = ["exploding", "misc", "clash"]
    """,
    # Registers a class, then fails: what it registered must go too.
    "exploding.py": """
        from forecasting.models.naive import SeasonalNaive

        class Exploding(SeasonalNaive):
            name = "exploding"

        raise RuntimeError("boom on import")
    """,
    "misc.py": """
        from forecasting.models.naive import SeasonalNaive

        def helper():
            pass

        class Misnamed(SeasonalNaive):
            name = "other_name"
    """,
    "clash.py": """
        from forecasting.models.naive import SeasonalNaive

        class MyGBM(SeasonalNaive):
            name = "gbm"
    """,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder with both distributions installed by pip (their metadata and entry points included)."""
    root = tmp_path_factory.mktemp("plugins")
    packages = []
    for folder, files in (("weekly_ridge", GOOD), ("broken_models", BROKEN)):
        for name, text in files.items():
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip())
        packages.append(str(root / folder))
    target = root / "site"
    env = {**os.environ, "TMPDIR": str(root), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(target), *packages], capture_output=True, text=True, env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr
    return target


def _python(site: Path, code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_an_installed_plug_in_is_a_model_like_the_built_in_ones(site, tmp_path):
    proc = _python(site, """
        from forecasting.config.backtest import BacktestConfig
        from forecasting.config.forecast import ForecastConfig
        from forecasting.models import MODELS, available_models, check_model, make_model, plugin_models

        assert "weekly_ridge" in available_models(), available_models()
        assert plugin_models()["weekly_ridge"] == "weekly-ridge 0.1"
        model = make_model("weekly_ridge", {"alpha": 3.0})
        assert type(model).__module__ == "weekly_ridge" and model.alpha == 3.0
        check_model(MODELS["weekly_ridge"])
        assert "weekly_ridge" in [m.name for m in BacktestConfig().models]  # a backtest's default candidates
        assert [m.name for m in ForecastConfig.from_dict({"models": ["weekly_ridge", "gbm"]}).models] == ["weekly_ridge", "gbm"]
        print("ok")
    """, tmp_path)
    assert proc.stdout.strip() == "ok"


def test_broken_plug_ins_are_reported_once_by_name_and_left_out(site, tmp_path):
    proc = _python(site, """
        import importlib
        import forecasting.models
        from forecasting.models import MODELS, broken_plugins, make_model, plugin_models
        from forecasting.models.gbm import GBMForecaster

        importlib.import_module("forecasting.models.plugins").load_plugins()  # again: no second report
        broken = broken_plugins()
        assert sorted(broken) == ["exploding", "gbm", "misnamed", "not_a_model"], broken
        assert "boom on import" in broken["exploding"] and "broken-models 2.0" in broken["exploding"]
        assert "not a subclass" in broken["not_a_model"]
        assert "'other_name'" in broken["misnamed"]
        assert "taken by forecasting.models.gbm.GBMForecaster" in broken["gbm"]
        assert MODELS["gbm"] is GBMForecaster  # a built-in is never replaced
        assert not {"exploding", "other_name", "misnamed", "not_a_model"} & set(MODELS)  # what they registered is undone
        assert "weekly_ridge" in plugin_models() and make_model("weekly_ridge")  # the other plug-in is there
        make_model("seasonal_naive").get_params()
        print("ok")
    """, tmp_path)
    assert proc.stdout.strip() == "ok"
    lines = proc.stderr.strip().splitlines()
    for name in ("exploding", "not_a_model", "misnamed", "gbm"):
        mine = [line for line in lines if line.startswith(f"model plug-in {name!r} ")]
        assert len(mine) == 1, lines
        assert "distribution broken-models 2.0" in mine[0] and "failed to load; going on without it" in mine[0]
    assert len(lines) == 4, lines


def test_a_config_naming_a_broken_plug_in_says_so_or_goes_on_without_it(site, tmp_path):
    proc = _python(site, """
        import logging
        from forecasting.config.backtest import BacktestConfig
        from forecasting.config.forecast import ForecastConfig
        from forecasting.errors import ConfigError, PluginError
        from forecasting.models import make_model

        try:
            make_model("exploding")
        except PluginError as exc:
            print("make_model:", exc)
        try:
            ForecastConfig.from_dict({"models": ["exploding"]}, source="cfg.yaml")
        except ConfigError as exc:
            print("alone:", exc)
        logging.getLogger().handlers[:] = [logging.StreamHandler()]
        print("--- warnings from here", flush=True)
        import sys; sys.stderr.write("--- warnings from here\\n")
        config = ForecastConfig.from_dict({"models": ["exploding", "seasonal_naive"]}).with_overrides(horizon="7D")
        print("kept:", [m.label for m in config.models])
        bt = BacktestConfig().with_overrides(models="gbm,exploding,misnamed")
        print("backtest kept:", [m.label for m in bt.models])
    """, tmp_path)
    out = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert "model 'exploding' is a plug-in that failed to load" in out["make_model"] and "boom on import" in out["make_model"]
    assert out["alone"].startswith("cfg.yaml: ") and "plug-in that failed to load" in out["alone"] and "boom" in out["alone"]
    assert out["kept"] == "['seasonal_naive']"
    assert out["backtest kept"] == "['gbm']"
    warnings = proc.stderr.split("--- warnings from here\n", 1)[1].strip().splitlines()
    assert len(warnings) == 2, warnings  # one per list given; validating a copy warns no more
    assert warnings[0].startswith("models: leaving out exploding: ") and "boom on import" in warnings[0]
    assert warnings[1].startswith("models: leaving out exploding, misnamed: ")


def test_dask_worker_processes_find_the_plug_ins_the_same_way(site, tmp_path):
    proc = _python(site, """
        from distributed import Client, LocalCluster

        def registry():
            from forecasting.models import available_models, broken_plugins
            from forecasting.models.checks import MAIN, _data
            y, X, X_future = _data(MAIN)
            from forecasting.models import make_model
            forecast = make_model("weekly_ridge").fit(y, X, len(X_future)).predict(X_future)
            import os
            return os.getpid(), available_models(), sorted(broken_plugins()), len(forecast)

        if __name__ == "__main__":
            import os
            with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                              local_directory=os.getcwd()) as cluster, Client(cluster) as client:
                pid, models, broken, n = client.submit(registry).result()
            assert pid != os.getpid()
            assert "weekly_ridge" in models and "exploding" not in models, models
            assert broken == ["exploding", "gbm", "misnamed", "not_a_model"], broken
            assert n == 48
            print("ok")
    """, tmp_path)
    assert proc.stdout.strip().splitlines()[-1] == "ok"
