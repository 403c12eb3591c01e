"""The ``forecasting`` command.

Exit codes (stable; cron and schedulers branch on them):

==  ===========================================================
0   success: every region forecast
1   some regions failed, no more than ``--max-failed-fraction``
2   usage or input error (bad option, bad CSV, bad cache, bad config)
3   too many regions failed
4   the cluster could not be started or reached
5   the results store could not be written (locked, disk full); resume later
70  a bug: the traceback is printed, please report it
130 interrupted (Ctrl-C)
==  ===========================================================
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from forecasting import errors
from forecasting.errors import ForecastingError, UsageError
from forecasting.logs.records import log_file

log = logging.getLogger("forecasting")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forecasting", description="Per-region order-volume forecasts.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    cache = sub.add_parser("cache", help="build the SQLite cache")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, parser_class=_Parser)
    build = cache_sub.add_parser("build", help="generate a synthetic cache")
    build.add_argument("--synthetic", action="store_true", required=True, help="generate synthetic data (the only source for now)")
    build.add_argument("--regions", type=int, default=20, help="number of regions (default 20)")
    build.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    build.add_argument("--freq", default="h", help="slot length: 15min, 30min or h (default h)")
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    build.add_argument("--start", default="2024-01-01", help="first day of history (default 2024-01-01)")
    build.add_argument("--out", required=True, type=Path, help="cache file to write")
    build.set_defaults(func=cmd_cache_build)

    imp = cache_sub.add_parser("import", help="import orders (and features, events) from CSV files")
    imp.add_argument("--orders", required=True, type=Path, help="CSV with columns region,timestamp,orders")
    imp.add_argument("--features", type=Path, help="CSV with columns region,timestamp,<numeric columns>")
    imp.add_argument("--events", type=Path, help="CSV with columns region,start,end,kind[,name]")
    imp.add_argument("--holidays", type=Path, help="CSV with columns date,name[,region]")
    imp.add_argument("--freq", help="slot length (default: inferred)")
    imp.add_argument("--timezone", default="UTC", help="time zone of naive timestamps and of the regions (default UTC)")
    imp.add_argument("--out", required=True, type=Path, help="cache file to write")
    imp.set_defaults(func=cmd_cache_import)

    run = sub.add_parser("run", help="forecast every region (the nightly job)")
    _job_arguments(run, cache_required=False)
    run.add_argument("--resume", metavar="RUN_ID", help="complete an earlier run: recompute only its regions that are not ok "
                     "(its own config, run date and regions; --cache defaults to the run's cache)")
    run.add_argument("--horizon", help="how far ahead, e.g. 28D (default from config: 28D)")
    run.add_argument("--run-date", help="YYYY-MM-DD (default: the day after the cache's latest data)")
    run.add_argument("--models", help="comma-separated candidate models, or 'champion' (default: the backtest champions "
                     "when the store has them, else the config's models)")
    run.add_argument("--max-failed-fraction", type=float, help="above this fraction of failed regions exit 3 (default 0.1)")
    run.set_defaults(func=cmd_run)

    bt = sub.add_parser("backtest", help="rolling-origin backtests; choose a champion model per region")
    _job_arguments(bt)
    bt.add_argument("--models", help="comma-separated model families (default from config: all)")
    bt.add_argument("--start", help="first cutoff date (with --end; default: the last year)")
    bt.add_argument("--end", help="last cutoff date")
    bt.add_argument("--cutoffs", type=int, help="use the last N cutoffs instead of --start/--end")
    bt.add_argument("--horizon", help="forecast length per window, e.g. 28D")
    bt.add_argument("--step", help="days between cutoffs, e.g. 7D")
    bt.add_argument("--no-plots", action="store_true", help="skip the PNG reports")
    bt.set_defaults(func=cmd_backtest)

    status = sub.add_parser("status", help="recent runs, or one run's regions (status, attempts, errors)")
    status.add_argument("run_id", nargs="?", help="a run id (default: list the recent runs)")
    status.add_argument("--out", type=Path, help="output folder of the runs (its results.sqlite)")
    status.add_argument("--store", help="SQLAlchemy URL of the results store")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    logs = sub.add_parser("logs", help="summarize a YARN application's logs: outcome, failed regions, dead workers")
    logs.add_argument("source", help="a file with the output of 'yarn logs -applicationId ID', '-' for standard input, "
                      "an application id (runs 'yarn logs'), or a per-container log folder")
    logs.add_argument("--region", help="everything about one region: its lines and tracebacks")
    logs.add_argument("--json", action="store_true", help="machine-readable output")
    logs.set_defaults(func=cmd_logs)

    report = sub.add_parser("report", help="one run as a self-contained HTML page (summary, failures, timings, plots)")
    report.add_argument("run_id", help="a run id, or 'latest' for the most recent run")
    report.add_argument("--out", required=True, type=Path, help="HTML file to write, e.g. report.html")
    report.add_argument("--results", type=Path, help="output folder of the runs (its results.sqlite): the --out of 'forecasting run'")
    report.add_argument("--store", help="SQLAlchemy URL of the results store")
    report.add_argument("--history", default="14D", help="history to plot before each forecast (default 14D)")
    report.set_defaults(func=cmd_report)

    pack = sub.add_parser("pack-env", help="pack this virtualenv (venv-pack) for the YARN containers")
    pack.add_argument("--out", required=True, type=Path, help="archive to write, e.g. environment.tar.gz")
    pack.add_argument("--python-prefix", type=Path, help="virtualenv to pack (default: the running one)")
    pack.add_argument("--expected-python", action="append",
                      help="interpreter path (or folder) that exists on every node; refuse others (repeatable)")
    pack.add_argument("--force", action="store_true", help="pack even if the installed packages have not changed")
    pack.set_defaults(func=cmd_pack_env)

    spec = sub.add_parser("spec", help="print the skein application spec that --cluster yarn would submit")
    spec.add_argument("--config", type=Path, required=True, help="YAML config with a 'yarn:' section")
    spec.add_argument("--cache", type=Path, required=True, help="the SQLite cache to ship to the workers")
    _yarn_overrides(spec)
    spec.set_defaults(func=cmd_spec)
    for p in (run, bt):
        _yarn_overrides(p, workers=False)
    return parser


def _job_arguments(parser, cache_required: bool = True) -> None:
    """Options that 'run' and 'backtest' share."""
    parser.add_argument("--cache", required=cache_required, type=Path, help="the SQLite cache")
    parser.add_argument("--out", required=True, type=Path, help="output folder (results store, reports)")
    parser.add_argument("--cluster", default="local", help="serial, local (default), yarn, or a scheduler address tcp://host:port")
    parser.add_argument("--workers", type=int,
                        help="worker processes of a local cluster (default: one per core), or YARN worker containers")
    parser.add_argument("--regions", help="comma-separated region ids (default: all)")
    parser.add_argument("--config", type=Path, help="YAML config ('forecasting:', 'backtest:', 'yarn:' sections)")
    parser.add_argument("--store", help="SQLAlchemy URL of the results store (default OUT/results.sqlite)")
    parser.add_argument("--log-dir", type=Path, help="where the driver and local workers also write their logs, one folder "
                        "per process (default OUT/logs/<time>-<pid>)")


def _yarn_overrides(parser, workers: bool = True) -> None:
    group = parser.add_argument_group("YARN (with --cluster yarn; override the config's 'yarn:' section)")
    if workers:
        group.add_argument("--workers", type=int, help="worker containers")
    group.add_argument("--queue", help="YARN queue")
    group.add_argument("--name", help="YARN application name")
    group.add_argument("--environment", help="packed environment archive (forecasting pack-env)")
    group.add_argument("--worker-memory", help="memory per worker container, e.g. '6 GiB'")
    group.add_argument("--worker-vcores", type=int, help="vcores (and threads) per worker container")


def _yarn_config(args):
    from deploy.yarn.config import load_yarn_config

    config = load_yarn_config(args.config)
    env = dict(config.env)
    # Containers log at the driver's --log-level unless the config's 'env' says otherwise.
    env.setdefault("FORECASTING_LOG_LEVEL", args.log_level)
    return config.with_overrides(
        queue=args.queue, name=args.name, environment=args.environment, worker_memory=args.worker_memory,
        worker_vcores=args.worker_vcores, env=tuple(sorted(env.items())),
    )


def cmd_status(args) -> int:
    import json

    import pandas as pd

    from forecasting.store.results import ResultsStore, store_url

    if not args.store and not args.out:
        raise UsageError("status: give --out (the runs' output folder) or --store")
    if args.out and not args.store and not (args.out / "results.sqlite").is_file():
        raise UsageError(f"status: no results store in {args.out}")
    store = ResultsStore(store_url(args.out, args.store) if not args.store else args.store)
    try:
        if args.run_id is None:
            frame = _flag_interrupted(store, store.recent_runs())
            cols = ["run_id", "kind", "run_date", "status", "n_regions", "n_ok", "n_failed", "cluster"]
            print(frame[cols].to_json(orient="records") if args.json else frame[cols].to_string(index=False))
            return errors.EXIT_OK
        run = store.run(args.run_id)
        run["status"] = _flag_interrupted(store, pd.DataFrame([run])).status.iloc[0]
        regions = store.region_outcomes(args.run_id)
    finally:
        store.close()
    cols = ["region", "status", "model", "attempts", "duration_s", "worker", "error_type", "message"]
    if args.json:
        print(json.dumps({"run": run, "regions": regions[cols + ["traceback"]].to_dict("records")}, default=str))
        return errors.EXIT_OK
    print(f"run {run['run_id']} ({run['kind']}, run date {run['run_date']}): {run['status'].upper()}, "
          f"{run['n_ok']} ok, {run['n_failed']} failed of {run['n_regions']}" + (f" ({run['message']})" if run["message"] else ""))
    print(regions[cols].astype(object).where(regions[cols].notna(), "").to_string(index=False, max_colwidth=60))
    return errors.EXIT_OK


def cmd_report(args) -> int:
    from forecasting.reports.html import write_report
    from forecasting.store.results import ResultsStore, store_url

    if not args.store and not args.results:
        raise UsageError("report: give --results (the runs' output folder) or --store")
    if args.results and not args.store and not (args.results / "results.sqlite").is_file():
        raise UsageError(f"report: no results store in {args.results}")
    if args.store and args.store.startswith("sqlite"):
        import sqlalchemy as sa

        try:
            database = sa.engine.make_url(args.store).database
        except sa.exc.ArgumentError:
            database = None
        if database and database != ":memory:" and not Path(database).is_file():
            raise UsageError(f"report: no results store at {args.store}")
    store = ResultsStore(args.store or store_url(args.results, None))
    try:
        summary = write_report(store, args.run_id, args.out, history=args.history)
    finally:
        store.close()
    note = "" if summary.cache_available else " (cache not available: forecasts without history)"
    print(f"wrote {summary.path}: run {summary.run_id}, {summary.n_regions} regions, {summary.n_plots} plots{note}")
    return errors.EXIT_OK


def cmd_logs(args) -> int:
    import json

    from deploy.yarn import logs as yarn_logs

    summary = yarn_logs.summarize_source(args.source, region=args.region)
    print(json.dumps(summary, indent=1) if args.json else yarn_logs.format_summary(summary))
    return errors.EXIT_OK


def _flag_interrupted(store, runs):
    """``running`` runs that no live driver holds become ``running (interrupted?)``."""
    from forecasting.store.lock import interrupted_runs

    running = runs.run_id[runs.status == "running"].tolist()
    gone = interrupted_runs(store.engine, running) if running else set()
    return runs.assign(status=[f"{s} (interrupted?)" if r in gone else s for r, s in zip(runs.run_id, runs.status)])


def cmd_pack_env(args) -> int:
    from deploy.packing import pack_environment

    result = pack_environment(args.out, prefix=args.python_prefix, force=args.force, expected_python=args.expected_python)
    verb = "reused" if result.reused else "wrote"
    print(
        f"{verb} {result.path}: {result.packages} packages, {result.size_bytes / 2**20:.1f} MiB; "
        f"containers need the interpreter {result.python} on every node"
    )
    return errors.EXIT_OK


def cmd_spec(args) -> int:
    from deploy.yarn.spec import build_spec

    config = _yarn_config(args).with_overrides(workers=args.workers).validate()
    if not args.cache.is_file():
        raise UsageError(f"--cache: {args.cache} does not exist")
    print(build_spec(config, str(args.cache)).to_yaml(), end="")
    return errors.EXIT_OK


def cmd_cache_build(args) -> int:
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

    spec = SyntheticSpec(regions=args.regions, days=args.days, freq=args.freq, seed=args.seed, start=args.start)
    build_synthetic_cache(spec, args.out)
    print(f"wrote {args.out}: {spec.regions} synthetic regions, {spec.days} days of {spec.freq} slots, seed {spec.seed}")
    return errors.EXIT_OK


def cmd_cache_import(args) -> int:
    from forecasting.data.importer import import_csv

    report = import_csv(
        args.orders, args.out, features=args.features, events=args.events, freq=args.freq, timezone=args.timezone,
        holidays=args.holidays,
    )
    print(report.summary())
    return errors.EXIT_OK


def cmd_run(args) -> int:
    from deploy.clusters import open_executor
    from forecasting.config.forecast import load_config
    from forecasting.runs.nightly import run_nightly
    from forecasting.runs.executors import serial_requested
    config = load_config(args.config).with_overrides(
        horizon=args.horizon,
        models=None if args.models == "champion" else args.models,
        max_failed_fraction=args.max_failed_fraction,
    )
    cluster = "serial" if serial_requested() else args.cluster
    regions = _split(args.regions)
    if args.resume and (regions or args.run_date or args.models or args.horizon):
        # (--config still gives the 'yarn:' section; its 'forecasting:' section is the run's own.)
        raise UsageError("--resume completes a run with its own regions, run date and config: "
                         "drop --regions/--run-date/--models/--horizon")
    if not args.resume and args.cache is None:
        raise UsageError("run: --cache is required (except with --resume)")
    if args.resume and not args.store and not (args.out / "results.sqlite").is_file():
        raise UsageError(f"--resume: no results store in {args.out} (give the --out of the run, or --store)")
    use_champions = True if args.models == "champion" else (False if args.models else None)
    yarn = _yarn_config(args) if cluster == "yarn" else None
    cache = args.cache or _resumed_cache(args)
    _preflight(cache, regions, args.run_date, cluster, args.workers, yarn)
    log_dir = _log_dir(args)
    with log_file(log_dir / "driver" / "driver.log"), open_executor(
        cluster, workers=args.workers, retries=config.retries, yarn=yarn, cache_path=str(cache), log_dir=str(log_dir)
    ) as executor:
        log.info("logs of this run's processes: %s ('forecasting logs %s' summarizes them)", log_dir, log_dir)
        summary = run_nightly(
            cache,
            args.out,
            executor,
            config,
            regions=regions,
            run_date=args.run_date,
            store=args.store,
            cluster=cluster,
            show_progress=True,
            use_champions=use_champions,
            resume=args.resume,
        )
    print(format_summary(summary))
    return {"succeeded": errors.EXIT_OK, "partial": errors.EXIT_SOME_FAILED}.get(summary.status, errors.EXIT_TOO_MANY_FAILED)


def _preflight(cache, regions, run_date, cluster: str, workers, yarn) -> None:
    """Refuse bad cluster options, a bad cache, region list or run date
    before starting a cluster or writing anything."""
    from deploy.clusters import parse_target
    from forecasting.data.cache import open_cache
    from forecasting.runs.nightly import select_regions, validate_run_date

    parse_target(cluster)
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if yarn is not None:
        yarn.with_overrides(workers=workers).validate()

    if run_date:
        validate_run_date(run_date)
    opened = open_cache(cache)
    if regions:
        select_regions(opened.region_summaries().region.tolist(), regions)


def _log_dir(args) -> Path:
    """``--log-dir``, else a new folder ``OUT/logs/<UTC time>-<pid>`` for this invocation."""
    import time

    return args.log_dir or args.out / "logs" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"


def _resumed_cache(args) -> Path:
    """The cache a resumed run used (YARN ships it before the run starts)."""
    from forecasting.store.results import ResultsStore, store_url

    store = ResultsStore(store_url(args.out, args.store))
    try:
        return Path(store.run(args.resume)["cache_path"])
    finally:
        store.close()


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def cmd_backtest(args) -> int:
    from deploy.clusters import open_executor
    from forecasting.config.backtest import load_backtest_config
    from forecasting.runs.backtest_run import run_backtest
    from forecasting.config.forecast import load_config
    from forecasting.runs.executors import serial_requested

    config = load_backtest_config(args.config).with_overrides(
        models=args.models, start=args.start, end=args.end, cutoffs=args.cutoffs, horizon=args.horizon, step=args.step
    )
    job_config = load_config(args.config)
    cluster = "serial" if serial_requested() else args.cluster
    yarn = _yarn_config(args) if cluster == "yarn" else None
    _preflight(args.cache, _split(args.regions), None, cluster, args.workers, yarn)
    log_dir = _log_dir(args)
    with log_file(log_dir / "driver" / "driver.log"), open_executor(
        cluster, workers=args.workers, retries=job_config.retries, yarn=yarn, cache_path=str(args.cache), log_dir=str(log_dir)
    ) as executor:
        log.info("logs of this backtest's processes: %s ('forecasting logs %s' summarizes them)", log_dir, log_dir)
        summary = run_backtest(
            args.cache, args.out, executor, config, job_config, regions=_split(args.regions), store=args.store,
            show_progress=True, plots=not args.no_plots,
        )
    print(format_backtest_summary(summary))
    return errors.EXIT_OK


def format_backtest_summary(summary) -> str:
    """The one-screen summary printed at the end of a backtest."""
    champs = summary.champions
    counts = champs.model.value_counts()
    lines = [
        "",
        f"backtest {summary.backtest_id}: {summary.n_tasks} tasks over {len(summary.cutoffs)} cutoffs "
        f"({summary.cutoffs[0]} .. {summary.cutoffs[-1]}), {summary.n_resumed} reused from before, "
        f"{summary.n_failed} failed, {summary.wall_seconds:.0f}s",
        f"  champion MASE / seasonal-naive MASE, mean over {len(champs)} regions: {summary.mean_mase_ratio:.3f}",
        "  champions: " + ", ".join(f"{m} x{n}" for m, n in counts.items()),
        f"  leaderboard: {summary.folder / 'leaderboard.csv'}",
        f"  champions:   {summary.folder / 'champions.csv'}",
        f"  plots:       {summary.folder / 'plots'}",
        f"  store:       {summary.store}  ('forecasting run' with this store uses the champions)",
    ]
    return "\n".join(lines)


def format_summary(summary) -> str:
    """The one-screen summary printed at the end of a run."""
    lines = [
        "",
        f"run {summary.run_id}  (run date {summary.run_date})  {summary.status.upper()}",
        f"  regions: {summary.n_regions}   ok: {summary.n_ok}   failed: {summary.n_failed}   wall time: {summary.wall_seconds:.1f}s",
        f"  forecasts: {summary.folder / 'forecasts.csv'}",
        f"  failures:  {summary.folder / 'failures.csv'}",
        f"  run info:  {summary.folder / 'run.json'}",
        f"  store:     {summary.store}",
    ]
    if summary.failures:
        lines.append("  failed regions:")
        for f in summary.failures[:10]:
            lines.append(f"    {f.region}: {f.error_type}: {f.message[:100]}")
        if len(summary.failures) > 10:
            lines.append(f"    ... and {len(summary.failures) - 10} more (see failures.csv)")
    return "\n".join(lines)


def configure_logging(level: str) -> None:
    """Our format (forecasting.logs.records.LOG_FORMAT) on standard error; Dask's own chatter only at DEBUG."""
    from forecasting.logs.records import configure_logging as configure

    configure(level)
    if level != "DEBUG":
        import dask

        # distributed sets its loggers' levels from this key when imported,
        # and passes it on to the workers it starts.
        dask.config.set({"logging.distributed": "warning"})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forecasting`` console script."""
    try:
        args = build_parser().parse_args(argv)
        configure_logging(args.log_level)
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, where it is handled
        return code
    except ForecastingError as exc:
        print(f"forecasting: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("forecasting: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into 'head' and the like: the reader left, nothing is wrong.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return errors.EXIT_OK
    except Exception:  # noqa: BLE001 - a bug: show everything
        traceback.print_exc()
        print("forecasting: internal error (a bug): please report it with the traceback above", file=sys.stderr)
        return errors.EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
