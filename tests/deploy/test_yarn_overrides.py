"""The YARN options of ``run`` and ``backtest`` (``--queue``, ``--workers``...) override the config's ``yarn:`` section.

Checked without YARN: the command line's parser, then the very function the
commands call to check their cluster before starting it
(:func:`forecasting.cli.jobs.prepare_cluster`), then the skein spec that
cluster would submit.
"""

from __future__ import annotations

import pytest
import skein
import yaml

from deploy.yarn.spec import WORKER, build_spec
from forecasting.cli import jobs
from forecasting.cli.main import build_parser

SECTION = {"name": "from-config", "queue": "config-queue", "workers": 3, "worker_memory": "2 GiB", "worker_vcores": 1}


@pytest.fixture
def files(tmp_path):
    """A config with a 'yarn:' section, the archives it and the flags name, and a cache file."""
    paths = {name: tmp_path / name for name in ("config-env.tar.gz", "flag-env.tar.gz", "cache.sqlite")}
    for path in paths.values():
        path.write_bytes(b"x")
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({"yarn": {**SECTION, "environment": str(paths["config-env.tar.gz"])}}))
    return {**paths, "config": config}


def _prepared_yarn(files, command: str, *flags: str):
    extra = ["--models", "seasonal_naive"] if command == "run" else []
    args = build_parser().parse_args([command, "--cache", str(files["cache.sqlite"]), "--out", str(files["config"].parent / "out"),
                                      "--cluster", "yarn", "--config", str(files["config"]), *extra, *flags])
    prepared = jobs.prepare_cluster(args, jobs.cluster_target(args), 2, args.cache, jobs.log_dir(args))
    assert prepared.target.kind == "yarn"
    return prepared.options["yarn"]


@pytest.mark.parametrize("command", ["run", "backtest"])
def test_without_flags_the_config_section_holds(files, command):
    yarn = _prepared_yarn(files, command)
    assert (yarn.name, yarn.queue, yarn.workers, yarn.worker_memory, yarn.worker_vcores) == (
        SECTION["name"], SECTION["queue"], SECTION["workers"], SECTION["worker_memory"], SECTION["worker_vcores"])
    assert yarn.environment == str(files["config-env.tar.gz"])


@pytest.mark.parametrize("command", ["run", "backtest"])
@pytest.mark.parametrize(
    "flag, value, field, expected",
    [
        ("--queue", "flag-queue", "queue", "flag-queue"),
        ("--name", "from-flag", "name", "from-flag"),
        ("--workers", "7", "workers", 7),
        ("--worker-memory", "6 GiB", "worker_memory", "6 GiB"),
        ("--worker-vcores", "3", "worker_vcores", 3),
    ],
)
def test_a_flag_overrides_its_key(files, command, flag, value, field, expected):
    yarn = _prepared_yarn(files, command, flag, value)
    assert getattr(yarn, field) == expected != SECTION[field]
    others = {k: v for k, v in SECTION.items() if k != field}
    assert {k: getattr(yarn, k) for k in others} == others  # the rest of the section stays


@pytest.mark.parametrize("command", ["run", "backtest"])
def test_every_flag_reaches_the_spec_that_would_be_submitted(files, command):
    yarn = _prepared_yarn(files, command, "--queue", "flag-queue", "--name", "from-flag", "--workers", "7",
                          "--worker-memory", "6 GiB", "--worker-vcores", "3", "--environment", str(files["flag-env.tar.gz"]))
    spec = skein.ApplicationSpec.from_yaml(build_spec(yarn, str(files["cache.sqlite"])).to_yaml())
    worker = spec.services[WORKER]
    assert (spec.name, spec.queue, worker.instances) == ("from-flag", "flag-queue", 7)
    assert worker.resources == skein.Resources(memory=6 * 1024, vcores=3)
    assert "--nthreads 3 --memory-limit 6144MiB" in worker.script
    assert worker.files["environment"].source.endswith(str(files["flag-env.tar.gz"]))


def test_a_missing_environment_named_by_the_flag_is_refused_before_anything_starts(files):
    from forecasting.errors import ConfigError

    missing = files["config"].parent / "nowhere.tar.gz"
    with pytest.raises(ConfigError, match=f"environment: {missing} does not exist"):
        _prepared_yarn(files, "run", "--environment", str(missing))
    assert not (files["config"].parent / "out").exists()
