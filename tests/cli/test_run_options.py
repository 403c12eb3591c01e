"""``forecasting run``: ``--store`` elsewhere than under ``--out``, and ``--resume`` with what it must not take."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from forecasting import errors
from forecasting.cli.main import main
from forecasting.store.runs import ResultsStore


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: ") and "Traceback" not in err[0]
    return err[0]


def _run(cache, out, *extra) -> list[str]:
    return ["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
            "--models", "seasonal_naive", "--horizon", "2D", *extra]


def test_store_holds_the_run_and_status_reads_it_from_there(capsys, synthetic_cache, tmp_path, store_url):
    """On a SQLite file elsewhere and on a PostgreSQL database."""
    out = tmp_path / "out"
    url = store_url
    assert main(_run(synthetic_cache, out, "--regions", "r000,r002", "--store", url)) == errors.EXIT_OK
    printed = capsys.readouterr().out
    (shown,) = [line for line in printed.splitlines() if line.strip().startswith("store:")]
    # (The line names the store; a password in its URL is no business of this test.)
    assert sa.engine.make_url(url).database in shown
    (run_json,) = (out / "runs").glob("*/run.json")  # the run's files still go under --out
    run_id = json.loads(run_json.read_text())["run_id"]

    assert not (out / "results.sqlite").exists()
    store = ResultsStore(url)
    try:
        assert store.recent_runs().run_id.tolist() == [run_id]
        assert sorted(store.region_outcomes(run_id).region) == ["r000", "r002"]
    finally:
        store.close()

    assert main(["status", "--store", url, "--json"]) == errors.EXIT_OK
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [run_id]
    assert main(["status", run_id, "--store", url]) == errors.EXIT_OK
    assert capsys.readouterr().out.startswith(f"run {run_id} ")
    # The default store under --out was never written.
    assert main(["status", "--out", str(out)]) == errors.EXIT_USAGE
    assert _one_line_error(capsys) == f"forecasting: error: status: no results store in {out}"


def test_store_wins_over_the_default_under_out(capsys, synthetic_cache, tmp_path):
    out = tmp_path / "out"
    assert main(_run(synthetic_cache, out, "--regions", "r000")) == errors.EXIT_OK  # the default store
    url = f"sqlite:///{tmp_path / 'other.sqlite'}"
    assert main(_run(synthetic_cache, out, "--regions", "r001", "--store", url)) == errors.EXIT_OK
    capsys.readouterr()
    assert main(["status", "--out", str(out), "--json"]) == errors.EXIT_OK
    (default_run,) = json.loads(capsys.readouterr().out)
    assert main(["status", "--out", str(out), "--store", url, "--json"]) == errors.EXIT_OK  # --store wins
    (other_run,) = json.loads(capsys.readouterr().out)
    assert default_run["run_id"] != other_run["run_id"] and default_run["n_regions"] == other_run["n_regions"] == 1


RESUME_REFUSAL = ("forecasting: error: --resume completes a run with its own regions, run date and config: "
                  "drop --regions/--run-date/--models/--horizon/--on-drift/--retention-days")


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory, poisoned_cache):
    """The --out of a run with a failed region (r001), which --resume would recompute, and its id."""
    out = tmp_path_factory.mktemp("resume") / "out"
    args = ["--log-level", "WARNING", "run", "--cache", str(poisoned_cache), "--out", str(out), "--cluster", "serial",
            "--regions", "r000,r001", "--models", "seasonal_naive", "--horizon", "2D", "--max-failed-fraction", "0.9"]
    assert main(args) == errors.EXIT_SOME_FAILED
    return out, _outcomes(out)[0]


def _outcomes(out):
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        (run_id,) = store.recent_runs().run_id
        return run_id, store.region_outcomes(run_id)
    finally:
        store.close()


@pytest.mark.parametrize("option", [["--regions", "r000"], ["--run-date", "2024-03-01"], ["--models", "seasonal_naive"],
                                    ["--horizon", "2D"], ["--on-drift", "fallback"], ["--retention-days", "30"]])
def test_resume_refuses_what_the_run_already_fixed(capsys, partial_run, option):
    out, run_id = partial_run
    before = _outcomes(out)[1]
    capsys.readouterr()
    assert main(["run", "--out", str(out), "--cluster", "serial", "--resume", run_id, *option]) == errors.EXIT_USAGE
    assert _one_line_error(capsys) == RESUME_REFUSAL
    # Refused before anything ran: the run and its regions are as they were.
    assert _outcomes(out)[0] == run_id and _outcomes(out)[1].equals(before)
