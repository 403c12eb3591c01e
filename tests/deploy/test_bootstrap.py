"""The EMR bootstrap script, run with every path pointed into tmp_path."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from forecasting.config.forecast import load_config
from deploy.yarn.config import YarnConfig

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "emr" / "bootstrap.sh"


def write_info(path: Path, master: bool) -> Path:
    # The shape of EMR's /mnt/var/lib/info/instance.json.
    path.write_text(json.dumps({"isMaster": master, "isRunningNameNode": master, "instanceGroupId": "ig-1"}, indent=2))
    return path


def settings(tmp_path: Path, master: bool = True, **extra: str) -> dict[str, str]:
    home = tmp_path / "opt" / "forecasting"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORECASTING_", "EMR_", "DRY_RUN"))}
    env.update(
        EMR_INSTANCE_INFO=str(write_info(tmp_path / "instance.json", master)),
        FORECASTING_PYTHON=sys.executable,
        FORECASTING_HOME=str(home),
    )
    env.update(extra)
    return env


def bootstrap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def plan_config(stdout: str, config: Path) -> dict:
    """The YAML that a dry run prints (indented) after '+ write CONFIG:'."""
    head, sep, body = stdout.partition(f"+ write {config}:\n")
    assert sep, stdout
    lines = []
    for line in body.splitlines():
        if line.startswith("+ "):
            break
        lines.append(line[4:])
    return yaml.safe_load("\n".join(lines))


def test_script_syntax():
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck():
    run = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_core_and_task_nodes_do_nothing(tmp_path):
    env = settings(tmp_path, master=False)
    run = bootstrap(env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert "not the master node" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance.json"]


def test_a_node_without_the_interpreter_fails(tmp_path):
    # The packed environment links to FORECASTING_PYTHON: a node without it
    # could never run a container, so the cluster should not start.
    env = settings(tmp_path, master=False, FORECASTING_PYTHON=str(tmp_path / "no-python"))
    run = bootstrap(env)
    assert run.returncode == 1
    assert "must exist at this path on every node" in run.stderr


def test_missing_instance_info_fails(tmp_path):
    env = settings(tmp_path, EMR_INSTANCE_INFO=str(tmp_path / "missing.json"))
    run = bootstrap(env)
    assert run.returncode == 1
    assert "not an EMR node?" in run.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    env = settings(tmp_path, DRY_RUN="1", FORECASTING_PACKAGE="forecasting==0.1.0")
    home = Path(env["FORECASTING_HOME"])
    run = bootstrap(env)
    assert run.returncode == 0, run.stderr

    lines = run.stdout.splitlines()
    plan = [line for line in lines if line.startswith("+ ")]
    assert plan == [
        f"+ mkdir -p {home}",
        f"+ {sys.executable} -m venv {home}/venv",
        f"+ {home}/venv/bin/python -m pip install --no-input --disable-pip-version-check --upgrade forecasting==0.1.0",
        f"+ {home}/venv/bin/forecasting pack-env --out {home}/environment.tar.gz",
        f"+ write {home}/nightly.yaml:",
    ]
    assert plan_config(run.stdout, home / "nightly.yaml") == {
        "yarn": {
            "name": "forecasting-nightly",
            "queue": "default",
            "workers": 8,
            "worker_memory": "6 GiB",
            "worker_vcores": 2,
            "environment": f"{home}/environment.tar.gz",
        },
        "forecasting": {"horizon": "28D"},
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance.json"]


def test_dry_run_with_overrides(tmp_path):
    env = settings(
        tmp_path,
        DRY_RUN="1",
        FORECASTING_PACKAGE="ignored-because-of-the-argument",
        FORECASTING_VENV=str(tmp_path / "venvs" / "nightly"),
        FORECASTING_ARCHIVE=str(tmp_path / "archives" / "env's.tar.gz"),
        FORECASTING_CONFIG=str(tmp_path / "etc" / "nightly.yaml"),
        FORECASTING_YARN_QUEUE="root.forecasting",
        FORECASTING_YARN_WORKERS="20",
        FORECASTING_YARN_WORKER_MEMORY="8 GiB",
        FORECASTING_YARN_WORKER_VCORES="4",
        FORECASTING_HORIZON="14D",
    )
    run = bootstrap(env, "s3://bucket/dist/forecasting-0.2.0-py3-none-any.whl")
    assert run.returncode == 0, run.stderr
    home = Path(env["FORECASTING_HOME"])
    assert f"+ aws s3 cp s3://bucket/dist/forecasting-0.2.0-py3-none-any.whl {home}/dist/\n" in run.stdout
    assert f"--upgrade {home}/dist/forecasting-0.2.0-py3-none-any.whl\n" in run.stdout
    assert f"+ {sys.executable} -m venv {tmp_path}/venvs/nightly\n" in run.stdout
    assert f"+ {tmp_path}/venvs/nightly/bin/forecasting pack-env --out {tmp_path}/archives/env\\'s.tar.gz\n" in run.stdout
    for folder in ("venvs", "archives", "etc"):
        assert f"+ mkdir -p {tmp_path}/{folder}\n" in run.stdout
    config = plan_config(run.stdout, tmp_path / "etc" / "nightly.yaml")
    assert config["yarn"] == {
        "name": "forecasting-nightly",
        "queue": "root.forecasting",
        "workers": 20,
        "worker_memory": "8 GiB",
        "worker_vcores": 4,
        "environment": f"{tmp_path}/archives/env's.tar.gz",
    }
    assert config["forecasting"] == {"horizon": "14D"}


def test_an_existing_config_is_kept_unless_told(tmp_path):
    env = settings(tmp_path, DRY_RUN="1")
    config = Path(env["FORECASTING_HOME"]) / "nightly.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("yarn:\n  workers: 3\n")

    run = bootstrap(env)
    assert run.returncode == 0, run.stderr
    assert "+ write" not in run.stdout
    assert f"keeping the existing {config}" in run.stderr

    run = bootstrap({**env, "FORECASTING_OVERWRITE_CONFIG": "1"})
    assert f"+ write {config}:" in run.stdout
    assert config.read_text() == "yarn:\n  workers: 3\n"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("FORECASTING_YARN_WORKERS", "0", "whole number >= 1"),
        ("FORECASTING_YARN_WORKER_VCORES", "two", "whole number >= 1"),
        ("FORECASTING_YARN_WORKER_MEMORY", "6GB", "MiB, GiB or TiB"),
        ("FORECASTING_YARN_QUEUE", "a queue", "not a YARN queue name"),
        ("FORECASTING_PACKAGE", "-e .", "editable install cannot be packed"),
        ("FORECASTING_ARCHIVE", "/tmp/environment.zip", "must end in .tar.gz"),
    ],
)
def test_bad_settings_are_usage_errors(tmp_path, name, value, message):
    run = bootstrap(settings(tmp_path, DRY_RUN="1", **{name: value}))
    assert run.returncode == 2
    assert message in run.stderr
    assert run.stdout == ""


def test_too_many_arguments(tmp_path):
    run = bootstrap(settings(tmp_path, DRY_RUN="1"), "forecasting", "extra")
    assert run.returncode == 2
    assert "at most one argument" in run.stderr


def _stub_wheel(folder: Path) -> Path:
    """A wheel whose ``forecasting`` command records its arguments and writes --out."""
    files = {
        "forecasting_stub/__init__.py": (
            "import json, os, sys\n"
            "def main():\n"
            "    args = sys.argv[1:]\n"
            "    out = args[args.index('--out') + 1]\n"
            "    with open(out, 'wb') as fh:\n"
            "        fh.write(b'packed')\n"
            "    with open(os.environ['STUB_LOG'], 'w') as fh:\n"
            "        json.dump({'argv': args, 'prefix': sys.prefix}, fh)\n"
        ),
        "forecasting_stub-0.0.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: forecasting-stub\nVersion: 0.0.0\n",
        "forecasting_stub-0.0.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "forecasting_stub-0.0.0.dist-info/entry_points.txt": "[console_scripts]\nforecasting = forecasting_stub:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("forecasting_stub-0.0.0.dist-info/RECORD,,")
    files["forecasting_stub-0.0.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / "forecasting_stub-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def test_a_real_run_on_the_master(tmp_path):
    """Real venv and pip (offline, a stub package); only 'pack-env' is the stub's."""
    wheel = _stub_wheel(tmp_path)
    log = tmp_path / "pack-env.json"
    env = settings(tmp_path, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", STUB_LOG=str(log))
    home = Path(env["FORECASTING_HOME"])

    run = bootstrap(env, str(wheel))
    assert run.returncode == 0, run.stderr

    venv = home / "venv"
    assert (venv / "pyvenv.cfg").is_file()
    assert json.loads(log.read_text()) == {"argv": ["pack-env", "--out", str(home / "environment.tar.gz")], "prefix": str(venv)}
    assert (home / "environment.tar.gz").read_bytes() == b"packed"

    config = home / "nightly.yaml"
    assert oct(config.stat().st_mode & 0o777) == oct(0o644)
    data = yaml.safe_load(config.read_text())
    assert data["yarn"]["environment"] == str(home / "environment.tar.gz")
    assert load_config(config).horizon == "28D"
    # The written 'yarn:' section is one the YARN backend accepts, its environment file present.
    yarn = YarnConfig.from_dict(data["yarn"]).check_files()
    assert (yarn.workers, yarn.worker_vcores, yarn.worker_memory_mib) == (8, 2, 6 * 1024)
    assert sorted(p.name for p in home.iterdir()) == ["environment.tar.gz", "nightly.yaml", "venv"]
