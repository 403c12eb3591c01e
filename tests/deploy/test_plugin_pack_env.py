"""``forecasting pack-env`` of a virtualenv with a model plug-in installed carries the plug-in's entry point.

YARN workers find a plug-in as the driver does, by its ``forecasting.models``
entry point in the packed environment's metadata; this checks that the
archive holds that metadata.  The virtualenv is a small throwaway one (as in
``test_spec_and_pack_env.py``) with only the example plug-in installed:
packing a full environment takes minutes (the YARN test does that).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import distributions
from pathlib import Path

from forecasting import errors
from forecasting.cli.main import main

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"


def test_the_packed_environment_declares_the_plugins_model_by_its_entry_point(tmp_path, capsys):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    source = tmp_path / "src"  # pip builds in the source tree: build a copy
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--prefix", str(venv),
                    str(source)], check=True, cwd=tmp_path, stdout=subprocess.DEVNULL)

    archive = tmp_path / "environment.tar.gz"
    assert main(["pack-env", "--out", str(archive), "--python-prefix", str(venv)]) == errors.EXIT_OK
    assert capsys.readouterr().out.startswith(f"wrote {archive}: 1 packages, ")

    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        site_files = [m for m in tar.getmembers() if "/site-packages/" in m.name and m.isfile()]
        tar.extractall(unpacked, members=site_files, filter="data")  # bin/python links out of the archive
    (site,) = unpacked.glob("lib/python*/site-packages")
    (dist,) = [d for d in distributions(path=[str(site)]) if d.metadata["Name"] == "forecasting-weekly-ridge"]
    declared = {(ep.group, ep.name, ep.value) for ep in dist.entry_points}
    assert declared == {("forecasting.models", "weekly_ridge", "weekly_ridge:WeeklyRidge")}
    assert (site / "weekly_ridge.py").read_text() == (PLUGIN / "weekly_ridge.py").read_text()
