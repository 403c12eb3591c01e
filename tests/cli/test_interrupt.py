"""Ctrl-C during a run: exit 130 with one line, the run closed as interrupted, its lock
released, and ``--resume`` completes it.

The command runs in a child process that gets a real SIGINT while it is inside a
region's job.  To send it at a known point rather than race a run that might already
have finished, the run's model is a test double that waits at a gate (a file the test
removes) and says when it got there; without the gate it is ``seasonal_naive``.  The
child is ``main()`` behind a few lines that put the double in the registry, since the
``forecasting`` script knows only the package's own models.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from forecasting import errors
from forecasting.cli.main import main
from forecasting.models import MODELS
from forecasting.models.naive import SeasonalNaive
from forecasting.store.runs import ResultsStore

HERE = Path(__file__).resolve().parent
GATE_ENV = "FORECASTING_TEST_GATE"
#: Generous: the child imports the package and reads the cache on a possibly loaded machine.
DEADLINE_S = 180.0


class WaitAtGate(SeasonalNaive, register=False):
    """``seasonal_naive`` that, while the file named by ``$FORECASTING_TEST_GATE`` exists, waits in its fit
    (after creating ``<gate>.reached``)."""

    name = "test_wait_at_gate"

    def fit(self, y, X, horizon):
        gate = os.environ.get(GATE_ENV)
        if gate:
            Path(gate + ".reached").touch()
            while os.path.exists(gate):
                time.sleep(0.05)
        return super().fit(y, X, horizon)


CHILD = textwrap.dedent("""
    import signal, sys
    # As a terminal starts a command: Ctrl-C raises KeyboardInterrupt, even if whatever
    # started the tests ignores SIGINT (a background job's children inherit that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, sys.argv[1])
    from test_interrupt import WaitAtGate
    from forecasting.models import MODELS
    from forecasting.cli.main import main
    MODELS.setdefault(WaitAtGate.name, WaitAtGate)
    sys.exit(main(sys.argv[2:]))
""")


@pytest.fixture
def gate_model():
    """The double, in this process's registry for one test (the resumed run uses it)."""
    MODELS.setdefault(WaitAtGate.name, WaitAtGate)
    try:
        yield WaitAtGate.name
    finally:
        MODELS.pop(WaitAtGate.name, None)


def _store_state(out):
    store = ResultsStore(f"sqlite:///{out / 'results.sqlite'}")
    try:
        (run_id,) = store.recent_runs().run_id
        locks = store.engine.connect().exec_driver_sql("SELECT run_id FROM run_locks").scalars().all()
        return store.run(run_id), store.region_outcomes(run_id).set_index("region"), locks
    finally:
        store.close()


def _wait_for(path: Path, proc) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before its job reached the gate: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the run's job did not reach the gate within {DEADLINE_S:.0f}s")
        time.sleep(0.05)


def test_ctrl_c_during_a_run_exits_130_and_leaves_it_resumable(gate_model, monkeypatch, synthetic_cache, tmp_path, capsys):
    gate, out = tmp_path / "gate", tmp_path / "out"
    gate.touch()
    args = ["--log-level", "WARNING", "run", "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "serial",
            "--regions", "r000,r001,r002", "--run-date", "2024-03-04", "--horizon", "2D", "--models", gate_model]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(HERE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, GATE_ENV: str(gate)})
    try:
        _wait_for(Path(f"{gate}.reached"), proc)  # inside the first region's job: the run is under way
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == errors.EXIT_INTERRUPTED, stderr
    assert stderr.splitlines() == ["forecasting: interrupted"]  # one line, no traceback
    assert stdout == ""  # no summary: the run did not finish
    run, rows, locks = _store_state(out)
    assert run["status"] == "failed" and run["message"] == f"interrupted; complete it with --resume {run['run_id']}"
    assert locks == []  # released on the way out
    assert not (rows.status == "ok").any() and len(rows) == 3  # interrupted in the first region's job

    # The gate gone, resuming completes the run under the same id.
    gate.unlink()
    monkeypatch.delenv(GATE_ENV, raising=False)
    resumed = ["--log-level", "WARNING", "run", "--resume", run["run_id"], "--out", str(out), "--cluster", "serial"]
    assert main(resumed) == errors.EXIT_OK
    assert "SUCCEEDED" in capsys.readouterr().out
    run, rows, locks = _store_state(out)
    assert run["status"] == "succeeded" and (rows.status == "ok").all() and (rows.model == gate_model).all()
    assert locks == []
