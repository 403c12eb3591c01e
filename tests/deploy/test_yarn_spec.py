"""The YARN application spec: pure, validated, round-trips through skein's own YAML."""

from __future__ import annotations

import pytest
import skein
import yaml

from deploy.yarn.config import YarnConfig, load_yarn_config
from forecasting.config.fields import parse_memory
from deploy.yarn.spec import CACHE_KEY, SCHEDULER, WORKER, build_spec
from forecasting.cli.main import main
from forecasting.errors import ConfigError


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name in ("environment.tar.gz", "cache.sqlite", "extra.txt", "me.keytab", "dask.crt", "dask.pem"):
        paths[name] = tmp_path / name
        paths[name].write_bytes(b"x")
    return paths


def _everything(files) -> YarnConfig:
    """Every field away from its default."""
    return YarnConfig.from_dict(
        {
            "name": "nightly-test", "queue": "forecasting", "tags": ["a", "b"], "node_label": "cpu", "user": "svc",
            "workers": 5, "worker_memory": "6 GiB", "worker_vcores": 3, "worker_restarts": 4,
            "scheduler_memory": "3 GiB", "scheduler_vcores": 2, "master_memory": "1 GiB", "master_vcores": 2,
            "environment": str(files["environment.tar.gz"]), "python": "environment/bin/python3",
            "files": {"extra.txt": str(files["extra.txt"])}, "env": {"TZ": "UTC", "FOO": "bar"},
            "principal": "svc@EXAMPLE.COM", "keytab": str(files["me.keytab"]), "deploy_timeout": "45s", "tls": True,
        }
    ).check_files()


def test_every_field_round_trips_through_skein_yaml(files):
    config = _everything(files)
    spec = build_spec(config, str(files["cache.sqlite"]), (str(files["dask.crt"]), str(files["dask.pem"])))
    again = skein.ApplicationSpec.from_yaml(spec.to_yaml())
    assert again == spec
    assert skein.ApplicationSpec.from_dict(spec.to_dict()) == spec
    assert (again.name, again.queue, again.user, again.node_label, again.tags) == ("nightly-test", "forecasting", "svc", "cpu", {"a", "b"})
    assert again.master.resources == skein.Resources(memory=1024, vcores=2)
    sched, work = again.services[SCHEDULER], again.services[WORKER]
    assert sched.instances == 1 and sched.max_restarts == 0 and sched.resources == skein.Resources(memory=3072, vcores=2)
    assert work.instances == 5 and work.max_restarts == 4 and work.depends == {SCHEDULER}
    assert work.resources == skein.Resources(memory=6144, vcores=3)
    assert "--nthreads 3 --memory-limit 6144MiB" in work.script and work.script.startswith("environment/bin/python3 -m deploy.yarn.worker")
    assert "--tls-cert dask.crt" in sched.script
    assert work.files["environment"].type == "ARCHIVE" and work.files[CACHE_KEY].type == "FILE"
    assert {"extra.txt", "dask.crt", "dask.pem"} <= set(work.files) and CACHE_KEY not in sched.files
    assert work.env["FOO"] == "bar" and sched.env["TZ"] == "UTC"
    assert work.node_label == sched.node_label == "cpu"


def test_an_environment_on_hdfs_can_go_to_yarns_public_cache(files):
    url = "hdfs:///apps/forecasting/environment.tar.gz"
    for visibility in ("application", "public"):
        config = YarnConfig.from_dict({"environment": url, "environment_visibility": visibility}).check_files()
        spec = skein.ApplicationSpec.from_yaml(build_spec(config, str(files["cache.sqlite"])).to_yaml())
        for service in spec.services.values():
            env = service.files["environment"]
            assert (env.source, env.type, env.visibility) == (url, "ARCHIVE", visibility.upper())
            assert service.files.get(CACHE_KEY) is None or service.files[CACHE_KEY].visibility == "APPLICATION"


def test_config_round_trips_through_yaml(files, tmp_path):
    config = _everything(files)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"yarn": config.to_dict()}))
    assert load_yarn_config(path) == config


@pytest.mark.parametrize(
    "text, hint",
    [("4GB", "did you mean '4 GiB'"), ("4096", "did you mean '4096 MiB'"), ("lots", "memory size"), ("0 MiB", "positive"), ("0.3 MiB", "whole")],
)
def test_memory_needs_binary_units(text, hint):
    with pytest.raises(ConfigError, match=hint):
        parse_memory(text, "worker_memory")
    assert parse_memory("1.5 GiB", "x") == 1536 and parse_memory("512MiB", "x") == 512


@pytest.mark.parametrize(
    "data, message",
    [
        ({"workers": 0}, "workers must be a whole number >= 1"),
        ({"worker_vcores": -1}, "worker_vcores"),
        ({"worker_restarts": -2}, "worker_restarts"),
        ({"worker_memory": "4GB"}, "did you mean '4 GiB'"),
        ({"environment": "/nowhere/env.tar.gz"}, "pack-env"),
        ({"principal": "a@B"}, "both principal and keytab"),
        ({"principal": "a@B", "keytab": "/nowhere/x.keytab"}, "keytab: /nowhere/x.keytab does not exist"),
        ({"deploy_timeout": "soon"}, "not a duration"),
        ({"files": {"cache.sqlite": "/etc/hostname"}}, "reserved"),
    ],
)
def test_bad_specs_get_clear_errors(files, data, message):
    base = {"environment": str(files["environment.tar.gz"])}
    with pytest.raises(ConfigError, match=message):
        YarnConfig.from_dict({**base, **data}).check_files()


def test_unknown_key_has_a_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'worker_memory'"):
        YarnConfig.from_dict({"worker_memroy": "4 GiB"})


def test_spec_command_prints_what_would_be_submitted(files, tmp_path, capsys):
    cfg = tmp_path / "nightly.yaml"
    cfg.write_text(yaml.safe_dump({"yarn": {"environment": str(files["environment.tar.gz"]), "workers": 3}}))
    assert main(["spec", "--config", str(cfg), "--cache", str(files["cache.sqlite"]), "--workers", "7", "--queue", "q1"]) == 0
    spec = skein.ApplicationSpec.from_yaml(capsys.readouterr().out)
    assert spec.services[WORKER].instances == 7 and spec.queue == "q1"
    assert main(["spec", "--config", str(cfg), "--cache", str(files["cache.sqlite"]), "--worker-memory", "4096"]) == 2
    assert "did you mean '4096 MiB'" in capsys.readouterr().err


def test_containers_log_at_the_drivers_level_unless_the_config_says_otherwise(files, tmp_path, capsys):
    cfg = tmp_path / "nightly.yaml"
    cfg.write_text(yaml.safe_dump({"yarn": {"environment": str(files["environment.tar.gz"])}}))
    assert main(["--log-level", "DEBUG", "spec", "--config", str(cfg), "--cache", str(files["cache.sqlite"])]) == 0
    spec = skein.ApplicationSpec.from_yaml(capsys.readouterr().out)
    assert spec.services[WORKER].env["FORECASTING_LOG_LEVEL"] == "DEBUG"
    cfg.write_text(yaml.safe_dump({"yarn": {"environment": str(files["environment.tar.gz"]),
                                            "env": {"FORECASTING_LOG_LEVEL": "WARNING"}}}))
    assert main(["--log-level", "DEBUG", "spec", "--config", str(cfg), "--cache", str(files["cache.sqlite"])]) == 0
    spec = skein.ApplicationSpec.from_yaml(capsys.readouterr().out)
    assert spec.services[WORKER].env["FORECASTING_LOG_LEVEL"] == "WARNING"
