"""The back-end registry: targets, registration, the built-in serial back end, a missing plug-in."""

from __future__ import annotations

import contextlib

import pytest

from forecasting.errors import ClusterError, UsageError
from forecasting.runs import backends
from forecasting.runs.backends import Target, open_backend, parse_target, prepare_backend, register_backend
from forecasting.runs.executors import SerialExecutor


def test_targets_name_a_back_end_or_a_scheduler_address():
    assert parse_target("serial") == Target("serial", "serial")
    assert parse_target("yarn") == Target("yarn", "yarn")
    assert parse_target("tls://10.0.0.1:8786") == Target("address", "tls://10.0.0.1:8786")
    for bad, hint in [("lokal", " (did you mean 'local'?)"), ("tcp://", ""), ("address", ""), ("", "")]:
        with pytest.raises(UsageError) as raised:
            parse_target(bad)
        assert raised.value.param == "cluster"
        assert str(raised.value) == f"cluster must be one of serial, local, tcp://host:port, yarn, got {bad!r}{hint}"


def test_serial_is_built_in_and_options_of_other_back_ends_are_ignored():
    with open_backend("serial", retries=5, workers=3, yarn=None, log_dir="/nowhere") as executor:
        assert isinstance(executor, SerialExecutor) and executor.retries == 5


def test_workers_are_checked_before_anything_opens():
    for workers in (0, -1, True, 1.5):
        with pytest.raises(UsageError, match="^workers must be at least 1") as raised:
            prepare_backend("serial", workers=workers)
        assert raised.value.param == "workers"


def test_a_back_end_registered_at_run_time(monkeypatch):
    monkeypatch.setattr(backends, "_registered", {})
    opened = []

    @contextlib.contextmanager
    def opener(target, retries=2, colour="grey", **_):
        opened.append((target, retries, colour))
        yield SerialExecutor(retries=retries)

    def check(target, options):
        if options.get("colour") == "plaid":
            raise UsageError("colour: no plaid", param="colour")
        return {**options, "colour": options.get("colour", "blue")}

    register_backend("kube", opener, check=check)
    assert parse_target("kube") == Target("kube", "kube")
    with pytest.raises(UsageError, match="got 'kub' \\(did you mean 'kube'\\?\\)"):
        parse_target("kub")
    prepared = prepare_backend("kube", retries=1)
    assert not opened  # checked, not started
    with prepared.open() as executor:
        assert executor.retries == 1
    assert opened == [(Target("kube", "kube"), 1, "blue")]
    with pytest.raises(UsageError, match="no plaid"):
        prepare_backend("kube", colour="plaid")


def test_a_known_back_end_without_its_plug_in_is_a_cluster_error(monkeypatch):
    monkeypatch.setattr(backends, "_discovered", {})  # as if deploy's entry points were not installed
    with pytest.raises(ClusterError, match="needs the 'local' back end, which is not installed"):
        prepare_backend("local")
    with pytest.raises(ClusterError, match="needs the 'address' back end"):
        prepare_backend("tcp://127.0.0.1:8786")
