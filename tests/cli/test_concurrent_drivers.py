"""Four drivers of one run date started at once (cron fired twice, a re-run by hand...): one runs, three are refused.

Each driver is ``forecasting run`` in a process of its own, on a results
store they share (a SQLite file, a PostgreSQL database), all for the run date
the cache gives them.  So that the one that wins still holds the run when
the others ask for it, whatever the order the machine starts them in, its
model waits at a gate (tests/cli/test_interrupt.py's ``WaitAtGate``) until
the three others have been refused; the children are ``main()`` with that
model in the registry.  Marked slow (~25 s for both databases: four
interpreters start per case); the default suite has the same race between
threads in tests/store/test_lock.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from forecasting import errors
from forecasting.cli.main import main
from forecasting.store.runs import ResultsStore

HERE = Path(__file__).resolve().parent
DRIVERS = 4
#: Generous: four children import the package at once on a possibly loaded 2-core machine.
DEADLINE_S = 240.0

CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from test_interrupt import WaitAtGate
from forecasting.models import MODELS
from forecasting.cli.main import main
MODELS.setdefault(WaitAtGate.name, WaitAtGate)
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("drivers") / "cache.sqlite"
    args = ["--log-level", "WARNING", "cache", "build", "--synthetic", "--regions", "2", "--days", "30", "--out", str(path)]
    assert main(args) == errors.EXIT_OK
    return path


def _wait(procs, gate_reached: Path) -> None:
    """Until all but one driver have exited and the remaining one is inside its run (at the gate)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        running = [p for p in procs if p.poll() is None]
        if len(running) <= 1 and gate_reached.exists():
            return
        if not running:
            pytest.fail("every driver ended and none reached the gate: " + repr([p.communicate() for p in procs]))
        if time.monotonic() > deadline:
            pytest.fail(f"{len(running)} drivers still running, gate reached: {gate_reached.exists()}, after {DEADLINE_S:.0f}s")
        time.sleep(0.05)


@pytest.mark.slow
def test_of_four_drivers_for_one_run_date_one_runs_and_three_are_refused_naming_it(tiny_cache, tmp_path, store_url, capsys):
    from test_interrupt import GATE_ENV, WaitAtGate

    gate = tmp_path / "gate"
    gate.touch()
    ResultsStore(store_url).close()  # its tables: the drivers race for the lock, not to create them
    env = {**os.environ, GATE_ENV: str(gate)}
    procs = []
    try:
        for i in range(DRIVERS):
            args = ["--log-level", "WARNING", "run", "--cache", str(tiny_cache), "--out", str(tmp_path / f"out{i}"),
                    "--store", store_url, "--cluster", "serial", "--horizon", "1D", "--models", WaitAtGate.name]
            procs.append(subprocess.Popen([sys.executable, "-c", CHILD, str(HERE), *args], env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        _wait(procs, Path(f"{gate}.reached"))
        gate.unlink()  # the three others refused: let the one that runs finish
        results = [(p, *p.communicate(timeout=DEADLINE_S)) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    (winner,) = [r for r in results if r[0].returncode == errors.EXIT_OK]
    refused = [r for r in results if r is not winner]
    assert [p.returncode for p, _, _ in refused] == [errors.EXIT_USAGE] * (DRIVERS - 1), [err for _, _, err in refused]
    store = ResultsStore(store_url)
    try:
        (run,) = store.recent_runs().to_dict("records")  # only the winner started a run
        outcomes = store.region_outcomes(run["run_id"])
        with store.engine.connect() as conn:
            locks = conn.execute(sa.text("SELECT run_id FROM run_locks")).scalars().all()
    finally:
        store.close()
    assert run["status"] == "succeeded" and outcomes.status.tolist() == ["ok", "ok"] and locks == []
    for _, out, err in refused:  # each refused with one line naming the winner's run, pid and host, and nothing done
        assert out == "" and len(err.splitlines()) == 1, err
        assert err.startswith(f"forecasting: error: another nightly run for {run['run_date']} is in progress: "
                              f"run {run['run_id']} (pid {winner[0].pid} on "), err
        assert err.rstrip().endswith(f"wait for it, or check it with 'forecasting status {run['run_id']}'")
    assert not any((tmp_path / f"out{i}" / "runs").exists() and any((tmp_path / f"out{i}" / "runs").iterdir())
                   for i in range(DRIVERS) if procs[i] is not winner[0])
