"""The whole command, as a new user runs it: ``forecasting run`` serial vs on a local cluster.

Each command is a subprocess of its own, timed from exec to exit: the
interpreter, the CLI's imports, reading the cache, starting the cluster,
every worker's imports, the run, the results store and the exported files,
and tearing the cluster down::

    forecasting run --cache C --out O --cluster serial
    forecasting run --cache C --out O --cluster local --workers 2

on a synthetic cache of ``regions`` regions and ``days`` days of hourly
history (built once, untimed) with the default config (that of
``specs/nightly.yaml``: seasonal_naive and gbm, horizon 28D).  Repeats are
interleaved, taking turns going first, each started on a quiet machine.
Reported: the median wall time of each command, the speed-up of the local
cluster over serial for the whole command, the CPU utilisation of the
command's process tree, and where the start-up goes.

The start-up breakdown comes from the command itself, at no cost to it:
with ``FORECASTING_TIMELINE=FILE`` (:mod:`forecasting.logs.timeline`) the
CLI, the local cluster and each worker append their milestones to ``FILE``;
the first task running and the first result are the workers' own
``task start`` / ``task end`` log lines (the command logs at INFO, as by
default).  All of it is measured from the moment the benchmark started the
command (the time just before it forks and execs).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from forecasting.config.forecast import load_config
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.logs.records import LINE_RE
from forecasting.logs.timeline import TIMELINE_ENV, read_timeline

from bench.measure import Stopwatch, cores, rotated, verdict, wait_until_idle
from bench.report import BENCHMARKS, RESULTS, machine, print_targets, replace_section, targets_text, write_json

TARGET = 1.8
#: The config the commands run with: none given, so the CLI's default, which is this file's.
SPECS = Path(__file__).resolve().parents[1] / "specs" / "nightly.yaml"
#: Commands compared; ``local-no-preload`` (``--compare-preload``) is the local one with ``FORECASTING_PRELOAD=0``.
MODES = ("serial", "local")
PRELOAD_OFF = "local-no-preload"
#: Milestones of the breakdown, in order: (key, what it is).
MILESTONES = (
    ("cli_start_s", "interpreter up, console script imported (`forecasting.cli.main.main` entered)"),
    ("cli_parsed_s", "the CLI's imports done (command line parsed: every command, plug-in and back end imported)"),
    ("planned_s", "inputs checked, cache's regions read, run planned: the command asks for the cluster"),
    ("cluster_started_s", "local cluster started (scheduler and every worker process registered)"),
    ("cluster_ready_s", "client connected: the command holds the executor"),
    ("workers_preloaded_s", "every worker has imported the models (background preload, `deploy.preload`)"),
    ("first_task_s", "first task running (the first `task start` line)"),
    ("first_result_s", "first result (the first `task end` line)"),
    ("exit_s", "command exited"),
)


def command_line(mode: str, cache: Path, out: Path, workers: int) -> list[str]:
    """The command a user types, with the ``forecasting`` script of this interpreter's environment."""
    exe = Path(sys.executable).with_name("forecasting")
    argv = [str(exe) if exe.exists() else "forecasting", "run", "--cache", str(cache), "--out", str(out)]
    if mode == "serial":
        return argv + ["--cluster", "serial"]
    return argv + ["--cluster", "local", "--workers", str(workers)]


def _log_time(text: str) -> float:
    """A log line's time (``2026-12-02 14:31:29,421``, local time) as a Unix time."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def breakdown(t_exec: float, timeline: list[tuple[float, int, str]], log_text: str, exit_s: float) -> dict:
    """Seconds from exec to each milestone (:data:`MILESTONES`); None where the command did not reach it.

    Parameters
    ----------
    t_exec : float
        Unix time the command was started.
    timeline : list
        ``(time, pid, name)`` of :func:`forecasting.logs.timeline.read_timeline`.
    log_text : str
        The command's standard error (its log lines and its workers').
    exit_s : float
        Seconds from exec to exit.
    """
    def first(name):
        times = [t for t, _, n in timeline if n == name]
        return min(times) - t_exec if times else None

    preloaded = [t for t, _, n in timeline if n == "worker_preloaded"]
    started = [t for t, _, n in timeline if n == "worker_start"]
    out = {"cli_start_s": first("cli_start"), "cli_parsed_s": first("cli_parsed"), "planned_s": first("planned"),
           "cluster_started_s": first("cluster_started"), "cluster_ready_s": first("cluster_ready"),
           # Only when every worker that started finished its preload.
           "workers_preloaded_s": max(preloaded) - t_exec if preloaded and len(preloaded) >= len(started) else None}
    starts, ends = [], []
    for line in log_text.splitlines():
        m = LINE_RE.match(line)
        if m and m.group("tail"):
            event = m.group("tail").split()[0]
            if event == "event=task_start":
                starts.append(_log_time(m.group("time")))
            elif event == "event=task_end":
                ends.append(_log_time(m.group("time")))
    out["first_task_s"] = min(starts) - t_exec if starts else None
    out["first_result_s"] = min(ends) - t_exec if ends else None
    out["exit_s"] = exit_s
    return {k: None if v is None else round(v, 3) for k, v in out.items()}


def run_once(mode: str, cache: Path, out: Path, workers: int) -> dict:
    """Run one command from exec to exit; its wall time, CPU and start-up breakdown."""
    timeline = out.with_name(out.name + ".timeline")
    env = {**os.environ, TIMELINE_ENV: str(timeline)}
    env.pop("FORECASTING_SERIAL", None)  # would turn the local command serial
    if mode == PRELOAD_OFF:
        env["FORECASTING_PRELOAD"] = "0"
    argv = command_line("serial" if mode == "serial" else "local", cache, out, workers)
    t_exec = time.time()
    # The process tree's CPU: the command is reaped by subprocess.run, its workers by the command.
    with Stopwatch() as sw:
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{' '.join(argv[1:])} exited {proc.returncode}: {tail}")
    return {"wall_s": round(sw.wall, 3), "cpu_s": round(sw.cpu, 3), "cpu_util": round(sw.util, 3),
            "startup": breakdown(t_exec, read_timeline(timeline), proc.stderr, sw.wall)}


def label(mode: str, workers: int) -> str:
    if mode == "serial":
        return "`--cluster serial`"
    return f"`--cluster local --workers {workers}`" + (" with `FORECASTING_PRELOAD=0`" if mode == PRELOAD_OFF else "")


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarise(mode: str, workers: int, runs: list[dict], status: str = "ok", reason: str = "") -> dict:
    """One command's medians over its repeats."""
    row = {"key": mode, "command": label(mode, workers), "workers": 1 if mode == "serial" else workers,
           "status": status, "reason": reason, "runs": runs, "wall_s": None, "cpu_util": None, "speedup": None,
           "startup": {}}
    if status == "ok" and runs:
        row["wall_s"] = _median(r["wall_s"] for r in runs)
        row["cpu_util"] = _median(r["cpu_util"] for r in runs)
        row["startup"] = {k: _median(r["startup"].get(k) for r in runs) for k, _ in MILESTONES}
    return row


def add_speedups(rows: list[dict]) -> list[dict]:
    """Whole-command speed-up over the serial command."""
    base = next((r["wall_s"] for r in rows if r["key"] == "serial" and r["status"] == "ok"), None)
    for r in rows:
        if base and r["status"] == "ok" and r["wall_s"]:
            r["speedup"] = round(base / r["wall_s"], 3)
    return rows


def targets(rows: list[dict]) -> list[dict]:
    """Whole-command speed-up of the local cluster over serial >= :data:`TARGET`."""
    local = next((r for r in rows if r["key"] == "local"), None)
    name = f"command: `forecasting run` on a local cluster, whole-command speed-up over serial >= {TARGET} on 2 cores"
    if local is None or local["speedup"] is None:
        why = "no local row" if local is None else f"{local['status']}: {local['reason'] or 'no serial baseline'}"
        return [{"target": name, "value": None, "ok": False, "result": f"not measured ({why})"}]
    s = local["speedup"]
    return [{"target": name, "value": s, "ok": s >= TARGET, "result": verdict(s >= TARGET, f"{TARGET - s:.2f}")}]


def main(regions: int = 12, days: int = 365, repeats: int = 3, workers: int = 2, write: bool = True,
         compare_preload: bool = False, command: str | None = None, benchmarks: Path = BENCHMARKS,
         results: Path = RESULTS, idle_wait_s: float = 30.0) -> dict:
    modes = MODES + ((PRELOAD_OFF,) if compare_preload else ())
    config = load_config(SPECS)
    runs = {m: [] for m in modes}
    status = {m: ("ok", "") for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-command-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=days, freq="h", seed=0), cache)
        for rep in range(repeats):
            for mode in rotated(modes, rep):
                if status[mode][0] != "ok":
                    continue
                wait_until_idle(max_wait_s=idle_wait_s)
                try:
                    r = run_once(mode, cache, tmp / f"{mode}-{rep}", workers)
                except Exception as exc:  # noqa: BLE001 - one broken command never sinks the others
                    status[mode] = ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                    print(f"  {mode}: failed: {status[mode][1]}", flush=True)
                    continue
                runs[mode].append(r)
                s = r["startup"]
                print(f"  {mode} (repeat {rep + 1}/{repeats}): {r['wall_s']:.2f}s, CPU {r['cpu_util']:.0%}, "
                      f"first task at {_f(s['first_task_s'])}s", flush=True)
    rows = add_speedups([summarise(m, workers, runs[m], *status[m]) for m in modes])
    result = {"regions": regions, "days": days, "repeats": repeats, "workers": workers, "cores": cores(),
              "models": [m.name for m in config.models], "horizon": config.horizon, "rows": rows, "machine": machine(),
              "command": command or f"python -m bench command --regions {regions} --days {days} --repeats {repeats}"}
    result["targets"] = targets(rows)
    print(commands_table(rows))
    print(breakdown_table(rows))
    print_targets(result["targets"])
    if write:
        write_section(result, benchmarks, results)
    return result


def _f(value, spec: str = ".2f") -> str:
    return "-" if value is None else f"{value:{spec}}"


def commands_table(rows: list[dict]) -> str:
    lines = ["| command | wall, exec to exit (s) | CPU utilisation | speed-up over serial | status |",
             "|---|---|---|---|---|"]
    for r in rows:
        status = "ok" if r["status"] == "ok" else f"{r['status'].upper()}: {r['reason']}".replace("|", "/")
        lines.append(f"| {r['command']} | {_f(r['wall_s'])} | {_f(r['cpu_util'], '.0%')} | {_f(r['speedup'])} | {status} |")
    return "\n".join(lines)


def breakdown_table(rows: list[dict]) -> str:
    """Seconds from exec to each milestone, one column per command."""
    ok = [r for r in rows if r["status"] == "ok"]
    lines = ["| seconds from exec to | " + " | ".join(r["command"] for r in ok) + " |",
             "|---" * (len(ok) + 1) + "|"]
    for key, what in MILESTONES:
        lines.append(f"| {what} | " + " | ".join(_f(r["startup"].get(key)) for r in ok) + " |")
    return "\n".join(lines)


def write_section(r: dict, benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> None:
    """The ``command`` section of BENCHMARKS.md and ``bench/results/command.json``."""
    body = f"""## The whole command: `forecasting run`, serial vs local cluster

Command: `{r['command']}` (each `forecasting run` a subprocess of its own, timed from exec to exit; median of
{r['repeats']} run(s) each, interleaved, taking turns going first, each started on a quiet machine;
{r['regions']} synthetic regions, {r['days']} days of hourly history, built once and not timed; the default config,
that of `specs/nightly.yaml`: models {', '.join(r['models'])}, horizon {r['horizon']}).

Machine: {r['machine']}

{commands_table(r['rows'])}

Where the time goes until the first result (medians; `-`: not reached by that command):

{breakdown_table(r['rows'])}

The milestones are the command's own: with `FORECASTING_TIMELINE=FILE` the CLI, the local cluster and each worker
append the time of each to `FILE` (`forecasting/logs/timeline.py`; without it nothing is written); the first task
and the first result are the first `task start` / `task end` log lines (a worker's; the serial command's own); all
from the moment the benchmark started the command. The workers import the models in the background once they have
registered (`deploy/preload.py`); `--compare-preload` adds the local command with that turned off. CPU utilisation: CPU seconds of the command's whole process tree / (wall x cores).

Targets:
{targets_text(r['targets'])}
"""
    replace_section("command", body, benchmarks)
    write_json("command", r, results)
