"""The driver loop's group writes: outcomes that arrive during a write go into the next one, in order."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from forecasting.errors import StoreError
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.loop import drain


@dataclass(frozen=True)
class Step:
    """A task of the loop whose outcome is its own key; the last one may release a blocked write."""

    key: str
    release: threading.Event | None = None
    config: object = None

    @property
    def region(self) -> str:
        return self.key

    def compute(self):
        if self.release is not None:
            self.release.set()
        return Done(self.key)


@dataclass(frozen=True)
class Done:
    region: str
    ok = True


def test_outcomes_arriving_during_a_write_are_written_together_each_once_in_order():
    release = threading.Event()
    writes = []

    def record_many(outcomes):
        writes.append([o.region for o in outcomes])
        assert release.wait(10)  # the first write lasts until the last task has run

    tasks = [Step(f"t{i}") for i in range(5)] + [Step("t5", release)]
    assert drain(SerialExecutor(), tasks, lambda o: pytest.fail("record_many was given"), record_many=record_many) == 6
    assert [r for w in writes for r in w] == [t.key for t in tasks]
    assert len(writes) < len(tasks) and max(map(len, writes)) > 1


def test_without_record_many_each_outcome_is_recorded_alone():
    recorded = []
    drain(SerialExecutor(), [Step(f"t{i}") for i in range(3)], lambda o: recorded.append(o.region))
    assert recorded == ["t0", "t1", "t2"]


def test_a_failed_write_stops_the_loop_with_its_error():
    def record_many(outcomes):
        raise StoreError("results store x: recording 1 regions' outcomes failed: disk I/O error")

    with pytest.raises(StoreError, match="disk I/O error"):
        drain(SerialExecutor(), [Step(f"t{i}") for i in range(20)], print, record_many=record_many)


def test_an_interrupted_loop_writes_every_outcome_that_arrived():
    writes = []
    with pytest.raises(KeyboardInterrupt):
        drain(SerialExecutor(), [Step(f"t{i}") for i in range(10)], print, stop_after=4,
              record_many=lambda outcomes: writes.extend(o.region for o in outcomes))
    assert writes == ["t0", "t1", "t2", "t3"]
