"""The results-store lock: one nightly run per run date at a time."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from forecasting.errors import RunLockedError
from forecasting.store.runs import ResultsStore
from forecasting.store.schema import run_locks
from forecasting.store.lock import acquire, release, run_lock


@pytest.fixture
def store(store_url):
    s = ResultsStore(store_url)
    yield s
    s.close()


def _holder(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(run_locks)).first()


def _plant(store, run_id, host, pid, heartbeat_age=0.0):
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(run_locks.insert(), [{"kind": "nightly", "run_date": "2024-03-04", "run_id": run_id, "host": host,
                                           "pid": pid, "acquired_at": now - heartbeat_age, "heartbeat_at": now - heartbeat_age}])


def test_second_driver_for_the_same_date_is_refused_with_the_holder_named(store):
    with run_lock(store.engine, "nightly", "2024-03-04", "run-a"):
        with pytest.raises(RunLockedError, match="run-a") as info:
            acquire(store.engine, "nightly", "2024-03-04", "run-b")
        assert "2024-03-04" in str(info.value) and "forecasting status run-a" in str(info.value)
        # Other dates and kinds are independent.
        with run_lock(store.engine, "nightly", "2024-03-05", "run-c"):
            pass
    assert _holder(store) is None  # released on exit
    with run_lock(store.engine, "nightly", "2024-03-04", "run-b"):
        assert _holder(store).run_id == "run-b"


def test_lock_is_released_when_the_block_raises(store):
    with pytest.raises(ZeroDivisionError):
        with run_lock(store.engine, "nightly", "2024-03-04", "run-a"):
            1 / 0
    assert _holder(store) is None


def test_a_dead_driver_on_this_host_leaves_a_lock_that_is_taken_over(store):
    import socket

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid no longer exists
    _plant(store, "run-killed", socket.gethostname(), gone.pid)
    acquire(store.engine, "nightly", "2024-03-04", "run-new")
    assert _holder(store).run_id == "run-new"


def test_a_live_holder_on_another_host_keeps_the_lock_until_its_heartbeat_goes_stale(store):
    _plant(store, "run-remote", "some-other-host", 12345, heartbeat_age=30)
    with pytest.raises(RunLockedError, match="some-other-host"):
        acquire(store.engine, "nightly", "2024-03-04", "run-new", stale_after=600)
    acquire(store.engine, "nightly", "2024-03-04", "run-new", stale_after=10)
    assert _holder(store).run_id == "run-new"


def test_heartbeat_keeps_a_long_run_fresh(store):
    with run_lock(store.engine, "nightly", "2024-03-04", "run-a", heartbeat_every=0.05):
        first = _holder(store).heartbeat_at
        # Beats every 0.05 s; on a loaded machine one may take long, so wait for
        # it against a generous deadline instead of a fixed sleep.
        deadline = time.monotonic() + 60
        while _holder(store).heartbeat_at <= first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _holder(store).heartbeat_at > first


def test_of_drivers_starting_at_once_exactly_one_wins(store):
    outcomes = []
    barrier = threading.Barrier(4)

    def start(i):
        barrier.wait()
        try:
            acquire(store.engine, "nightly", "2024-03-04", f"run-{i}")
            outcomes.append("won")
        except RunLockedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "won"]
    release(store.engine, "nightly", "2024-03-04", _holder(store).run_id)


def test_runs_no_live_driver_holds_are_reported_interrupted(store):
    import socket

    from forecasting.store.lock import interrupted_runs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _plant(store, "run-killed", socket.gethostname(), gone.pid)
    assert interrupted_runs(store.engine, ["run-killed", "run-without-lock"]) == {"run-killed", "run-without-lock"}
    with run_lock(store.engine, "nightly", "2024-03-05", "run-live"):
        assert interrupted_runs(store.engine, ["run-live"]) == set()
