"""``forecasting logs`` on logs it did not write: distributed's default format and YARN's diagnostics.

The fixtures under ``tests/fixtures/yarn_logs/default-format/`` are the real
standard error of a hand-started ``dask scheduler`` and six ``dask worker``
processes that none of our logging touched (``make_default_format_fixtures.py``
there makes them again and says what each task did): three tasks that
raised (``Compute Failed``), one that SIGKILLed its worker, one that grew
until its nanny restarted the worker, each given up by the scheduler.  The
application master's file beside them reports how YARN ended three more
containers, in Hadoop's words.  The same files come as a log folder and in
Hadoop 3's and Hadoop 2's ``yarn logs`` layouts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from forecasting import errors
from forecasting.cli.main import main
from deploy.yarn.aggregated import parse_aggregated, read_directory
from deploy.yarn.logs import records, summarize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yarn_logs" / "default-format"
(APP_DIR,) = (FIXTURES / "containers").iterdir()
APP_ID = APP_DIR.name
# The run id the generator gave its forecast tasks' keys (make_default_format_fixtures.RUN_ID).
RUN_ID = "2026-12-02-061600-5e1f0a"
SOURCES = [FIXTURES / "hadoop3.log", FIXTURES / "hadoop2.log", FIXTURES / "containers"]


def _files(source: Path) -> list:
    return read_directory(source)[1] if source.is_dir() else parse_aggregated(source.read_text())


def _container(n: int) -> str:
    return re.sub(r"^application_", "container_", APP_ID) + f"_01_{n:06d}"


@pytest.fixture(scope="module", params=SOURCES, ids=lambda p: p.name)
def summary(request):
    return summarize(_files(request.param))


def test_the_hadoop_layouts_give_back_the_files_the_processes_wrote():
    written = {(c.name, f.name): f.read_text().rstrip("\n") for c in APP_DIR.iterdir() for f in c.iterdir()}
    for source in SOURCES[:2]:
        assert {(f.container, f.name): f.text.rstrip("\n") for f in _files(source)} == written, source.name


def test_distributed_default_lines_are_records_and_every_line_is_read():
    (scheduler,) = [f for f in _files(APP_DIR) if f.name == "dask.scheduler.log"]
    recs = records(scheduler)
    lines = scheduler.text.splitlines()
    # One record per line that starts with a time; the rest continue one.
    assert len(recs) == sum(line[:4].isdigit() for line in lines) > 10
    assert all(r.logger.startswith("distributed.") and r.level in ("INFO", "WARNING", "ERROR") for r in recs)
    assert [r.time for r in recs] == sorted(r.time for r in recs)
    assert not any(r.fields or r.event for r in recs)  # none of ours
    assert sum(r.level == "ERROR" for r in recs) == 2  # the two given-up tasks
    for source in SOURCES:
        assert summarize(_files(source))["unknown_lines"] == 0, source.name


def test_compute_failed_records_are_failed_regions(summary):
    failed = {f["region"]: f for f in summary["failed_regions"]}
    # The region from our task keys (forecast-<run>-<region>, the backtest's) or, for a key of no region, the message.
    assert set(failed) == {"r003", "r004", "r009"}
    assert failed["r003"]["task"] == f"forecast-{RUN_ID}-r003" and failed["r003"]["run"] == RUN_ID
    assert failed["r004"]["task"].startswith("backtest-") and failed["r004"]["model"] == "seasonal_naive"
    assert failed["r004"]["run"] in failed["r004"]["task"] and failed["r004"]["run"].startswith("bt-")
    assert failed["r009"]["task"] == "check-cache-77aa01" and failed["r009"]["run"] == "-"
    for region, f in failed.items():
        assert f["error_type"] == "RegionDataError"
        assert f["message"].startswith(f"region '{region}': not in the cache ")
        assert f["container"] == _container(3) and f["service"] == "dask.worker"
        # The last frames, down to the line that raised in our cache reader, then the exception.
        assert f["traceback"][-1] == f"RegionDataError: {f['message']}"
        frames = [line for line in f["traceback"] if line.lstrip().startswith("File ")]
        assert frames and "forecasting/data/cache.py" in frames[-1] and "in load_region" in frames[-1]
    assert summary["tasks"]["failed"] == 3
    assert set(summary["runs"]) == {RUN_ID, failed["r004"]["run"]}


def test_dead_workers_in_dasks_and_yarns_words(summary):
    dead = {}
    for d in summary["dead_workers"]:
        dead.setdefault(d["container"], []).append(d)
    # The scheduler gave up on the task of each worker that died under it, and names its region.
    gave_up = dead.pop(_container(2))
    assert [(d["kind"], d["regions_in_flight"]) for d in gave_up] == [("killed", ["r007"]), ("killed", ["r005"])]
    assert all("marked as failed because 1 workers died" in d["detail"] for d in gave_up)
    kinds = {c: [d["kind"] for d in ds] for c, ds in dead.items()}
    assert kinds[_container(4)][0] == "died" and "killed by signal 9" in dead[_container(4)][0]["detail"]
    assert kinds[_container(5)][0] == "memory" and "exceeded 95% memory budget" in dead[_container(5)][0]["detail"]
    assert "killed by signal 15" in dead[_container(5)][1]["detail"]  # the nanny's restart
    # YARN's ends, as the application master reports them: Hadoop 3's and Hadoop 2's memory kills, a preemption.
    assert [kinds[_container(n)] for n in (6, 7, 8)] == [["memory"], ["memory"], ["preempted"]]
    assert "beyond the 'PHYSICAL' memory limit" in dead[_container(6)][0]["detail"]
    assert "running beyond physical memory limits" in dead[_container(7)][0]["detail"]
    assert _container(3) not in dead  # its tasks raised; the worker lived
    exits = {c["container"]: c["exit"] for c in summary["containers"]}
    assert exits[_container(6)].startswith("FAILED: ") and exits[_container(6)].endswith("(exit code 143)")
    assert exits[_container(7)].endswith("(exit code 137)")
    assert exits[_container(8)] == "FAILED: Container preempted by scheduler"
    assert exits[_container(1)] == "-"  # the exit codes it reports are the other containers'
    services = {c["container"]: c["service"] for c in summary["containers"]}
    assert services[_container(1)] == "application master" and services[_container(2)] == "dask.scheduler"
    assert {services[_container(n)] for n in range(3, 9)} == {"dask.worker"}
    assert summary["application"]["id"] == APP_ID


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_region_finds_a_region_wherever_a_record_names_it(source, capsys):
    assert main(["logs", str(source), "--json", "--region", "r003"]) == errors.EXIT_OK
    view = json.loads(capsys.readouterr().out)["region"]
    # The Compute Failed record names r003 on its continuation lines only (the key, the exception).
    (line,) = view["lines"]
    assert line["message"] == "Compute Failed" and f"Key:       forecast-{RUN_ID}-r003" in line["more"]
    assert [f["task"] for f in view["failures"]] == [f"forecast-{RUN_ID}-r003"]
    assert main(["logs", str(source), "--json", "--region", "r009"]) == errors.EXIT_OK
    view = json.loads(capsys.readouterr().out)["region"]
    assert [x["more"][0] for x in view["lines"]] == ["Key:       check-cache-77aa01"]  # named in the message only
    assert main(["logs", str(source), "--region", "r007"]) == errors.EXIT_OK
    out = capsys.readouterr().out
    told = out[out.index("region r007:"):]
    assert "distributed.scheduler: Task forecast-" in told and "marked as failed" in told and "r003" not in told


def test_the_text_tells_the_failures_deaths_and_unknown_lines(capsys):
    assert main(["logs", str(FIXTURES / "hadoop3.log")]) == errors.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"application {APP_ID}: SUCCEEDED")
    assert "tasks: 0 ok, 3 failed" in out and "unknown lines: 0" in out
    assert "failed regions (3):\n  r003  RegionDataError: region 'r003'" in out
    assert "running then: r007" in out and "preempted: dask.worker_5: Container preempted by scheduler" in out


def test_unknown_lines_are_counted_never_fatal(tmp_path, capsys):
    folder = tmp_path / "logs"
    shutil.copytree(APP_DIR, folder / APP_DIR.name)
    assert main(["logs", "--json", str(folder)]) == errors.EXIT_OK
    before = json.loads(capsys.readouterr().out)
    log = folder / APP_DIR.name / _container(3) / "dask.worker.log"
    lines = log.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Traceback:"))
    # Lines no format we know: before the first record, inside the Compute Failed record, at the end.
    junk = ["#### not a log line", "ZZZZ also not", "}}} nor this"]
    log.write_text("\n".join([junk[0], *lines[:at], junk[1], *lines[at:], junk[2]]) + "\n")
    assert main(["logs", "--json", str(folder)]) == errors.EXIT_OK
    after = json.loads(capsys.readouterr().out)
    assert after["unknown_lines"] == before["unknown_lines"] + 3 == 3
    assert {c["container"]: c["unknown_lines"] for c in after["containers"] if c["unknown_lines"]} == {_container(3): 3}
    # Read around: the same failures, deaths and outcome.
    for key in ("application", "failed_regions", "dead_workers", "tasks"):
        assert after[key] == before[key], key
    assert main(["logs", str(folder)]) == errors.EXIT_OK
    assert "unknown lines: 3" in capsys.readouterr().out


def test_a_compute_failed_record_in_our_format_is_read_the_same(tmp_path, synthetic_cache, capsys):
    """A task that raised past our task wrapper, on a real local cluster with our logging: Dask's record, our prefix."""
    from deploy.clusters import open_executor
    from forecasting.logs.reader import parse_line

    def load(path, region):  # pickled by value: the workers cannot import this test module
        from forecasting.data.cache import open_cache

        return open_cache(path).load_region(region)

    logs = tmp_path / "logs"
    with open_executor("local", workers=1, log_dir=str(logs)) as executor:
        future = executor.client.submit(load, str(synthetic_cache), "r042", key=f"forecast-{RUN_ID}-r042")
        assert type(future.exception()).__name__ == "RegionDataError"
    (log,) = logs.glob("worker-*/dask.worker.log")
    lines = log.read_text().splitlines()
    first = next(parse_line(line) for line in lines if line.endswith(": Compute Failed"))
    assert first is not None and first.logger == "distributed.worker"  # our format's prefix
    assert main(["logs", "--json", str(logs), "--region", "r042"]) == errors.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    (failure,) = summary["failed_regions"]
    assert (failure["region"], failure["run"], failure["error_type"]) == ("r042", RUN_ID, "RegionDataError")
    assert "in load_region" in failure["traceback"][-3] and failure["traceback"][-1].endswith(failure["message"])
    assert summary["region"]["lines"][0]["message"] == "Compute Failed" and summary["unknown_lines"] == 0


def test_a_container_that_left_no_log_is_still_told_dead(tmp_path):
    # YARN may end a container before it writes a line (preempted while starting): only the application master tells.
    shutil.copytree(APP_DIR, tmp_path / APP_DIR.name)
    shutil.rmtree(tmp_path / APP_DIR.name / _container(8))
    summary = summarize(read_directory(tmp_path)[1])
    assert _container(8) not in {c["container"] for c in summary["containers"]}
    (gone,) = [d for d in summary["dead_workers"] if d["container"] == _container(8)]
    assert (gone["kind"], gone["service"]) == ("preempted", "dask.worker") and "preempted by scheduler" in gone["detail"]
