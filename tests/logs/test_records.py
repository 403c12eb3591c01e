"""One log line format: driver, serial runs and workers write the same fields."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.models.spec import ModelSpec
from forecasting.runs.outcomes import RegionFailure
from forecasting.runs.tasks import BacktestTask, RegionTask, run_task
from forecasting.logs.records import LINE_RE, log_scope, make_handler, run_context, set_run_id, task_context, task_fields

RUN_ID = "2024-03-04-101500-abc123"


@pytest.fixture
def captured():
    """Records of the ``forecasting`` loggers, in our format, in a string."""
    stream = io.StringIO()
    handler = make_handler(stream)
    logger = logging.getLogger("forecasting")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _lines(stream) -> list[dict]:
    return [m.groupdict() for m in map(LINE_RE.match, stream.getvalue().splitlines()) if m]


def test_fields_come_from_the_context_and_the_environment(captured, monkeypatch):
    monkeypatch.setenv("SKEIN_APPLICATION_ID", "application_1700000000000_0001")
    monkeypatch.setenv("CONTAINER_ID", "container_1700000000000_0001_01_000002")
    stream = io.StringIO()
    log = logging.getLogger("forecasting.test")
    handler = make_handler(stream)  # reads the environment when made
    log.addHandler(handler)
    try:
        log.info("outside")
        with run_context(RUN_ID):
            log.info("driver")
            with task_context("forecast-k-new york", region="new york", model="combination(a + b)"):
                log.warning("inside")
                log.warning("told", extra={"region": "r009"})
        log.info("after")
    finally:
        log.removeHandler(handler)
    lines = [LINE_RE.match(line) for line in stream.getvalue().splitlines()]
    assert all(lines), stream.getvalue()
    outside, driver, inside, told, after = (m.groupdict() for m in lines)
    assert outside["run"] == "-" and outside["region"] == "-" and outside["task"] == "-"
    assert outside["app"] == "application_1700000000000_0001" and outside["container"].endswith("_000002")
    assert driver["run"] == RUN_ID and driver["region"] == "-"
    # No spaces in fields, so that the line splits back unambiguously.
    assert (inside["region"], inside["model"], inside["task"]) == ("new_york", "combination(a_+_b)", "forecast-k-new_york")
    assert inside["logger"] == "forecasting.test" and inside["message"] == "inside"
    assert told["region"] == "r009"
    assert after["run"] == "-"


def test_log_scope_ends_the_run_id_with_the_call(captured):
    @log_scope
    def run():
        set_run_id(RUN_ID)
        logging.getLogger("forecasting.test").info("in the run")

    run()
    logging.getLogger("forecasting.test").info("after the run")
    inside, after = _lines(captured)
    assert inside["run"] == RUN_ID and after["run"] == "-"


def test_task_fields_of_both_task_kinds():
    single = ForecastConfig.from_dict({"models": {"gbm": {"max_iter": 30}}})
    several = ForecastConfig.from_dict({"models": {"seasonal_naive": {}, "gbm": {}}})
    assert task_fields(RegionTask("r001", "c.sqlite", "2024-03-04", single, RUN_ID)) == {
        "region": "r001", "model": "gbm[max_iter=30]", "run_id": RUN_ID}
    assert task_fields(RegionTask("r001", "c.sqlite", "2024-03-04", several, RUN_ID))["model"] is None
    bt = BacktestTask("r002", "c.sqlite", ModelSpec("mstl"), "2024-01-01", single, "bt-0123456789ab")
    assert task_fields(bt) == {"region": "r002", "model": "mstl", "run_id": "bt-0123456789ab"}


def test_a_task_logs_start_end_duration_and_a_failure_once(captured, poisoned_cache, fast_config):
    ok = run_task(RegionTask("r000", str(poisoned_cache), "2024-03-04", fast_config, RUN_ID))
    bad = run_task(RegionTask("r001", str(poisoned_cache), "2024-03-04", fast_config, RUN_ID))
    assert ok.ok and isinstance(bad, RegionFailure)
    lines = _lines(captured)
    assert [(x["region"], x["message"].split(":")[0]) for x in lines] == [
        ("r000", "task start"), ("r000", "task end"), ("r001", "task start"), ("r001", "task end")]
    assert all(x["run"] == RUN_ID and x["task"] == f"forecast-{RUN_ID}-{x['region']}" for x in lines)
    assert re.fullmatch(r"task end: ok in \d+\.\d\ds, model (seasonal_naive|gbm(\[.*\])?)", lines[1]["message"])
    assert re.match(r"task end: failed after \d+\.\d\ds: RegionDataError: region 'r001': no order history", lines[3]["message"])
    assert lines[3]["level"] == "ERROR"
    text = captured.getvalue()
    assert text.count("Traceback (most recent call last)") == 1
    assert text.rstrip().endswith("RegionDataError: region 'r001': no order history before the run date 2024-03-04")


# -- the real command: driver, serial and worker lines ------------------------------------------------------------


def _cli(*args, cwd) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "forecasting"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """``forecasting cache build --synthetic --regions 3 --days 60``, with r001 poisoned."""
    import sqlite3

    folder = tmp_path_factory.mktemp("tiny")
    assert _cli("cache", "build", "--synthetic", "--regions", "3", "--days", "60", "--out", "c.sqlite", cwd=folder).returncode == 0
    with sqlite3.connect(folder / "c.sqlite") as conn:
        conn.execute("UPDATE orders SET orders = NULL WHERE region = 'r001'")
    conn.close()
    return folder / "c.sqlite"


@pytest.mark.parametrize("cluster", ["serial", "local"])
def test_driver_serial_and_worker_lines_share_the_format(tiny_cache, tmp_path, cluster):
    proc = _cli("run", "--cache", str(tiny_cache), "--out", str(tmp_path), "--cluster", cluster, "--workers", "1",
                "--models", "seasonal_naive", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr  # one region of three failed
    run_id = re.search(r"^run (\S+) ", proc.stdout, re.M)[1]
    starts = [line for line in proc.stderr.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    parsed = [LINE_RE.match(line) for line in starts]
    assert starts and all(parsed), [s for s, p in zip(starts, parsed) if not p]
    fields = [m.groupdict() for m in parsed]
    tasks = [f for f in fields if f["logger"] == "forecasting.runs.tasks"]
    assert sorted((f["region"], f["message"].split(":")[0]) for f in tasks) == sorted(
        (r, m) for r in ("r000", "r001", "r002") for m in ("task start", "task end"))
    # The run id reaches the task lines, also in worker processes.
    assert {f["run"] for f in tasks} == {run_id}
    assert {f["model"] for f in tasks} == {"seasonal_naive"}
    driver = [f for f in fields if f["logger"] in ("forecasting.runs.nightly", "forecasting.runs.loop")]
    assert driver and {f["run"] for f in driver} == {run_id}
    (warning,) = [f for f in driver if f["level"] == "WARNING"]
    assert warning["region"] == "r001" and warning["message"].startswith("region r001 failed: RegionDataError")
    # The traceback once (the worker's), none from the driver.
    assert proc.stderr.count("Traceback (most recent call last)") == 1
