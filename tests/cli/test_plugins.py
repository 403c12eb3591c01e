"""The command line and its plug-ins: back ends and their options, the flag in place of the parameter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from forecasting import errors
from forecasting.cli.main import error_line, main
from forecasting.errors import ClusterError, UsageError
from forecasting.runs import backends
from forecasting.runs.nightly import select_regions, validate_run_date


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: ") and "Traceback" not in err[0]
    return err[0]


def test_an_unknown_cluster_is_one_line_with_a_suggestion(capsys, synthetic_cache, tmp_path):
    out = tmp_path / "out"
    for command in ("run", "backtest"):
        assert main([command, "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "lokal"]) == errors.EXIT_USAGE
        assert _one_line_error(capsys) == ("forecasting: error: --cluster must be one of serial, local, tcp://host:port, "
                                           "yarn, got 'lokal' (did you mean 'local'?)")
    assert not out.exists()


def test_a_back_end_whose_plug_in_is_missing_exits_4(monkeypatch, capsys, synthetic_cache, tmp_path):
    monkeypatch.setattr(backends, "_discovered", {})  # as if deploy's entry points were not installed
    out = tmp_path / "out"
    assert main(["run", "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "local"]) == errors.EXIT_CLUSTER
    assert "needs the 'local' back end, which is not installed" in _one_line_error(capsys)
    assert not out.exists()


def test_the_library_names_the_parameter_and_the_command_line_the_flag(capsys, synthetic_cache, tmp_path):
    with pytest.raises(UsageError, match="^run_date must be a date") as raised:
        validate_run_date("soon")
    assert raised.value.param == "run_date"
    with pytest.raises(UsageError, match="^regions: not in the cache: 'r9'") as raised:
        select_regions(["r1", "r2"], ["r9"])
    assert raised.value.param == "regions"
    args = ["run", "--cache", str(synthetic_cache), "--out", str(tmp_path / "out"), "--cluster", "serial"]
    assert main(args + ["--run-date", "soon"]) == errors.EXIT_USAGE
    assert _one_line_error(capsys) == "forecasting: error: --run-date must be a date like 2024-12-31, got 'soon'"
    assert main(args + ["--workers", "0"]) == errors.EXIT_USAGE
    assert _one_line_error(capsys) == "forecasting: error: --workers must be at least 1, got 0"


def test_error_line():
    class Args:
        flags = {"run_date": "--run-date", "use_champions": "--models champion"}

    assert error_line(UsageError("run_date must be a date", param="run_date"), Args) == "--run-date must be a date"
    assert error_line(UsageError("use_champions: none", param="use_champions"), Args) == "--models champion: none"
    assert error_line(UsageError("no such date", param="run_date"), Args) == "--run-date: no such date"
    # A parameter this command has no flag for, or no command at all: the library's words.
    assert error_line(UsageError("colour: no plaid", param="colour"), Args) == "colour: no plaid"
    assert error_line(UsageError("regions: none", param="regions"), None) == "regions: none"
    assert error_line(ClusterError("cannot reach"), Args) == "cannot reach"


def test_python_dash_m_forecasting_cli():
    proc = subprocess.run([sys.executable, "-m", "forecasting.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "{cache,run,backtest,status,accuracy,logs,report,pack-env,spec}" in proc.stdout
