"""The benchmarks (``python -m bench``) at tiny sizes: every tool runs, tables and JSON have their shape.

Timings taken here mean nothing; what is checked is that each peer, mode and
measurement runs for real (no mocks: real process pools, real Dask clusters,
real PySpark where installed, Hadoop's YARN mini cluster in the yarn tests), that
rows, targets and BENCHMARKS.md sections come out as documented, and that a
tool that cannot start is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(REPO))

from bench import digits, everything, measure, overheads, report  # noqa: E402

ROW_KEYS = {"workload", "tool", "workers", "status", "reason", "startup_s", "wall_s", "wall_with_startup_s", "cpu_util",
            "speedup", "speedup_with_startup", "efficiency", "runs"}


def _skeleton(tmp_path) -> Path:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n<!-- peers:start -->\nplaceholder\n<!-- peers:end -->\n\n## Notes kept\n")
    return path


def test_rows_speedups_table_and_plot(tmp_path):
    fast = measure.make_row("w", "serial", 1, [{"startup_s": None, "wall_s": 4.0, "cpu_util": 0.5},
                                               {"startup_s": None, "wall_s": 6.0, "cpu_util": 0.5}])
    two = measure.make_row("w", "pool", 2, [{"startup_s": 1.0, "wall_s": 2.0, "cpu_util": 0.9}])
    gone = measure.skipped("w", "spark", 2, "pyspark is not installed")
    rows = measure.add_speedups([fast, two, gone])
    assert all(ROW_KEYS <= set(r) for r in rows)
    assert fast["wall_s"] == 5.0 and two["speedup"] == 2.5 and two["efficiency"] == 1.25
    assert two["speedup_with_startup"] == round(5.0 / 3.0, 3)
    assert gone["status"] == "skipped" and gone["speedup"] is None
    table = report.markdown_table(rows)
    assert table.count("\n") == 4 and "SKIPPED: pyspark is not installed" in table
    png = report.plot_speedups(rows, tmp_path / "x.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stopwatch_counts_cpu_of_child_processes():
    import subprocess

    with measure.Stopwatch() as sw:
        subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert sw.wall > 0 and sw.cpu > 0.05  # the child's CPU, reaped, is counted
    assert 0 < sw.util <= 1.5


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_every_peer_but_spark_at_tiny_size_and_the_section_it_writes(tmp_path):
    r = digits.main(repeats=1, n_params=2, n_splits=2, workers=2,
                    peers=("serial", "processpool", "joblib", "dask.bag", "engine"))
    assert r["tasks"] == 4
    by = {row["key"]: row for row in r["rows"]}
    assert list(by) == ["serial", "processpool", "joblib", "dask.bag", "engine"]
    for key, row in by.items():
        assert ROW_KEYS <= set(row) and row["status"] == "ok", row
        assert row["wall_s"] > 0 and row["speedup"] > 0 and row["cpu_util"] > 0
        assert (row["startup_s"] is None) == (key == "serial")
    # Whatever this machine measured, each verdict follows from the row numbers.
    targets = {t["target"].split(" (")[0]: t for t in r["targets"]}
    speedup = by["engine"]["speedup"]
    _follows(targets["digits: engine speed-up >= 1.8"], speedup >= 1.8, speedup)
    best = min(("processpool", "joblib", "dask.bag"), key=lambda k: by[k]["wall_s"])
    ratio = round(by["engine"]["wall_s"] / by[best]["wall_s"], 3)
    fastest = targets["digits: engine within 3% of the fastest peer"]
    assert f"({by[best]['tool']})" in fastest["target"]
    _follows(fastest, ratio <= 1.03, ratio)
    md = _skeleton(tmp_path)
    digits.write(r, "python -m bench peers --quick", benchmarks=md, results=tmp_path / "results")
    text = md.read_text()
    assert "placeholder" not in text and "## Notes kept" in text
    assert "Command: `python -m bench peers --quick`" in text and "this engine (DaskExecutor.run" in text
    saved = json.loads((tmp_path / "results" / "peers.json").read_text())
    assert [row["key"] for row in saved["rows"]] == list(by)
    assert (tmp_path / "results" / "peers-speedup.png").exists()


def _follows(target, ok, value):
    """The target's verdict is the one its value gives: PASS when met, MISSED (by ...) otherwise."""
    assert target["value"] == value and target["ok"] is ok
    assert target["result"] == "PASS" if ok else target["result"].startswith("MISSED (by ")


def _rows(**walls):
    """Rows of one workload, serial first, with their speed-ups over it."""
    return measure.add_speedups([dict(measure.make_row("w", tool, 1 if tool == "serial" else 2,
                                                       [{"startup_s": None, "wall_s": wall, "cpu_util": 1.0}]), key=tool)
                                 for tool, wall in walls.items()])


@pytest.mark.parametrize("engine_s, met", [(2.0, True), (2.5, False)])
def test_digits_targets_are_met_exactly_when_the_numbers_beat_them(engine_s, met):
    # serial 4 s, joblib 2 s: an engine at 2 s has speed-up 2.0 and matches joblib; at 2.5 s, 1.6 and 25 % slower.
    speedup, within = digits.targets(_rows(serial=4.0, joblib=2.0, engine=engine_s))
    _follows(speedup, met, 4.0 / engine_s)
    _follows(within, met, engine_s / 2.0)
    assert "(joblib)" in within["target"]
    if not met:
        assert speedup["result"] == "MISSED (by 0.20)" and within["result"].startswith("MISSED (by 22.0 points")


@pytest.mark.parametrize("overhead_ms, read_over_fit, first_s, met", [
    (1.9, 0.049, 1.9, [True, True, True]), (2.0, 0.05, 2.0, [False, False, False]), (1.0, 0.2, 2.5, [True, False, False])])
def test_overhead_targets_are_met_exactly_when_the_numbers_beat_them(overhead_ms, read_over_fit, first_s, met):
    got = overheads.targets({"per_task": {"per_task_worker_ms": overhead_ms}, "data": {"read_over_fit": read_over_fit},
                             "first_task": {"first_result_s": first_s}})
    for target, value, ok in zip(got, (overhead_ms, read_over_fit, first_s), met, strict=True):
        _follows(target, ok, value)


def test_nightly_targets_follow_speedup_and_memory():
    from bench import nightly

    rows = _rows(serial=10.0, local2=5.2, yarn=6.0)
    rows[1]["speedup_with_startup"] = 1.79  # as if its start-up took a while
    rows[1]["peak_worker_rss_mib"], rows[2]["peak_worker_rss_mib"] = 900, 1600
    local2, local2_whole, yarn, yarn_whole, memory = nightly.targets(rows, workers=2)
    _follows(local2, True, round(10.0 / 5.2, 3))  # 1.923 >= 1.9
    _follows(local2_whole, False, 1.79)  # < 1.8
    assert "compute only >= 1.9" in local2["target"] and "with start-up >= 1.8" in local2_whole["target"]
    _follows(yarn, False, round(10.0 / 6.0, 3))
    _follows(yarn_whole, False, round(10.0 / 6.0, 3))
    _follows(memory, False, 1600)  # the largest peak counts


def test_a_peer_that_cannot_start_is_reported_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if not installed
    r = digits.main(repeats=1, n_params=2, n_splits=2, workers=2, peers=("serial", "pyspark"))
    spark = r["rows"][1]
    assert spark["status"] == "skipped" and "pyspark is not installed" in spark["reason"]
    assert spark["wall_s"] is None and spark["runs"] == []
    assert "SKIPPED: pyspark is not installed (pip install .[bench])" in report.markdown_table(r["rows"])
    assert r["targets"][0]["result"] == "not measured"  # the engine did not run either


def test_unknown_peer_is_refused():
    with pytest.raises(ValueError, match="unknown peers"):
        digits.main(repeats=1, n_params=2, peers=("serial", "ray"))


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_engine_overheads_per_task_and_first_task():
    p = overheads.per_task(n_tasks=20, workers=2, repeats=1, roundtrips=3)
    assert p["per_task_worker_ms"] > 0 and p["per_task_wall_ms"] > 0 and p["run_task_wrapper_ms"] > 0
    assert p["per_task_worker_ms_bare_fn"] > 0 and p["roundtrip_ms"] > 0
    assert p["per_task_worker_ms_one_dask_task_each"] > 0
    f = overheads.first_task(workers=2, repeats=1)
    assert 0 < f["cluster_start_s"] < f["first_result_s"]


@pytest.mark.slow
def test_pyspark_at_tiny_size():
    reason = digits.spark_unavailable()
    if reason:
        pytest.skip(reason)
    r = digits.main(repeats=1, n_params=2, n_splits=2, workers=2, peers=("serial", "pyspark", "engine"))
    assert [row["status"] for row in r["rows"]] == ["ok", "ok", "ok"]
    assert any(t["target"] == "digits: engine faster than PySpark" for t in r["targets"])


@pytest.mark.slow
def test_overheads_data_cost_and_section(tmp_path):
    r = overheads.main(n_tasks=20, workers=2, repeats=1, regions=1, days=60)
    (region,) = r["data"]["per_region"]
    assert region["fit_s"] > 0 and region["read_in_worker_ms"] > 0 and region["pickled_kib"] > 0
    overhead, reading, first = r["targets"]
    _follows(overhead, r["per_task"]["per_task_worker_ms"] < 2, r["per_task"]["per_task_worker_ms"])
    _follows(first, r["first_task"]["first_result_s"] < 2, r["first_task"]["first_result_s"])
    _follows(reading, r["data"]["read_over_fit"] < 0.05, r["data"]["read_over_fit"])
    md = tmp_path / "BENCHMARKS.md"
    overheads.write(r, "python -m bench overheads --quick", benchmarks=md, results=tmp_path)
    assert "<!-- overheads:start -->" in md.read_text() and "per-task overhead" in md.read_text()
    assert "idle cluster: CPU of the driver process" in md.read_text()


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_idle_cluster_cpu_is_measured_per_process():
    from bench.measure import cores

    # 3 s: the kernel counts CPU in 10 ms ticks, and over 1 s an idle driver once showed none.
    i = overheads.idle_cpu(workers=2, seconds=3.0)
    # The driver hosts the scheduler, whose periodic callbacks never stop: some CPU, measured, not zero.
    assert i["driver_cpu_s_per_10s"] > 0 and i["worker_cpu_s_per_10s"] >= 0
    # The share is the driver's and both workers' CPU (two workers: twice their median) over all cores.
    expected = (i["driver_cpu_s_per_10s"] + 2 * i["worker_cpu_s_per_10s"]) / (10 * cores())
    assert i["share_of_cores"] == pytest.approx(expected, abs=2e-4) and i["share_of_cores"] < 1  # idle: not a core's worth


def test_repeats_take_turns_going_first():
    from bench.measure import rotated

    tools = ["serial", "pyspark", "engine"]
    firsts = [rotated(tools, rep)[0] for rep in range(3)]
    assert sorted(firsts) == sorted(tools)
    assert all(sorted(rotated(tools, rep)) == sorted(tools) for rep in range(5))


def test_waiting_for_a_quiet_machine_gives_up_in_time():
    from bench.measure import wait_until_idle

    # Never quiet (no CPU use is below -1 %): it gives up, having waited its max_wait_s and no more samples
    # than that takes (a test timeout catches a wait that never ends).
    assert wait_until_idle(threshold=-1, sample_s=0.1, max_wait_s=0.3) >= 0.3


def test_waiting_for_a_quiet_machine_stops_once_it_is_quiet():
    from bench.measure import wait_until_idle

    # Always quiet (every CPU use is below 101 %): one sample, long before it would give up.
    assert 0.1 <= wait_until_idle(threshold=101, sample_s=0.1, max_wait_s=60) < 60


@pytest.mark.slow
def test_all_quick_without_yarn_writes_every_section(tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    out = everything.main(workers=2, quick=True, skip=("peers",), write=True, command="python -m bench all --quick",
                          benchmarks=md, results=tmp_path, nightly_modes=("serial", "local2"))
    text = md.read_text()
    for section in ("nightly", "backtest", "overheads", "comparison"):
        assert f"<!-- {section}:start -->" in text
    assert {r["workload"].split(" (")[0] for r in out["rows"]} == {"nightly", "backtest"}
    assert (tmp_path / "all-speedup.png").exists() and (tmp_path / "all.json").exists()


@pytest.mark.yarn
@pytest.mark.timeout(1200)  # packs the environment, starts a cluster, warms its public cache
def test_nightly_on_the_yarn_mini_cluster(tmp_path):
    from bench import nightly

    r = nightly.main(regions=2, days=60, repeat=1, workers=2, write=False, modes=("serial", "yarn"))
    yarn = r["rows"][1]
    assert yarn["status"] == "ok", yarn["reason"]
    assert yarn["startup_s"] > 0 and yarn["speedup"] > 0 and yarn["peak_worker_rss_mib"] > 0


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_whole_command_quick_runs_end_to_end_and_writes_its_section(tmp_path):
    from bench import command

    md = tmp_path / "BENCHMARKS.md"
    md.write_text((REPO / "BENCHMARKS.md").read_text())
    r = command.main(regions=2, days=60, repeats=1, workers=2, write=True, command="python -m bench command --quick",
                     benchmarks=md, results=tmp_path / "results", idle_wait_s=0)
    serial, local = r["rows"]
    assert [serial["key"], local["key"]] == ["serial", "local"]
    assert serial["status"] == local["status"] == "ok", (serial["reason"], local["reason"])
    assert local["speedup"] == round(serial["wall_s"] / local["wall_s"], 3) and 0 < local["cpu_util"]
    s = local["startup"]
    # Each milestone of the local command is reached, in the order the command goes through them.
    order = ["cli_start_s", "cli_parsed_s", "planned_s", "cluster_started_s", "cluster_ready_s", "first_task_s",
             "first_result_s", "exit_s"]
    assert all(s[k] is not None for k in order), s
    assert [s[k] for k in order] == sorted(s[k] for k in order)
    assert s["cluster_started_s"] < s["workers_preloaded_s"] < s["exit_s"]  # the workers preloaded the models
    assert serial["startup"]["cluster_started_s"] is None and serial["startup"]["first_result_s"] is not None
    (target,) = r["targets"]
    _follows(target, local["speedup"] >= 1.8, local["speedup"])
    text = md.read_text()
    assert text.count("<!-- command:start -->") == 1 and "Command: `python -m bench command --quick`" in text
    assert "<!-- nightly:start -->" in text and "<!-- overheads:end -->" in text  # the other sections are kept
    assert "| first task running" in text and "`--cluster local --workers 2`" in text
    saved = json.loads((tmp_path / "results" / "command.json").read_text())
    assert [row["key"] for row in saved["rows"]] == ["serial", "local"]


@pytest.mark.parametrize("serial_s, local_s, met", [(10.0, 5.0, True), (9.0, 5.0, True), (10.0, 6.0, False)])
def test_whole_command_target_follows_the_numbers(serial_s, local_s, met):
    from bench import command

    rows = command.add_speedups([command.summarise("serial", 2, [_command_run(serial_s)]),
                                 command.summarise("local", 2, [_command_run(local_s)])])
    (target,) = command.targets(rows)
    _follows(target, met, round(serial_s / local_s, 3))
    if not met:
        assert target["result"] == "MISSED (by 0.13)"  # 1.8 - 10/6


def test_whole_command_target_not_measured_without_both_commands():
    from bench import command

    rows = command.add_speedups([command.summarise("serial", 2, [_command_run(10.0)]),
                                 command.summarise("local", 2, [], status="failed", reason="exit 4")])
    (target,) = command.targets(rows)
    assert target["ok"] is False and target["result"] == "not measured (failed: exit 4)"


def _command_run(wall):
    return {"wall_s": wall, "cpu_s": wall, "cpu_util": 0.5, "startup": {"exit_s": wall}}


def test_startup_breakdown_from_the_timeline_and_the_log_lines():
    from datetime import datetime

    from bench import command

    t0 = datetime(2026, 12, 2, 14, 0, 0).timestamp()
    timeline = [(t0 + 0.05, 1, "cli_start"), (t0 + 0.1, 1, "cli_parsed"), (t0 + 0.6, 1, "planned"),
                (t0 + 1.0, 2, "worker_start"), (t0 + 1.1, 3, "worker_start"), (t0 + 1.3, 1, "cluster_started"),
                (t0 + 1.35, 1, "cluster_ready"), (t0 + 2.5, 3, "worker_preloaded"), (t0 + 2.0, 2, "worker_preloaded")]
    line = ("2026-12-02 14:00:{} INFO [app=- container=- run=R] [region=r1 model=-] [task=forecast-R-r1] "
            "forecasting.runs.tasks: task {} | event=task_{}")
    log_text = "\n".join([line.format("02,250", "start", "start"), line.format("01,750", "start", "start"),
                          "a line of something else", line.format("04,000", "end: ok in 2.25s", "end outcome=ok")])
    got = command.breakdown(t0, timeline, log_text, exit_s=6.0)
    assert got == {"cli_start_s": 0.05, "cli_parsed_s": 0.1, "planned_s": 0.6, "cluster_started_s": 1.3,
                   "cluster_ready_s": 1.35, "workers_preloaded_s": 2.5, "first_task_s": 1.75, "first_result_s": 4.0,
                   "exit_s": 6.0}
    # A worker that never finished its preload: not every worker has the models.
    assert command.breakdown(t0, timeline[:-1], log_text, 6.0)["workers_preloaded_s"] is None


def test_timeline_marks_only_when_asked_for(tmp_path, monkeypatch):
    import os

    from forecasting.logs.timeline import TIMELINE_ENV, mark, read_timeline

    path = tmp_path / "timeline"
    monkeypatch.delenv(TIMELINE_ENV, raising=False)
    mark("nothing")
    assert not path.exists()
    monkeypatch.setenv(TIMELINE_ENV, str(path))
    mark("one")
    mark("two")
    (t1, pid, name1), (t2, _, name2) = read_timeline(path)
    assert (name1, name2, pid) == ("one", "two", os.getpid()) and t1 <= t2


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_scale_quick_runs_each_size_in_its_own_process_and_writes_its_section(tmp_path):
    from bench import scale

    md = _skeleton(tmp_path)
    r = scale.main(quick=True, benchmarks=md, results=tmp_path / "results")
    assert r["sizes"] == list(scale.QUICK_SIZES) and r["models"] == ["seasonal_naive"]
    for row, n in zip(r["rows"], scale.QUICK_SIZES):
        (run,) = row["runs"]
        assert row["regions"] == run["regions"] == n
        assert row["wall_s"] > 0 and row["peak_rss_mib"] >= row["rss_before_run_mib"] > 0
        assert row["task_mean_s"] > 0 and row["driver_loop_cpu_per_region_ms"] > 0 and row["store_write_s"] > 0
        # Every region's outcome went through a timed store write (alone or grouped), with its forecast rows.
        assert 1 <= run["store_writes"]["recording outcomes"]["count"] == run["store_outcome_transactions"] <= n
        assert run["store_rows"] > n * 24 and row["store_rows_per_s"] > 0
    # The verdicts follow from the rows written.
    linear, driver, memory, flat, store = r["targets"]
    small, large = r["rows"]
    _follows(linear, linear["value"] <= 1.25, round(large["wall_per_region_ms"] / small["wall_per_region_ms"], 3))
    _follows(memory, large["peak_rss_mib"] < 1024, large["peak_rss_mib"])
    _follows(flat, flat["value"] <= 1.25, round(large["peak_rss_mib"] / small["peak_rss_mib"], 3))
    _follows(driver, driver["value"] < 0.05, max(row["driver_share"] for row in r["rows"]))
    _follows(store, store["value"] < 0.10, max(row["store_share"] for row in r["rows"]))
    text = md.read_text()
    assert "<!-- scale:start -->" in text and "## Nightly driver at scale" in text and "## Notes kept" in text
    assert "Command: `python -m bench scale --quick`" in text and "driver peak memory" in text
    assert json.loads((tmp_path / "results" / "scale.json").read_text())["sizes"] == list(scale.QUICK_SIZES)
    assert (tmp_path / "results" / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _scale_row(regions, per_region_ms, driver_share, peak, store_share):
    return {"regions": regions, "wall_per_region_ms": per_region_ms, "wall_s": per_region_ms * regions / 1000,
            "driver_share": driver_share, "peak_rss_mib": peak, "store_share": store_share}


@pytest.mark.parametrize("met", [True, False])
def test_scale_targets_are_met_exactly_when_the_numbers_beat_them(met):
    from bench import scale

    # 100 regions is no reference for linearity: 1,000 is; the largest size's memory is judged, the worst shares.
    rows = [_scale_row(100, 90.0, 0.01, 400, 0.02),
            _scale_row(1000, 40.0, 0.049 if met else 0.05, 450, 0.02),
            _scale_row(5000, 50.0 if met else 50.4, 0.02, 500 if met else 1024, 0.0999 if met else 0.10)]
    linear, driver, memory, flat, store = scale.targets(rows)
    assert "at 5000 regions <= 1.25x that at 1000" in linear["target"]
    _follows(linear, met, 1.25 if met else 1.26)
    _follows(driver, met, 0.049 if met else 0.05)
    _follows(memory, met, 500 if met else 1024)
    _follows(flat, met, 1.25 if met else 2.56)
    _follows(store, met, 0.0999 if met else 0.10)
    assert "(worst size: 1000 regions)" in driver["target"] and "worst size: 5000 regions)" in store["target"]


def test_scale_command_line():
    from bench.__main__ import parser

    args = parser().parse_args(["scale", "--sizes", "5,20", "--repeats", "2", "--workers", "2", "--quick", "--no-write"])
    assert (args.sizes, args.repeat, args.workers, args.quick, args.no_write) == (("5", "20"), 2, 2, True, True)
    assert parser().parse_args(["scale"]).sizes == ("100", "1000", "5000")


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_live_accuracy_at_tiny_size_scores_first_everything_then_only_the_new_day(tmp_path):
    from bench import live_accuracy
    from bench.live_data import Layout

    md = _skeleton(tmp_path)
    layout = Layout(regions=3, nights=4, days=3)
    r = live_accuracy.main(layout, benchmarks=md, results=tmp_path / "results", workdir=tmp_path / "data", idle=False,
                           command="python -m bench live-accuracy --regions 3 --nights 4 --days 3")
    first, inc, tables, expected = r["first"], r["incremental"], r["tables"], r["expected"]
    assert expected["forecast_rows"] == expected["baseline_rows"] and r["store_rows"] == 2 * expected["forecast_rows"]
    # Hourly, 3 regions, runs 1-3 have 3, 2 and 1 days before the last run date; 3 runs cover that day.
    assert first["slots"] == expected["first_slots"] and abs(expected["first_slots"] - 3 * 6 * 24) <= 3 * 2
    assert inc["slots"] == expected["new_slots"] and abs(expected["new_slots"] - 3 * 3 * 24) <= 3 * 3
    assert inc["runs"] == expected["new_runs"] == 3 * 3 and first["runs"] == 3 * 3
    for step in (first, inc, tables):
        assert step["wall_s"] > 0 and step["peak_rss_mib"] >= step["rss_before_mib"] > 0
    assert tables["accuracy_table_rows"] > 0 and tables["accuracy_by_lead_rows"] > 0
    peak, flat, incremental, exact, reports = r["targets"]
    assert exact["ok"] and exact["result"] == "PASS"
    _follows(peak, max(s["peak_rss_mib"] for s in (first, inc, tables)) < 1024,
             max(s["peak_rss_mib"] for s in (first, inc, tables)))
    _follows(incremental, inc["wall_s"] / first["wall_s"] < 0.10, round(inc["wall_s"] / first["wall_s"], 4))
    took = round(tables["accuracy_table_s"] + tables["accuracy_by_lead_s"] + tables["find_drift_s"], 3)
    _follows(reports, took < 10, took)
    text = md.read_text()
    assert "<!-- live-accuracy:start -->" in text and "## Notes kept" in text and "record_many" in text
    assert "Command: `python -m bench live-accuracy --regions 3 --nights 4 --days 3`" in text
    assert json.loads((tmp_path / "results" / "live-accuracy.json").read_text())["layout"]["regions"] == 3
    # Kept data is reused: scores and the new day are undone, and the passes score the same slots again.
    again = live_accuracy.main(layout, write=False, workdir=tmp_path / "data", idle=False)
    assert again["build"]["reused"] and (again["first"]["slots"], again["incremental"]["slots"]) == (first["slots"], inc["slots"])


def test_live_accuracy_targets_follow_the_numbers():
    from bench import live_accuracy

    def step(wall, peak, lo=None, hi=None, **extra):
        return {"wall_s": wall, "peak_rss_mib": peak, "rss_first_half_max_mib": lo, "rss_second_half_max_mib": hi, **extra}

    expected = {"first_slots": 100, "new_slots": 10, "new_runs": 2}
    r = {"store_rows": 1000, "all_rows_mib": 5000.0, "expected": expected,
         "first": step(100.0, 900.0, 400.0, 500.0, slots=100), "incremental": step(9.9, 300.0, slots=10, runs=2),
         "tables": step(1.0, 200.0, accuracy_table_s=4.0, accuracy_by_lead_s=3.0, find_drift_s=2.9)}
    peak, flat, incremental, exact, reports = live_accuracy.targets(r)
    _follows(peak, True, 900.0)
    _follows(flat, True, 1.25)
    _follows(incremental, True, 0.099)
    _follows(reports, True, 9.9)
    assert exact["ok"]
    r["first"] = step(100.0, 1024.0, 400.0, 501.0, slots=99)
    r["incremental"]["wall_s"] = 10.0
    r["tables"]["find_drift_s"] = 3.0
    peak, flat, incremental, exact, reports = live_accuracy.targets(r)
    _follows(peak, False, 1024.0)
    _follows(flat, False, 1.252)
    _follows(incremental, False, 0.1)
    _follows(reports, False, 10.0)
    assert not exact["ok"] and exact["result"].startswith("MISSED")


def test_live_accuracy_command_line():
    from bench.__main__ import parser

    args = parser().parse_args(["live-accuracy", "--regions", "5", "--nights", "3", "--days", "2", "--freq", "30min",
                                "--no-write"])
    assert (args.regions, args.nights, args.days, args.freq, args.no_write) == (5, 3, 2, "30min", True)
    defaults = parser().parse_args(["live-accuracy"])
    assert (defaults.regions, defaults.nights, defaults.days, defaults.freq) == (1000, 90, 28, "h")


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_accuracy_reports_the_oracle_gain_and_the_staffing_cost_and_coverage():
    from bench import accuracy

    r = accuracy.main(regions=1, days=63, cutoffs=3, workers=1, write=False, datasets=("synthetic",),
                      models=("seasonal_naive", "gbm"), horizon="7D")
    (d,) = r["datasets"].values()
    assert d["staffing_quantile"] == accuracy.COST_UNDER / (accuracy.COST_UNDER + accuracy.COST_OVER)
    assert d["staffing_cost_champion"] > 0 and d["staffing_cost_seasonal_naive"] > 0
    assert d["staffing_cost_ratio"] > 0 and 0 < d["staffing_coverage"] <= 1
    assert sorted(d["staffing_coverage_by_hour"]) == accuracy.HOUR_BUCKETS
    assert abs(d["oracle_gain"] - (d["mase_ratio"] - d["mase_ratio_oracle"])) < 1  # both finite, in MASE units
    tables = accuracy._more_tables(r)
    assert "| 00-03 |" in tables and "oracle gain" in tables
    assert d["rmsse_ratio"] > 0 and d["spl_ratio"] > 0 and "RMSSE ratio" in tables and "SPL ratio" in tables


@pytest.mark.slow  # the benchmarks end to end at tiny size: CI's slow pass, to keep `make test` under 10 minutes
def test_accuracy_on_the_sparse_dataset_reports_where_zero_would_win():
    from bench import accuracy

    r = accuracy.main(regions=1, days=70, cutoffs=3, workers=1, write=False, datasets=("sparse",),
                      models=("seasonal_naive", "tsb"), horizon="7D")
    (d,) = r["datasets"].values()
    assert d["zero_share"] > 0.7 and d["regions"] == 3
    # zero (always a candidate) has the lowest MASE in some sparse regions, and the lowest RMSSE in none.
    assert d["zero_wins_mase"] >= 1 and d["zero_wins_rmsse"] == 0
    assert "zero" not in d["champions"]
