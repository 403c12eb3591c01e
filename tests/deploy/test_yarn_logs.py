"""``forecasting logs``: YARN's aggregated logs (Hadoop 2 and 3) and per-container folders.

The fixtures under ``tests/fixtures/yarn_logs/`` are what Hadoop 3.4.1's
``yarn logs -applicationId`` printed for real runs on the YARN mini cluster
(``make_fixtures.py`` there makes them again): ``hadoop3.log`` (8 regions,
``r005`` poisoned, one worker container SIGKILLed mid-run) and
``memory-kill.log`` (a region whose job outgrew its container, killed by the
NodeManager).  ``containers/`` holds the files the NodeManagers wrote for
the first run, copied from their log folders, and ``hadoop2.log`` the same
files in Hadoop 2's layout (re-wrapped: no Hadoop 2 runs here).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from forecasting import errors
from forecasting.cli.main import main
from deploy.yarn.aggregated import parse_aggregated, read_directory
from deploy.yarn.logs import records, summarize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yarn_logs"
(APP_DIR,) = (FIXTURES / "containers").iterdir()
APP_ID = APP_DIR.name


def _by_name(files) -> dict:
    return {(f.container, f.name): f.text.rstrip("\n") for f in files}


@pytest.fixture(scope="module")
def directory_files():
    app_id, files = read_directory(APP_DIR)
    assert app_id == APP_ID
    return _by_name(files)


def _log_lengths(text: str) -> dict:
    """(container, file) -> the LogLength Hadoop printed for it: the headers alone, read apart from the parser."""
    lengths, container, name = {}, None, None
    for line in text.splitlines():
        if line.startswith("Container: "):
            container = line.split()[1]
        elif line.startswith("LogType:"):
            name = line[len("LogType:"):]
        elif line.startswith("LogLength:"):
            lengths[(container, name)] = int(line[len("LogLength:"):])
    return lengths


def test_yarn_logs_text_gives_back_the_files_the_nodemanagers_wrote():
    # hadoop3.log is what Hadoop's `yarn logs` printed, containers/ what the
    # NodeManagers wrote (copied from their log folders): neither is ours.
    text = (FIXTURES / "hadoop3.log").read_text()
    files = _by_name(parse_aggregated(text))
    lengths = _log_lengths(text)
    written = {(c.name, f.name): f.read_bytes() for c in APP_DIR.iterdir() for f in c.iterdir()}
    assert set(files) == set(written) == set(lengths)
    for key, data in written.items():
        # Hadoop uploads a file as long as it was then; a process that outlives
        # its container (multiprocessing's resource tracker) may still add lines.
        assert files[key] == data[:lengths[key]].decode().rstrip("\n"), key
    grown = [key for key, data in written.items() if len(data) > lengths[key]]
    assert all(key[1] == "dask.worker.log" for key in grown)
    assert {f.host.split("_")[0] for f in parse_aggregated(text)} == {"localhost"}  # host_port of each NodeManager


def test_hadoop2_layout_gives_back_every_file_exactly(directory_files):
    # The NodeManagers' files in Hadoop 2's layout (re-wrapped: no Hadoop 2 runs here).
    assert _by_name(parse_aggregated((FIXTURES / "hadoop2.log").read_text())) == directory_files


def test_without_end_lines_the_log_length_or_the_next_header_ends_a_file(directory_files):
    text = (FIXTURES / "hadoop3.log").read_text()
    no_end = "\n".join(line for line in text.splitlines() if not line.startswith(("End of LogType:", "*****")))
    assert _by_name(parse_aggregated(no_end)) == _by_name(parse_aggregated(text))
    # Hadoop 2.6: no end lines; and a LogLength that no longer matches (a file cut short).
    text2 = re.sub(r"(?m)^End of LogType:.*\n", "", (FIXTURES / "hadoop2.log").read_text())
    text2 = re.sub(r"(?m)^LogLength:(\d+)$", lambda m: f"LogLength:{int(m[1]) * 3 + 10}", text2)
    assert _by_name(parse_aggregated(text2)) == directory_files


def test_the_summary_names_the_failed_region_the_dead_worker_and_the_outcome():
    summary = summarize(parse_aggregated((FIXTURES / "hadoop3.log").read_text()))
    assert summary["application"] == {"id": APP_ID, "status": "SUCCEEDED", "diagnostics": "Shutdown requested by user.",
                                      "source": "application master"}
    (failure,) = summary["failed_regions"]
    assert (failure["region"], failure["error_type"]) == ("r005", "RegionDataError")
    assert "no order history" in failure["message"]
    assert failure["traceback"][-1].startswith("forecasting.errors.RegionDataError: region 'r005'")
    assert sum(line.lstrip().startswith("File ") for line in failure["traceback"]) == 3
    services = {c["container"]: c["service"] for c in summary["containers"]}
    # Two workers and the killed one's replacement (skein restarts it; in the fixtures made before the
    # log events, the kill came as the run ended and the replacement never ran).
    assert sorted(services.values()) == ["application master", "dask.scheduler", "dask.worker", "dask.worker",
                                         "dask.worker"]
    (dead,) = summary["dead_workers"]
    assert services[dead["container"]] == "dask.worker" and dead["kind"] == "container failed"
    killed = next(c for c in summary["containers"] if c["container"] == dead["container"])
    assert killed["exit"].startswith("FAILED")
    assert len(summary["runs"]) == 1 and summary["tasks"]["failed"] == 1
    slow = [d["seconds"] for d in summary["slowest"]]
    assert slow == sorted(slow, reverse=True) and len({d["region"] for d in summary["slowest"]}) == len(slow)


def test_cli_text_region_and_json(capsys):
    assert main(["logs", str(FIXTURES / "hadoop2.log")]) == errors.EXIT_OK
    out = capsys.readouterr().out
    assert f"application {APP_ID}: SUCCEEDED" in out
    assert re.search(r"failed regions \(1\):\n  r005  RegionDataError: ", out)
    assert "workers that died (1):" in out and "slowest regions:" in out

    assert main(["logs", str(FIXTURES / "hadoop3.log"), "--region", "r005"]) == errors.EXIT_OK
    out = capsys.readouterr().out
    view = out[out.index("region r005:"):]
    assert "task start" in view and "task end: failed after" in view and "Traceback (most recent call last)" in view
    assert "region=r001" not in view and "r001" not in view.replace("r005", "")

    assert main(["logs", str(FIXTURES / "hadoop3.log"), "--json", "--region", "r005"]) == errors.EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert [f["region"] for f in data["failed_regions"]] == ["r005"]
    assert data["region"]["name"] == "r005" and data["region"]["failures"][0]["error_type"] == "RegionDataError"
    assert {line["container"] for line in data["region"]["lines"]} <= {c["container"] for c in data["containers"]}


def test_cli_stdin_and_directory_agree_with_the_file(capsys, monkeypatch):
    assert main(["logs", "--json", str(FIXTURES / "hadoop3.log")]) == errors.EXIT_OK
    from_file = json.loads(capsys.readouterr().out)
    monkeypatch.setattr("sys.stdin", io.StringIO((FIXTURES / "hadoop2.log").read_text()))
    assert main(["logs", "--json", "-"]) == errors.EXIT_OK
    assert json.loads(capsys.readouterr().out) == from_file
    hosts = {c["container"]: c["host"] for c in from_file["containers"]}
    for folder in (FIXTURES / "containers", APP_DIR):
        assert main(["logs", "--json", str(folder)]) == errors.EXIT_OK
        from_dir = json.loads(capsys.readouterr().out)
        for c in from_dir["containers"]:
            c["host"] = hosts[c["container"]]  # a folder does not say which node it was on
        assert from_dir == from_file


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: logs: ")
    return err[0]


def test_bad_sources_are_one_line_errors(capsys, tmp_path, monkeypatch):
    junk = tmp_path / "junk.txt"
    junk.write_text("this is not\nwhat yarn logs prints\n")
    assert main(["logs", str(junk)]) == errors.EXIT_USAGE
    assert "yarn logs -applicationId" in _one_line_error(capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["logs", "-"]) == errors.EXIT_USAGE
    assert "standard input" in _one_line_error(capsys)
    assert main(["logs", str(tmp_path / "missing.log")]) == errors.EXIT_USAGE
    _one_line_error(capsys)
    assert main(["logs", str(tmp_path)]) == errors.EXIT_USAGE  # a folder without container logs
    _one_line_error(capsys)
    monkeypatch.setenv("PATH", str(tmp_path))  # no 'yarn' here
    assert main(["logs", "application_1700000000000_0042"]) == errors.EXIT_CLUSTER
    assert "no 'yarn' command" in _one_line_error(capsys)


def test_an_application_id_runs_yarn_logs(capsys, tmp_path, monkeypatch):
    yarn = tmp_path / "yarn"
    yarn.write_text(f"#!/bin/sh\n[ \"$1 $2 $3\" = 'logs -applicationId {APP_ID}' ] || exit 9\ncat '{FIXTURES / 'hadoop3.log'}'\n")
    yarn.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert main(["logs", APP_ID]) == errors.EXIT_OK
    assert "r005  RegionDataError" in capsys.readouterr().out
    assert main(["logs", "application_1_2"]) == errors.EXIT_CLUSTER
    assert "exit 9" in _one_line_error(capsys)


# Lines as Hadoop 2's NodeManager and Dask's nanny word a memory kill, and as
# YARN words a preemption: wordings the mini cluster's runs do not produce
# (memory-kill.log below is a real Hadoop 3 memory kill).
DEATHS = """\
Container: container_1700000000000_0002_01_000003 on ip-10-0-0-12.ec2.internal_8041
LogAggregationType: AGGREGATED
==================================================================================
LogType:dask.worker.log
LogLastModifiedTime:Sat Nov 21 03:12:44 +0000 2026
LogLength:1
LogContents:
2026-11-21 03:10:01,000 INFO [app=application_1700000000000_0002 container=container_1700000000000_0002_01_000003 run=R] [region=r042 model=gbm] [task=forecast-R-r042] forecasting.runs.tasks: task start | event=task_start
2026-11-21 03:10:09,000 - distributed.worker.memory - WARNING - Worker tcp://10.0.0.12:40000 (pid=4242) exceeded 95% memory budget. Restarting...
2026-11-21 03:10:09,500 - distributed.nanny - INFO - Worker process 4242 was killed by signal 15
2026-11-21 03:10:10,000 - distributed.nanny - WARNING - Restarting worker
Container [pid=4200,containerID=container_1700000000000_0002_01_000003] is running beyond physical memory limits. Current usage: 6.1 GB of 6 GB physical memory used; killing container.
Container killed on request. Exit code is 137

End of LogType:dask.worker.log
**************************************************************************

Container: container_1700000000000_0002_01_000004 on ip-10-0-0-13.ec2.internal_8041
LogAggregationType: AGGREGATED
==================================================================================
LogType:dask.worker.log
LogLastModifiedTime:Sat Nov 21 03:12:44 +0000 2026
LogLength:200
LogContents:
Container preempted by scheduler
End of LogType:dask.worker.log
"""


def test_memory_kills_nanny_restarts_and_preemption_are_dead_workers():
    summary = summarize(parse_aggregated(DEATHS))
    kinds = [(d["container"][-6:], d["kind"]) for d in summary["dead_workers"]]
    assert kinds == [("000003", "memory"), ("000003", "died"), ("000003", "restarted"), ("000003", "memory"),
                     ("000003", "killed"), ("000004", "preempted")]
    assert summary["dead_workers"][0]["regions_in_flight"] == ["r042"]
    three = next(c for c in summary["containers"] if c["container"].endswith("000003"))
    assert three["service"] == "dask.worker" and three["exit"] == "exit code 137"
    assert summary["application"]["source"] == "inferred"
    assert [r.level for r in records(parse_aggregated(DEATHS)[0])][:2] == ["INFO", "WARNING"]


def test_a_real_memory_kill_names_the_killed_containers_and_their_region():
    summary = summarize(parse_aggregated((FIXTURES / "memory-kill.log").read_text()))
    memory = [d for d in summary["dead_workers"] if d["kind"] == "memory"]
    # The region killed two containers (allowed-failures 1), then the
    # scheduler gave up on it; nothing else died.
    assert len({d["container"] for d in memory}) == 2
    (gave_up,) = [d for d in summary["dead_workers"] if d["kind"] != "memory"]
    assert gave_up["service"] == "dask.scheduler" and "r002" in gave_up["detail"] and "2 workers died" in gave_up["detail"]
    assert all(d["service"] == "dask.worker" and "physical memory used" in d["detail"] for d in memory)
    assert all(d["regions_in_flight"] == ["r002"] for d in memory)
    exits = {c["container"]: c["exit"] for c in summary["containers"]}
    assert all(exits[d["container"]].startswith("FAILED: ") and "physical memory used" in exits[d["container"]]
               for d in memory)
    assert summary["application"]["status"] == "SUCCEEDED"
    assert [f["region"] for f in summary["failed_regions"]] == ["r005"]  # the poisoned region; r002 never ended


def test_a_local_runs_log_folder_is_read_like_yarns(tmp_path, poisoned_cache, capsys):
    """A local run writes driver/ and worker-<n>/ folders that 'forecasting logs' summarizes."""
    import json

    from forecasting.cli.main import main

    config = tmp_path / "c.yaml"
    config.write_text("forecasting:\n  horizon: 7D\n  models: [seasonal_naive]\n")
    logs = tmp_path / "logs"
    assert main(["run", "--cache", str(poisoned_cache), "--out", str(tmp_path / "out"), "--cluster", "local",
                 "--workers", "2", "--config", str(config), "--log-dir", str(logs)]) == 3
    assert (logs / "driver" / "driver.log").is_file()
    assert sorted(p.name for p in logs.glob("worker-*")) == ["worker-0", "worker-1"]
    capsys.readouterr()
    assert main(["logs", str(logs), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    services = {c["container"]: c["service"] for c in summary["containers"]}
    assert services == {"driver": "driver", "worker-0": "dask.worker", "worker-1": "dask.worker"}
    assert {f["region"] for f in summary["failed_regions"]} == {"r001", "r004"}
    assert all(f["error_type"] == "RegionDataError" for f in summary["failed_regions"])


def test_runs_write_their_logs_under_out_by_default(tmp_path, poisoned_cache):
    from forecasting.cli.main import main

    out = tmp_path / "out"
    assert main(["run", "--cache", str(poisoned_cache), "--out", str(out), "--cluster", "serial", "--regions", "r000,r001",
                 "--horizon", "7D", "--models", "seasonal_naive", "--max-failed-fraction", "0.5"]) == 1
    (folder,) = (out / "logs").iterdir()
    text = (folder / "driver" / "driver.log").read_text()  # (pytest keeps the root level at WARNING)
    assert "[region=r001" in text and "RegionDataError" in text and "[region=r000" not in text
