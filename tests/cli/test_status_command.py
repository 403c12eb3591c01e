"""``forecasting status``: the recent runs or one run, as text or JSON, from ``--out`` or ``--store``."""

from __future__ import annotations

import json

import pytest

from forecasting import errors
from forecasting.cli.main import main


def _strict_json(text: str):
    """JSON as jq or a browser reads it: NaN or Infinity is an error, not a number."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: ") and "Traceback" not in err[0]
    return err[0]


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory, poisoned_cache):
    """The --out of one run over r000 (ok) and r001 (all NaN: failed), and that run's id."""
    out = tmp_path_factory.mktemp("status") / "out"
    rc = main(["--log-level", "WARNING", "run", "--cache", str(poisoned_cache), "--out", str(out), "--cluster", "serial",
               "--regions", "r000,r001", "--models", "seasonal_naive", "--horizon", "2D", "--max-failed-fraction", "0.9"])
    assert rc == errors.EXIT_SOME_FAILED
    (run_json,) = (out / "runs").glob("*/run.json")
    return out, json.loads(run_json.read_text())["run_id"]


def test_recent_runs_as_a_table(capsys, partial_run):
    out, run_id = partial_run
    capsys.readouterr()
    assert main(["status", "--out", str(out)]) == errors.EXIT_OK
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["run_id", "kind", "run_date", "status", "n_regions", "n_ok", "n_failed", "cluster"]
    (row,) = rows
    assert row.split()[:2] == [run_id, "nightly"]
    assert row.split()[3:8] == ["partial", "2", "1", "1", "serial"]


def test_recent_runs_as_json(capsys, partial_run):
    out, run_id = partial_run
    capsys.readouterr()
    assert main(["status", "--out", str(out), "--json"]) == errors.EXIT_OK
    (run,) = _strict_json(capsys.readouterr().out)
    assert (run["run_id"], run["status"], run["n_ok"], run["n_failed"]) == (run_id, "partial", 1, 1)


def test_one_run_as_text(capsys, partial_run):
    out, run_id = partial_run
    capsys.readouterr()
    assert main(["status", run_id, "--out", str(out)]) == errors.EXIT_OK
    first, header, *rows = capsys.readouterr().out.strip().splitlines()
    assert first.startswith(f"run {run_id} (nightly, run date ") and "PARTIAL, 1 ok, 1 failed of 2" in first
    assert header.split()[:3] == ["region", "status", "model"]
    by_region = {row.split()[0]: row for row in rows}
    assert sorted(by_region) == ["r000", "r001"]
    assert by_region["r000"].split()[1:3] == ["ok", "seasonal_naive"]
    assert by_region["r001"].split()[1] == "failed" and "RegionDataError" in by_region["r001"]


def test_one_run_as_json(capsys, partial_run):
    out, run_id = partial_run
    capsys.readouterr()
    assert main(["status", run_id, "--out", str(out), "--json"]) == errors.EXIT_OK
    shown = _strict_json(capsys.readouterr().out)
    assert shown["run"]["run_id"] == run_id and shown["run"]["status"] == "partial"
    regions = {r["region"]: r for r in shown["regions"]}
    assert sorted(regions) == ["r000", "r001"]
    assert (regions["r000"]["status"], regions["r000"]["model"], regions["r000"]["error_type"]) == ("ok", "seasonal_naive", None)
    assert regions["r001"]["status"] == "failed" and regions["r001"]["error_type"] == "RegionDataError"
    assert "RegionDataError" in regions["r001"]["traceback"]  # the text output leaves it out
    assert regions["r000"]["attempts"] >= 1 and regions["r000"]["worker"]


def test_without_out_or_store_says_to_give_one(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a results.sqlite in the working directory is not looked for either
    assert main(["status"]) == errors.EXIT_USAGE
    assert _one_line_error(capsys) == "forecasting: error: status: give --out (the runs' output folder) or --store"
    assert list(tmp_path.iterdir()) == []


def test_an_out_without_a_store_is_refused_not_created(capsys, tmp_path):
    assert main(["status", "--out", str(tmp_path)]) == errors.EXIT_USAGE
    assert _one_line_error(capsys) == f"forecasting: error: status: no results store in {tmp_path}"
    assert not (tmp_path / "results.sqlite").exists()
