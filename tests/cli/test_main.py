"""The command line: one-line errors, stable exit codes, the whole flow."""

from __future__ import annotations

import subprocess
import sys


from forecasting import errors
from forecasting.cli.main import main


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error:")
    return err[0]


def test_usage_errors_exit_2_with_one_line(capsys, tmp_path):
    assert main(["run", "--out", str(tmp_path)]) == errors.EXIT_USAGE
    assert "--cache" in _one_line_error(capsys)
    assert main(["frobnicate"]) == errors.EXIT_USAGE
    _one_line_error(capsys)


def test_missing_cache_exits_2_naming_it(capsys, tmp_path):
    missing = tmp_path / "nope.sqlite"
    assert main(["run", "--cache", str(missing), "--out", str(tmp_path), "--cluster", "serial"]) == errors.EXIT_USAGE
    assert str(missing) in _one_line_error(capsys)


def test_bad_cluster_and_bad_model(capsys, synthetic_cache, tmp_path):
    args = ["run", "--cache", str(synthetic_cache), "--out", str(tmp_path)]
    assert main(args + ["--cluster", "yarn-ish"]) == errors.EXIT_USAGE
    assert "--cluster" in _one_line_error(capsys)
    assert main(args + ["--models", "gbn"]) == errors.EXIT_USAGE
    assert "did you mean 'gbm'" in _one_line_error(capsys)


def _run_args(cache, out, *extra):
    return ["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
            "--horizon", "3D", "--models", "seasonal_naive", "--run-date", "2024-03-04", *extra]


def test_exit_0_when_every_region_succeeds(capsys, synthetic_cache, tmp_path):
    assert main(_run_args(synthetic_cache, tmp_path, "--regions", "r000,r002")) == errors.EXIT_OK
    out = capsys.readouterr().out
    assert "SUCCEEDED" in out and "forecasts.csv" in out


def test_exit_1_when_few_fail_and_3_when_too_many(capsys, poisoned_cache, tmp_path):
    # 2 of 6 regions are poisoned: 33 %.
    assert main(_run_args(poisoned_cache, tmp_path / "a", "--max-failed-fraction", "0.5")) == errors.EXIT_SOME_FAILED
    out = capsys.readouterr().out
    assert "r001" in out and "r004" in out
    assert main(_run_args(poisoned_cache, tmp_path / "b")) == errors.EXIT_TOO_MANY_FAILED


def test_serial_environment_variable_overrides_the_cluster(monkeypatch, capsys, synthetic_cache, tmp_path):
    import json

    monkeypatch.setenv("FORECASTING_SERIAL", "1")
    assert main(_run_args(synthetic_cache, tmp_path, "--regions", "r000")[:-2] + ["--cluster", "local", "--regions", "r000"]) == 0
    run_json = next((tmp_path / "runs").glob("*/run.json"))
    assert json.loads(run_json.read_text())["cluster"] == "serial"


def test_console_script_builds_a_cache_and_runs(tmp_path):
    exe = [sys.executable, "-m", "forecasting.cli.main"]
    cache = tmp_path / "c.sqlite"
    build = subprocess.run(exe + ["cache", "build", "--synthetic", "--regions", "2", "--days", "30", "--out", str(cache)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run(exe + ["run", "--cache", str(cache), "--out", str(tmp_path / "out"), "--cluster", "serial",
                                "--horizon", "2D", "--models", "seasonal_naive"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "SUCCEEDED" in run.stdout


def _weekly_repeat(cache, out, region, from_day):
    """A copy of the cache in which ``region`` repeats the week starting ``from_day`` ever after:
    the weekly seasonal-naive forecast is exact there, whatever the models do elsewhere."""
    import shutil
    import sqlite3

    import pandas as pd

    path = out / "cache.sqlite"
    shutil.copy(cache, path)
    t0, week = int(pd.Timestamp(from_day, tz="UTC").timestamp()), 7 * 86400
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE orders SET orders = (SELECT o.orders FROM orders o WHERE o.region = orders.region"
                     " AND o.ts = ? + (orders.ts - ?) % ?) WHERE region = ? AND ts >= ?", (t0, t0, week, region, t0 + week))
    conn.close()
    return path


def test_backtest_command_writes_reports_and_run_picks_up_champions(capsys, synthetic_cache, tmp_path):
    import pandas as pd

    from forecasting.config.forecast import ForecastConfig
    from forecasting.store.runs import ResultsStore

    # The backtest's windows start 2024-02-12: from the week before, r003 repeats itself, r000 does not.
    cache = _weekly_repeat(synthetic_cache, tmp_path, "r003", "2024-02-05")
    args = ["--log-level", "WARNING", "backtest", "--cache", str(cache), "--out", str(tmp_path), "--cluster", "serial",
            "--models", "seasonal_naive,mstl", "--regions", "r000,r003", "--cutoffs", "3", "--horizon", "7D", "--no-plots"]
    assert main(args) == errors.EXIT_OK
    out = capsys.readouterr().out
    assert "champion MASE / seasonal-naive MASE" in out
    assert (tmp_path / "leaderboard.csv").is_file()
    champions = pd.read_csv(tmp_path / "champions.csv").set_index("region").model
    assert champions["r003"] == "seasonal_naive"  # exact there
    assert champions.nunique() == 2  # one model for every region cannot pass by accident
    # A champion the run would never try on its own: its default candidates lack it.
    assert not set(champions) <= {m.label for m in ForecastConfig().models}
    # Same --out: the nightly run uses the champions without being told.
    assert main(["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(tmp_path), "--cluster", "serial",
                 "--regions", "r000,r003", "--horizon", "3D"]) == errors.EXIT_OK
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    (run_id,) = store.recent_runs(limit=5).run_id
    ran = store.region_outcomes(run_id).set_index("region").model
    store.close()
    pd.testing.assert_series_equal(ran.sort_index(), champions.sort_index(), check_dtype=False)


def test_backtest_usage_errors(capsys, synthetic_cache, tmp_path):
    base = ["backtest", "--cache", str(synthetic_cache), "--out", str(tmp_path), "--cluster", "serial"]
    assert main(base + ["--cutoffs", "3", "--start", "2024-01-01"]) == errors.EXIT_USAGE
    assert "either cutoffs or start/end" in _one_line_error(capsys)
    assert main(base + ["--step", "36h"]) == errors.EXIT_USAGE
    assert "whole days" in _one_line_error(capsys)
    assert main(base + ["--start", "2030-01-01"]) == errors.EXIT_USAGE
    assert "no cutoff fits" in _one_line_error(capsys)


def test_status_lists_runs_and_shows_one(capsys, poisoned_cache, tmp_path):
    import json

    assert main(_run_args(poisoned_cache, tmp_path, "--max-failed-fraction", "0.5")) == errors.EXIT_SOME_FAILED
    capsys.readouterr()
    assert main(["status", "--out", str(tmp_path), "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["status"] == "partial" and run["n_failed"] == 2
    assert main(["status", run["run_id"], "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "PARTIAL" in text and "r001" in text and "RegionDataError" in text
    assert main(["status", "nope", "--out", str(tmp_path)]) == errors.EXIT_USAGE
    assert "no run 'nope'" in _one_line_error(capsys)


def test_output_into_a_closed_pipe_is_not_a_bug(tmp_path):
    """'forecasting status ... | head -1': the reader leaving early is no error."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "forecasting.cli.main", "cache", "build", "--synthetic", "--regions", "2",
                             "--days", "30", "--out", str(tmp_path / "c.sqlite")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
