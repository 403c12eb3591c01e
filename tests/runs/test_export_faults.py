"""The run's files (forecasts.csv, failures.csv, run.json) cannot be written.

The results store already holds every outcome, so the run fails with a
one-line error and exit 5, and ``--resume`` writes the files once the
folder can be made.  The fault is real: the folder's place is taken by a
plain file, so creating it fails the way a full or read-only disk does.
"""

from __future__ import annotations

import pandas as pd

from forecasting.cli.main import main
from forecasting.errors import EXIT_OK, EXIT_STORE
from forecasting.store.runs import ResultsStore

RUN_DATE = "2024-03-04"


def _run_and_forecasts(out):
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        run = store.recent_runs(1).iloc[0]
        return run, store.region_outcomes(run.run_id), store.forecasts(run.run_id)
    finally:
        store.close()


def test_run_files_that_cannot_be_written_fail_the_run_cleanly_and_resume_writes_them(synthetic_cache, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs").write_text("in the way")  # the runs/ folder cannot be created
    code = main(["run", "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "serial", "--run-date", RUN_DATE,
                 "--models", "seasonal_naive", "--horizon", "2D", "--regions", "r000,r002"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_STORE
    assert err[-1].startswith("forecasting: error: writing the run's files to") and str(out / "runs") in err[-1]
    assert not any("Traceback" in line for line in err)
    run, outcomes, stored = _run_and_forecasts(out)
    # Every region is in the store; the run is failed, and says how to complete it.
    assert (outcomes.status == "ok").all() and set(stored.region) == {"r000", "r002"}
    assert run.status == "failed" and f"--resume {run.run_id}" in run.message

    (out / "runs").unlink()
    assert main(["run", "--resume", run.run_id, "--out", str(out), "--cluster", "serial"]) == EXIT_OK
    run, outcomes, again = _run_and_forecasts(out)
    assert run.status == "succeeded" and (outcomes.attempts == 1).all()  # nothing was recomputed
    written = pd.read_csv(out / "runs" / run.run_id / "forecasts.csv")
    assert len(written) == len(stored) == len(again) and set(written.region) == {"r000", "r002"}
    assert (out / "runs" / run.run_id / "run.json").exists()
