"""``forecasting logs`` on a live run: the stand-in's log folder and its Hadoop-wrapped forms.

The same run as the committed fixtures (tests/fixtures/yarn_logs/make_fixtures.py):
the real ``forecasting run --cluster yarn`` against the stand-in, one region
poisoned, one worker container SIGKILLed after its first task.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from forecasting import errors
from forecasting.cli import main
from forecasting.logs import LINE_RE
from test_yarn_run import packed_environment  # noqa: F401 - the session's packed virtualenv

pytestmark = [pytest.mark.yarn, pytest.mark.slow]

_MAKER = Path(__file__).resolve().parents[1] / "fixtures" / "yarn_logs" / "make_fixtures.py"


def _maker():
    spec = importlib.util.spec_from_file_location("make_fixtures", _MAKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_logs_of_a_live_run_with_a_poisoned_region_and_a_killed_worker(packed_environment, tmp_path, capsys):  # noqa: F811
    maker = _maker()
    run = maker.live_run(tmp_path, packed_environment)
    assert run["returncode"] == errors.EXIT_SOME_FAILED, run["driver_stderr"][-3000:]
    assert run["killed"], "no worker finished a task before the run ended"
    # Driver lines are in the same format as the containers' (app and container unknown there).
    driver = [LINE_RE.match(line) for line in run["driver_stderr"].splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert driver and all(driver)
    (run_id,) = {m["run"] for m in driver if m["run"] != "-"}

    (tmp_path / "hadoop3.log").write_text(maker.wrap_hadoop3(run["app_dir"]))
    (tmp_path / "hadoop2.log").write_text(maker.wrap_hadoop2(run["app_dir"]))
    summaries = []
    for source in (run["log_root"], run["app_dir"], tmp_path / "hadoop3.log", tmp_path / "hadoop2.log"):
        assert main(["logs", "--json", str(source)]) == errors.EXIT_OK
        summaries.append(json.loads(capsys.readouterr().out))
    for s in summaries:
        for c in s["containers"]:
            c["host"] = ""
    assert all(s == summaries[0] for s in summaries)
    summary = summaries[0]
    assert summary["application"]["id"] == run["app_id"] and summary["application"]["status"] == "SUCCEEDED"
    assert summary["runs"] == [run_id]
    assert [(f["region"], f["error_type"]) for f in summary["failed_regions"]] == [("r005", "RegionDataError")]
    assert [d["container"] for d in summary["dead_workers"]] == [run["killed"]]

    assert main(["logs", str(tmp_path / "hadoop2.log"), "--region", "r005"]) == errors.EXIT_OK
    out = capsys.readouterr().out
    assert "r005  RegionDataError" in out and "Traceback (most recent call last)" in out
