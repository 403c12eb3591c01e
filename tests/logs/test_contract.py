"""The contract between the log writer and ``forecasting logs``' reader.

Every event of ``forecasting.logs.events.EVENTS`` goes through the real
writer (``log_event``, real ``logging``, the real handler and format) and
comes back through the real reader with the same fields; rewording a
sentence changes nothing the reader gets.
"""

from __future__ import annotations

import io
import logging
import re

import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.logs.events import EVENTS, OUTCOMES, log_event
from forecasting.logs.reader import TaskTally, parse_line
from forecasting.logs.records import make_handler, run_context, task_context
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.nightly import run_nightly
from forecasting.runs.tasks import RegionTask, run_task

RUN_ID = "2024-03-04-101500-abc123"
#: Strings a value may hold: logfmt quoting and escaping, our separator, the prefix's brackets.
AWKWARD = ["plain", "two words", 'a "quote"', "k=v", "x | event=task_start outcome=ok", "back\\slash", "",
           "line one\nline two\ttab", "région [ünïcode]", "-"]


@pytest.fixture
def emitted():
    """A logger writing through the real handler; returns its text read back as reader lines."""
    stream = io.StringIO()
    logger = logging.getLogger("forecasting.contract")
    handler = make_handler(stream)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)

    def lines():
        text = stream.getvalue()
        return [line for line in map(parse_line, text.splitlines()) if line is not None]

    try:
        yield logger, lines, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _sample(event: str, name: str, kind: type, n: int):
    if event == "task_end" and name == "outcome":
        return OUTCOMES[n % len(OUTCOMES)]
    return {float: 12.5 + n, int: 3 + n}.get(kind, AWKWARD[n % len(AWKWARD)])


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_declared_event_comes_back_with_its_fields(emitted, event):
    logger, lines, _ = emitted
    fields = {name: _sample(event, name, kind, n) for n, (name, kind) in enumerate(EVENTS[event].items())}
    with run_context(RUN_ID), task_context("forecast-key-r007", region="r007", model="gbm"):
        log_event(logger, logging.WARNING, event, "something about %s happened", "r007", **fields)
    (line,) = lines()
    assert line.event == event and line.fields == fields
    assert {k: type(v) for k, v in line.fields.items()} == {k: EVENTS[event][k] for k in fields}
    assert line.message == "something about r007 happened"
    assert (line.level, line.logger) == ("WARNING", "forecasting.contract")
    assert line.context == {"app": "-", "container": "-", "run": RUN_ID, "region": "r007", "model": "gbm",
                            "task": "forecast-key-r007"}


@pytest.mark.parametrize("value", AWKWARD)
def test_any_string_value_survives_with_a_traceback_after_it(emitted, value):
    logger, lines, stream = emitted
    try:
        raise ValueError(value)
    except ValueError as exc:
        log_event(logger, logging.ERROR, "region_failed", "region %s failed: %s", "r1", exc, exc_info=True,
                  region="r1", error_type="ValueError", error=str(exc))
    (line,) = lines()
    assert line.fields == {"region": "r1", "error_type": "ValueError", "error": value}
    # The fields sit on the first line, before the sentence's other lines and the traceback.
    assert "| event=region_failed" in stream.getvalue().splitlines()[0]
    assert "Traceback (most recent call last)" in stream.getvalue()


def test_undeclared_events_fields_and_outcomes_are_refused(emitted):
    logger, lines, _ = emitted
    with pytest.raises(ValueError, match="undeclared log event 'task_begin'"):
        log_event(logger, logging.INFO, "task_begin", "task start")
    with pytest.raises(ValueError, match="no field.*duration"):
        log_event(logger, logging.INFO, "task_end", "task end", outcome="ok", duration=1.0)
    with pytest.raises(ValueError, match="outcome must be one of"):
        log_event(logger, logging.INFO, "task_end", "task end", outcome="fine")
    with pytest.raises(ValueError, match="no field"):  # refused even when nothing would be written
        log_event(logger, logging.DEBUG, "task_start", "task start", region="r1")
    assert lines() == []


def _a_day_of_events(logger, words: dict) -> None:
    """The events of two tasks, a failed region and a lost worker, in ``words``' sentences."""
    with run_context(RUN_ID):
        with task_context("forecast-k-r1", region="r1"):
            log_event(logger, logging.INFO, "task_start", words["start"])
            log_event(logger, logging.INFO, "task_end", words["ok"], 1.25, "gbm", outcome="ok", seconds=1.25, model="gbm")
        with task_context("forecast-k-r2", region="r2"):
            log_event(logger, logging.INFO, "task_start", words["start"])
            try:
                raise KeyError("r2")
            except KeyError as exc:
                log_event(logger, logging.ERROR, "task_end", words["failed"], 0.5, "KeyError", exc, exc_info=True,
                          outcome="failed", seconds=0.5, error_type="KeyError", error=str(exc))
        with task_context("forecast-k-r3", region="r3"):
            log_event(logger, logging.INFO, "task_start", words["start"])
        log_event(logger, logging.WARNING, "region_failed", words["region"], "r2", "KeyError", "'r2'", extra={"region": "r2"},
                  region="r2", error_type="KeyError", error="'r2'")
        log_event(logger, logging.WARNING, "worker_lost", words["lost"], "r3", extra={"region": "r3"}, region="r3",
                  worker="tcp://10.0.0.1:4000", tries=2, reason="1.1 GB of 1 GB physical memory used")


def _read(lines) -> tuple[list, dict]:
    tally = TaskTally()
    out = []
    for line in lines:
        tally.add(line, [], {"container": "c1"})
        out.append((line.level, line.logger, line.context, line.event, line.fields))
    return out, {"counts": tally.counts, "failures": tally.failures(), "slowest": tally.slowest(5),
                 "in_flight": tally.in_flight("c1"), "lost": tally.lost}


ORIGINAL = {"start": "task start", "ok": "task end: ok in %.2fs, model %s", "failed": "task end: failed after %.2fs: %s: %s",
            "region": "region %s failed: %s: %s", "lost": "region %s lost its worker"}
REWORDED = {"start": "commencing | event=task_end outcome=ok seconds=9", "ok": "finished fine (took %.1f seconds; winner %s)",
            "failed": "gave up after %.0fs (%s) -- %s", "region": "%s is broken (%s %s)", "lost": "%s: worker gone | sorry"}


def test_rewording_the_sentences_changes_nothing_the_reader_gets(emitted):
    logger, lines, _ = emitted
    _a_day_of_events(logger, ORIGINAL)
    original = lines()
    n = len(original)
    _a_day_of_events(logger, REWORDED)
    reworded = lines()[n:]
    assert [x.message for x in original] != [x.message for x in reworded]
    assert _read(original) == _read(reworded)
    fields, summary = _read(original)
    assert summary["counts"] == {"ok": 1, "failed": 1, "transient": 0}
    assert [(f["region"], f["error_type"], f["message"]) for f in summary["failures"]] == [("r2", "KeyError", "'r2'")]
    assert summary["in_flight"] == ["r3"] and summary["lost"][0]["tries"] == 2
    assert [(d["region"], d["model"], d["seconds"]) for d in summary["slowest"]] == [("r1", "gbm", 1.25), ("r2", "-", 0.5)]


def test_a_sentence_without_fields_is_not_read(emitted):
    """The reader takes fields only: the old wording alone counts for nothing."""
    logger, lines, _ = emitted
    with task_context("forecast-k-r1", region="r1"):
        logger.info("task start")
        logger.info("task end: ok in 1.00s, model gbm")
    tally = TaskTally()
    for line in lines():
        assert line.event is None and line.fields == {}
        tally.add(line, [], {"container": "c1"})
    assert tally.counts == {"ok": 0, "failed": 0, "transient": 0} and tally.durations == []


def test_the_real_call_sites_write_what_the_reader_reads(emitted, poisoned_cache, fast_config, tmp_path):
    """run_task's start and end, and the nightly driver's failed region, read back by their fields."""
    _, lines, stream = emitted
    package = logging.getLogger("forecasting")
    old_level = package.level
    package.setLevel(logging.INFO)
    for logger_name in ("forecasting.runs.tasks", "forecasting.runs.nightly", "forecasting.runs.loop"):
        logging.getLogger(logger_name).addHandler(make_handler(stream))
    try:
        run_task(RegionTask("r000", str(poisoned_cache), "2024-03-04", fast_config, RUN_ID))
        config = ForecastConfig.from_dict({"horizon": "7D", "models": {"seasonal_naive": {}}, "max_failed_fraction": 1.0})
        run_nightly(poisoned_cache, tmp_path, SerialExecutor(), config, regions=["r001"], run_date="2024-03-04")
    finally:
        package.setLevel(old_level)
        for logger_name in ("forecasting.runs.tasks", "forecasting.runs.nightly", "forecasting.runs.loop"):
            logger = logging.getLogger(logger_name)
            for handler in [h for h in logger.handlers if getattr(h, "stream", None) is stream]:
                logger.removeHandler(handler)
    events = [(x.event, x.context["region"], x.fields) for x in lines() if x.event]
    assert [e[:2] for e in events] == [("task_start", "r000"), ("task_end", "r000"), ("task_start", "r001"),
                                       ("task_end", "r001"), ("region_failed", "r001")]
    ok, failed, driver = events[1][2], events[3][2], events[4][2]
    assert ok["outcome"] == "ok" and re.fullmatch(r"seasonal_naive|gbm(\[.*\])?", ok["model"]) and ok["seconds"] > 0
    assert (failed["outcome"], failed["error_type"]) == ("failed", "RegionDataError")
    assert failed["error"] == "region 'r001': no order history before the run date 2024-03-04"
    assert driver == {"region": "r001", "error_type": "RegionDataError", "error": failed["error"]}
    tally = TaskTally()
    text = stream.getvalue().splitlines()
    for k, raw in enumerate(text):
        line = parse_line(raw)
        if line is not None:
            more = []
            for follow in text[k + 1:]:
                if parse_line(follow) is not None:
                    break
                more.append(follow)
            tally.add(line, more, {"container": "here"})
    (failure,) = tally.failures()
    assert failure["task"] != "-" and failure["traceback"][-1].startswith("forecasting.errors.RegionDataError")
