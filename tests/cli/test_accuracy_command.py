"""``forecasting accuracy`` through ``main``, and ``run --on-drift`` / ``--retention-days``."""

from __future__ import annotations

import csv
import json

import pytest
import sqlalchemy as sa

from forecasting import errors
from forecasting.accuracy.tables import COLUMNS
from forecasting.cli.main import main
from forecasting.store.schema import forecasts
from forecasting.store.scores import ScoreStore


def _accuracy(h, *extra) -> list[str]:
    return ["--log-level", "WARNING", "accuracy", "--cache", str(h.cache), *extra]


def _csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_writes_accuracy_csv_into_the_results_folder_and_prints_one_screen(capsys, history, tmp_path):
    h = history.copy(tmp_path)
    assert main(_accuracy(h, "--results", str(h.out))) == errors.EXIT_OK
    out = capsys.readouterr().out
    rows = _csv(h.out / "accuracy.csv")
    assert list(rows[0]) == list(COLUMNS)
    assert {r["region"] for r in rows} == {"r000", "r001", "r002"} and {r["status"] for r in rows} == {"scored"}
    lines = out.splitlines()
    assert lines[0].startswith("live accuracy, all regions") and len(lines) < 40  # one screen
    assert any(line.strip().startswith("day 1") for line in lines) and "drifting: " in out


def test_json_store_csv_since_and_regions(capsys, history, tmp_path):
    h = history.copy(tmp_path)
    target = tmp_path / "elsewhere.csv"
    assert main(_accuracy(h, "--store", h.url, "--csv", str(target), "--json")) == errors.EXIT_OK
    every = json.loads(capsys.readouterr().out)
    assert every["csv"] == str(target) and len(_csv(target)) == len(every["regions"])
    assert {r["lead"] for r in every["by_lead"]} >= {"day 1", "days 2-7", "all"}
    assert max(r["n_runs"] for r in every["regions"]) == 4
    store = ScoreStore(h.url)
    last_date = store.run(h.run_ids[-1])["run_date"]
    store.close()
    assert main(_accuracy(h, "--store", h.url, "--csv", str(target), "--json", "--since", last_date,
                          "--regions", "r001")) == errors.EXIT_OK
    since = json.loads(capsys.readouterr().out)
    assert {r["region"] for r in since["regions"]} == {"r001"} and {r["n_runs"] for r in since["regions"]} == {1}
    assert sum(r["n_slots"] for r in since["by_lead"] if r["lead"] == "all") < sum(
        r["n_slots"] for r in every["by_lead"] if r["lead"] == "all")


def test_drift_window_from_config_or_option(capsys, history, tmp_path):
    h = history.copy(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("forecasting:\n  drift_days: 2\n  drift_tolerance: 0.5\n")
    assert main(_accuracy(h, "--results", str(h.out), "--config", str(config), "--json")) == errors.EXIT_OK
    assert json.loads(capsys.readouterr().out)["drift"] | {"flagged": None} == {"days": 2, "tolerance": 0.5, "flagged": None}
    assert main(_accuracy(h, "--results", str(h.out), "--config", str(config), "--drift-days", "5", "--json")) == errors.EXIT_OK
    assert json.loads(capsys.readouterr().out)["drift"]["days"] == 5


def test_regions_without_actuals_are_listed_as_such(capsys, synthetic_cache, tmp_path):
    out = tmp_path / "out"
    run = ["--log-level", "WARNING", "run", "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "serial",
           "--models", "seasonal_naive", "--horizon", "2D", "--regions", "r000,r002"]
    assert main(run) == errors.EXIT_OK  # forecasts the days after the cache's end
    capsys.readouterr()
    assert main(["accuracy", "--cache", str(synthetic_cache), "--results", str(out)]) == errors.EXIT_OK
    assert "no actuals yet: 2 regions: r000, r002" in capsys.readouterr().out
    assert [(r["region"], r["status"]) for r in _csv(out / "accuracy.csv")] == [("r000", "no actuals yet"), ("r002", "no actuals yet")]


@pytest.mark.parametrize("args, words", [
    (["--results", "nowhere"], "accuracy: no results store in nowhere"),
    (["--regions", "r999"], "--regions: not in the cache: 'r999'"),
    (["--since", "soon"], "run_date must be a date"),
])
def test_user_mistakes_are_one_line_errors(capsys, history, tmp_path, args, words):
    h = history.copy(tmp_path)
    base = [] if args[0] == "--results" else ["--results", str(h.out)]
    assert main(_accuracy(h, *base, *args)) == errors.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_run_on_drift_and_retention_days_reach_the_run(capsys, history, tmp_path):
    h = history.copy(tmp_path)
    args = ["--log-level", "WARNING", "run", "--cache", str(h.cache), "--out", str(h.out), "--cluster", "serial",
            "--horizon", "7D", "--on-drift", "fallback", "--retention-days", "1"]
    assert main(args) == errors.EXIT_OK
    printed = capsys.readouterr().out
    assert "drift:" in printed
    store = ScoreStore(h.url)
    try:
        (run_id,) = [r for r in store.recent_runs().run_id if r not in h.run_ids]
        with store.engine.connect() as conn:
            left = set(conn.execute(sa.select(forecasts.c.run_id).distinct()).scalars())
    finally:
        store.close()
    run_json = json.loads((h.out / "runs" / run_id / "run.json").read_text())
    assert run_json["config"]["on_drift"] == "fallback" and run_json["drift"]["action"] == "fallback"
    assert run_json["config"]["retention_days"] == 1 and left == {run_id}  # the four older nights are gone
