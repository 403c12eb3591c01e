"""``forecasting spec`` and ``forecasting pack-env`` through ``main()``: what each option changes.

``pack-env`` packs small throwaway virtualenvs (``--python-prefix``): the
suite's own is an editable install, which pack-env refuses, and packing a
full environment takes minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
import skein
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib
from venvs import base_python  # noqa: E402

from deploy.yarn.spec import ENVIRONMENT_KEY, SCHEDULER, WORKER
from forecasting import errors
from forecasting.cli.main import main


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("forecasting: error: ") and "Traceback" not in captured.err
    return lines[0]


# --------------------------------------------------------------------------- spec


@pytest.fixture
def spec_files(tmp_path):
    for name in ("config-env.tar.gz", "flag-env.tar.gz", "cache.sqlite"):
        (tmp_path / name).write_bytes(b"x")
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({"yarn": {"name": "from-config", "environment": str(tmp_path / "config-env.tar.gz"),
                                               "worker_vcores": 1}}))
    return tmp_path, ["spec", "--config", str(config), "--cache", str(tmp_path / "cache.sqlite")]


def _spec(capsys, argv) -> skein.ApplicationSpec:
    assert main(argv) == errors.EXIT_OK
    return skein.ApplicationSpec.from_yaml(capsys.readouterr().out)


def test_spec_name(capsys, spec_files):
    _, argv = spec_files
    assert _spec(capsys, argv).name == "from-config"
    assert _spec(capsys, argv + ["--name", "nightly-eu"]).name == "nightly-eu"


def test_spec_environment(capsys, spec_files):
    folder, argv = spec_files
    for service in (SCHEDULER, WORKER):
        assert _spec(capsys, argv).services[service].files[ENVIRONMENT_KEY].source.endswith("/config-env.tar.gz")
    flagged = _spec(capsys, argv + ["--environment", str(folder / "flag-env.tar.gz")])
    for service in (SCHEDULER, WORKER):
        env = flagged.services[service].files[ENVIRONMENT_KEY]
        assert env.source.endswith(str(folder / "flag-env.tar.gz")) and env.type == "ARCHIVE"
    # An archive named by the flag that is not there is refused like one in the config.
    assert main(argv + ["--environment", str(folder / "missing.tar.gz")]) == errors.EXIT_USAGE
    assert f"environment: {folder / 'missing.tar.gz'} does not exist" in _one_line_error(capsys)


def test_spec_worker_vcores(capsys, spec_files):
    _, argv = spec_files
    assert _spec(capsys, argv).services[WORKER].resources.vcores == 1
    worker = _spec(capsys, argv + ["--worker-vcores", "4"]).services[WORKER]
    assert worker.resources.vcores == 4 and "--nthreads 4 " in worker.script
    assert _spec(capsys, argv + ["--worker-vcores", "4"]).services[SCHEDULER].resources.vcores == 1  # workers only


def test_spec_with_a_missing_cache_is_one_line_and_prints_no_spec(capsys, spec_files):
    folder, argv = spec_files
    missing = folder / "gone.sqlite"
    argv[argv.index("--cache") + 1] = str(missing)
    assert main(argv) == errors.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.strip() == f"forecasting: error: --cache: {missing} does not exist" and captured.out == ""


# --------------------------------------------------------------------------- pack-env


def _venv(path: Path, package: str = "tinypkg") -> Path:
    """A bare virtualenv holding one hand-installed distribution (``package`` 1.0)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    (site,) = path.glob("lib/python*/site-packages")
    (site / package).mkdir()
    (site / package / "__init__.py").write_text("VALUE = 1\n")
    info = site / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"{package}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return _venv(tmp_path_factory.mktemp("venvs") / "venv")


def _pack(capsys, out, *options) -> str:
    assert main(["pack-env", "--out", str(out), *options]) == errors.EXIT_OK
    return capsys.readouterr().out


def test_pack_env_packs_the_python_prefix_into_out(capsys, venv, tmp_path):
    out = tmp_path / "dist" / "environment.tar.gz"
    printed = _pack(capsys, out, "--python-prefix", str(venv))
    assert printed.startswith(f"wrote {out}: 1 packages, ") and f"the interpreter {base_python(venv)} on every node" in printed
    with tarfile.open(out) as tar:
        assert any(name.endswith("site-packages/tinypkg/__init__.py") for name in tar.getnames())
    state = json.loads(Path(f"{out}.sha256").read_text())
    assert state["prefix"] == os.path.realpath(venv) and state["packages"] == ["tinypkg==1.0"]

    other = _venv(tmp_path / "other", package="otherpkg")  # another prefix, another archive
    _pack(capsys, tmp_path / "other.tar.gz", "--python-prefix", str(other))
    with tarfile.open(tmp_path / "other.tar.gz") as tar:
        names = tar.getnames()
    assert any("otherpkg" in n for n in names) and not any("tinypkg" in n for n in names)


def test_pack_env_without_python_prefix_packs_the_running_environment(capsys, monkeypatch, venv, tmp_path):
    monkeypatch.setattr(sys, "prefix", str(venv))  # as if this Python ran from the throwaway venv
    out = tmp_path / "environment.tar.gz"
    assert _pack(capsys, out).startswith(f"wrote {out}: 1 packages, ")
    assert json.loads(Path(f"{out}.sha256").read_text())["prefix"] == os.path.realpath(venv)


def test_pack_env_refuses_the_suites_own_editable_environment(capsys, tmp_path):
    if not any(Path(p).name.startswith("__editable__.forecasting") for p in Path(sysconfig.get_paths()["purelib"]).iterdir()):
        pytest.skip("the package is not installed editable here")
    assert main(["pack-env", "--out", str(tmp_path / "env.tar.gz")]) == errors.EXIT_USAGE
    assert f"{os.path.realpath(sys.prefix)} has editable installs (forecasting)" in _one_line_error(capsys)
    assert not (tmp_path / "env.tar.gz").exists()


def test_pack_env_out_must_be_an_archive_outside_the_environment(capsys, venv, tmp_path):
    assert main(["pack-env", "--out", str(tmp_path / "env.zip"), "--python-prefix", str(venv)]) == errors.EXIT_USAGE
    assert "must end in .tar.gz" in _one_line_error(capsys)
    assert main(["pack-env", "--out", str(venv / "env.tar.gz"), "--python-prefix", str(venv)]) == errors.EXIT_USAGE
    assert "inside the environment being packed" in _one_line_error(capsys)
    assert main(["pack-env", "--python-prefix", str(venv)]) == errors.EXIT_USAGE
    assert "--out" in _one_line_error(capsys)


def test_pack_env_reuses_an_up_to_date_archive_unless_forced(capsys, venv, tmp_path):
    out = tmp_path / "environment.tar.gz"
    _pack(capsys, out, "--python-prefix", str(venv))
    first = out.stat()
    assert _pack(capsys, out, "--python-prefix", str(venv)).startswith(f"reused {out}: ")
    assert out.stat().st_ino == first.st_ino and out.stat().st_mtime_ns == first.st_mtime_ns
    assert _pack(capsys, out, "--python-prefix", str(venv), "--force").startswith(f"wrote {out}: ")
    assert out.stat().st_ino != first.st_ino  # a new archive renamed into place


def test_pack_env_force_overwrites_a_file_it_did_not_write(capsys, venv, tmp_path):
    out = tmp_path / "environment.tar.gz"
    out.write_bytes(b"someone else's archive")
    assert main(["pack-env", "--out", str(out), "--python-prefix", str(venv)]) == errors.EXIT_USAGE
    assert "was not written by pack-env" in _one_line_error(capsys)
    assert out.read_bytes() == b"someone else's archive"
    _pack(capsys, out, "--python-prefix", str(venv), "--force")
    assert tarfile.is_tarfile(out)


def test_pack_env_expected_python(capsys, venv, tmp_path):
    base = base_python(venv)
    out = tmp_path / "environment.tar.gz"
    argv = ["pack-env", "--out", str(out), "--python-prefix", str(venv)]
    assert main(argv + ["--expected-python", "/nowhere/bin/python3"]) == errors.EXIT_USAGE
    line = _one_line_error(capsys)
    assert f"built from {base}, which is not one of the expected interpreters (/nowhere/bin/python3)" in line
    assert not out.exists()
    # Repeatable: any one of them will do, an interpreter or the folder it lies in.
    _pack(capsys, out, "--python-prefix", str(venv), "--expected-python", base, "--expected-python", "/nowhere/bin/python3")
    assert _pack(capsys, out, "--python-prefix", str(venv), "--expected-python", os.path.dirname(base)).startswith("reused ")
