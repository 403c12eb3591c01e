"""The nightly workload: serial, local clusters and YARN (Hadoop's mini cluster), on this machine.

50 synthetic regions, a year of hourly history, a 28-day horizon, the
default models of ``specs/nightly.yaml``, run through the same driver as
``forecasting run``.  Modes: ``serial``; ``localN`` (a local cluster of N
single-threaded workers, ``local`` = ``--workers``); ``yarn`` (Hadoop
3.4.1's mini cluster of ``tests/yarn/minicluster``: two NodeManagers,
``--workers`` one-vcore worker containers, one per NodeManager, a real
venv-pack archive of this virtualenv on HDFS and the real application
spec; see ``bench/yarn.py``).  Reports, per mode, cluster start-up (until every
worker is up and has imported the models) apart from the run itself,
CPU utilisation of the whole process tree, speed-up, parallel efficiency
and the peak resident memory of the worker processes.
"""

from __future__ import annotations

import contextlib
import resource
import tempfile
import time
from pathlib import Path

from deploy.clusters import open_executor
from forecasting.config.forecast import load_config
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.runs.nightly import run_nightly

from bench.measure import Stopwatch, add_speedups, make_row, rotated, run_record, verdict, wait_until_idle
from bench.report import (BENCHMARKS, RESULTS, machine, markdown_table, plot_speedups, print_targets, replace_section,
                          targets_text, write_json)

SPECS = Path(__file__).resolve().parents[1] / "specs" / "nightly.yaml"
MODES = ("serial", "local1", "local2", "yarn")


#: What a region's job imports; workers import it before the clock starts.  Run through the builtin
#: ``exec`` (pickled by reference), because YARN containers have the package but not ``bench``.
WARM = "import forecasting.runs.tasks, forecasting.models, sklearn.ensemble, statsmodels.api"


def warm(client=None) -> None:
    """Import what a region's job imports, here or on every worker of ``client``."""
    if client is None:
        exec(WARM)
    else:
        client.run(exec, WARM)


def worker_peak_rss_mib(client) -> float:
    """The largest peak resident memory of the client's workers (ru_maxrss, KiB on Linux)."""
    return max(r[2] for r in client.run(resource.getrusage, resource.RUSAGE_SELF).values()) / 1024


def label(mode: str, workers: int) -> tuple[str, int]:
    """Table label and worker count of a mode."""
    if mode == "serial":
        return "serial (one process)", 1
    if mode == "yarn":
        return f"YARN (Hadoop 3.4.1 mini cluster), {workers} one-vcore workers", workers
    n = int(mode[5:] or workers)
    return f"local cluster, {n} single-threaded worker{'s' if n > 1 else ''}", n


@contextlib.contextmanager
def _executor(mode: str, workers: int, cache: Path, yarn_cfg):
    if mode == "serial":
        with open_executor("serial") as ex:
            yield ex
    elif mode == "yarn":
        with open_executor("yarn", workers=workers, yarn=yarn_cfg, cache_path=str(cache)) as ex:
            yield ex
    else:
        with open_executor("local", workers=label(mode, workers)[1]) as ex:
            yield ex


def run_once(cache: Path, out: Path, mode: str, workers: int, config, yarn_cfg=None) -> dict:
    n = label(mode, workers)[1]
    t0 = time.perf_counter()
    with _executor(mode, workers, cache, yarn_cfg) as executor:
        if mode == "serial":
            warm()
            startup = None
        else:
            executor.client.wait_for_workers(n, timeout=600)
            warm(executor.client)
            startup = time.perf_counter() - t0
        with Stopwatch() as sw:
            summary = run_nightly(cache, out, executor, config, cluster=mode)
        peak = None if mode == "serial" else worker_peak_rss_mib(executor.client)
    assert summary.n_failed == 0, summary.failures
    return run_record(startup, sw, peak_worker_rss_mib=None if peak is None else round(peak, 1), regions=summary.n_regions)


def main(regions: int = 50, days: int = 365, repeat: int = 1, workers: int = 2, write: bool = True,
         modes: tuple[str, ...] = ("serial", "local"), benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> dict:
    for m in modes:
        if m not in ("serial", "yarn") and not (m.startswith("local") and (m[5:] == "" or m[5:].isdigit())):
            raise ValueError(f"unknown mode {m!r}: serial, local, localN or yarn")
    config = load_config(SPECS)
    workload = f"nightly ({regions} regions, {days} days hourly, {config.horizon})"
    runs = {m: [] for m in modes}
    status = {m: ("ok", "") for m in modes}
    pack_s = None
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        cache = tmp / "cache.sqlite"
        build_synthetic_cache(SyntheticSpec(regions=regions, days=days, freq="h", seed=0), cache)
        yarn_cfg = None
        if "yarn" in modes:
            from bench import yarn

            reason = yarn.unavailable()
            try:
                if reason is None:
                    archive, pack_s = yarn.packed_environment()
                    print(f"  yarn: environment copied, reinstalled and packed in {pack_s:.0f}s (not timed)", flush=True)
                    environment = stack.enter_context(yarn.mini_cluster(tmp, archive))
                    yarn_cfg = yarn.yarn_config(environment, workers)
                    # The first application on each NodeManager unpacks the
                    # environment into YARN's public cache: not timed.
                    warm, tiny = time.perf_counter(), tmp / "warm-up.sqlite"
                    build_synthetic_cache(SyntheticSpec(regions=workers, days=60, freq="h", seed=1), tiny)
                    run_once(tiny, tmp / "yarn-warm-up", "yarn", workers, config, yarn_cfg)
                    print(f"  yarn: mini cluster up, environment unpacked on the NodeManagers in "
                          f"{time.perf_counter() - warm:.0f}s (not timed)", flush=True)
            except Exception as exc:  # noqa: BLE001 - a mode that cannot start is skipped, and said so
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            if reason:
                status["yarn"] = ("skipped", reason)
                print(f"  yarn: skipped: {reason}", flush=True)
        for rep in range(repeat):
            for mode in rotated(modes, rep):
                if status[mode][0] != "ok":
                    continue
                wait_until_idle()
                try:
                    r = run_once(cache, tmp / f"{mode}{rep}", mode, workers, config, yarn_cfg)
                except Exception as exc:  # noqa: BLE001 - one broken mode never sinks the others
                    status[mode] = ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                    print(f"  {mode}: failed: {status[mode][1]}", flush=True)
                    continue
                runs[mode].append(r)
                print(f"  {mode} (repeat {rep + 1}/{repeat}): start-up {r['startup_s'] or 0:.2f}s, "
                      f"run {r['wall_s']:.2f}s, CPU {r['cpu_util']:.0%}", flush=True)
    rows = []
    for m in modes:
        name, n = label(m, workers)
        peaks = [r["peak_worker_rss_mib"] for r in runs[m] if r.get("peak_worker_rss_mib") is not None]
        rows.append(make_row(workload, name, n, runs[m], *status[m], key=m, peak_worker_rss_mib=max(peaks) if peaks else None))
    rows = add_speedups(rows, baseline_tool=label("serial", workers)[0])
    result = {"workload": workload, "regions": regions, "days": days, "horizon": config.horizon,
              "models": [m.name for m in config.models], "workers": workers, "repeat": repeat, "modes": list(modes),
              "pack_environment_s": None if pack_s is None else round(pack_s, 1), "rows": rows,
              "machine": machine(extra=("skein", "venv-pack") if "yarn" in modes else ())}
    result["targets"] = targets(rows, workers)
    print(markdown_table(rows))
    print_targets(result["targets"])
    if write:
        _write(result, benchmarks, results)
    return result


#: Issue 17's targets for 2 workers on 2 cores: speed-up over serial, compute only and with start-up.
COMPUTE_SPEEDUP = 1.9
WHOLE_SPEEDUP = 1.8


def targets(rows: list[dict], workers: int) -> list[dict]:
    out = []
    for r in rows:
        if r["key"] in ("serial",) or r["workers"] != 2:
            continue
        for what, column, goal in (("compute only", "speedup", COMPUTE_SPEEDUP),
                                   ("with start-up", "speedup_with_startup", WHOLE_SPEEDUP)):
            target = f"nightly: {r['tool']}: speed-up {what} >= {goal} on 2 cores"
            s = r.get(column)
            if r["status"] != "ok" or s is None:
                out.append({"target": target, "value": None, "ok": False,
                            "result": f"not measured ({r['status']}: {r['reason'] or 'no serial baseline'})"})
                continue
            out.append({"target": target, "value": s, "ok": s >= goal, "result": verdict(s >= goal, f"{goal - s:.2f}")})
    peaks = [r["peak_worker_rss_mib"] for r in rows if r.get("peak_worker_rss_mib")]
    if peaks:
        p = max(peaks)
        out.append({"target": "nightly: worker peak memory < 1.5 GiB", "value": p, "ok": p < 1536,
                    "result": verdict(p < 1536, f"{p - 1536:.0f} MiB")})
    return out


def _write(r: dict, benchmarks: Path = BENCHMARKS, results: Path = RESULTS) -> None:
    modes = ",".join(r["modes"])
    peaks = ", ".join(f"{row['tool']}: {row['peak_worker_rss_mib']}" for row in r["rows"] if row.get("peak_worker_rss_mib"))
    pack = f" Packing the environment for YARN (once per install): {r['pack_environment_s']} s." if r["pack_environment_s"] else ""
    plot = plot_speedups(r["rows"], results / "nightly-speedup.png", "Nightly run: speed-up over serial")
    body = f"""## Nightly run: serial, local clusters, YARN

Command: `python -m bench nightly --regions {r['regions']} --days {r['days']} --modes {modes} --repeats {r['repeat']}`
(median of {r['repeat']} run(s) each, modes interleaved, taking turns going first, each started on a quiet machine; {r['regions']} synthetic regions, {r['days']} days of hourly history,
horizon {r['horizon']}, models {', '.join(r['models'])}).

Machine: {r['machine']}

{markdown_table(r['rows'])}

"Start-up": from asking for the cluster until every worker is up and has imported the models (YARN: the
application is submitted to Hadoop's YARN mini cluster on this machine, containers start from the environment the
NodeManagers already unpacked into YARN's public cache in an untimed warm-up run).{pack}
"Compute only" is the run itself (`run_nightly`, results store included) on the started cluster; speed-up and
efficiency are against the serial run. CPU utilisation: CPU seconds of the whole process tree / (wall x cores).
Peak memory per worker (MiB): {peaks or '-'}.

Targets:
{targets_text(r['targets'])}

Plot: `bench/results/{plot.name if plot else 'nightly-speedup.png'}`.
"""
    replace_section("nightly", body, benchmarks)
    write_json("nightly", r, results)
