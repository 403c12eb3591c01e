"""``forecasting run``: the nightly job, forecasting every region."""

from __future__ import annotations

import logging
from pathlib import Path

from forecasting import errors
from forecasting.cli import jobs
from forecasting.errors import UsageError

log = logging.getLogger("forecasting")


def add_parser(sub):
    """Add ``run`` to the sub-command parsers; return its parser (back ends add their options to it)."""
    run = sub.add_parser("run", help="forecast every region (the nightly job)")
    jobs.add_job_arguments(run, cache_required=False)
    run.add_argument("--resume", metavar="RUN_ID", help="complete an earlier run: recompute only its regions that are not ok "
                     "(its own config, run date and regions; --cache defaults to the run's cache)")
    run.add_argument("--horizon", help="how far ahead, e.g. 28D (default from config: 28D)")
    run.add_argument("--run-date", help="YYYY-MM-DD (default: the day after the cache's latest data)")
    run.add_argument("--models", help="comma-separated candidate models, or 'champion' (default: the backtest champions "
                     "when the store has them, else the config's models)")
    run.add_argument("--max-failed-fraction", type=float, help="above this fraction of failed regions exit 3 (default 0.1)")
    run.add_argument("--on-drift", choices=["ignore", "fallback", "refit"], help="what to do with regions whose live error "
                     "drifted (see 'forecasting accuracy'): list them (ignore, the default), forecast them with seasonal "
                     "naive (fallback), or backtest them again first (refit)")
    run.add_argument("--retention-days", type=int, help="delete the stored forecasts of nightly runs dated more than this "
                     "many days before this run's date (their live scores stay; default: keep everything)")
    run.set_defaults(func=cmd_run)
    return run


def cmd_run(args) -> int:
    """Check everything, open the cluster, run the nightly job, print its summary; exit 0, 1 or 3."""
    from forecasting.config.forecast import load_config
    from forecasting.logs.records import log_file
    from forecasting.logs.timeline import mark
    from forecasting.runs.nightly import plan_nightly, run_nightly

    config = load_config(args.config).with_overrides(
        horizon=args.horizon,
        models=None if args.models == "champion" else args.models,
        max_failed_fraction=args.max_failed_fraction,
        on_drift=args.on_drift,
        retention_days=args.retention_days,
    )
    cluster = jobs.cluster_target(args)
    regions = jobs.split(args.regions)
    if args.resume and (regions or args.run_date or args.models or args.horizon or args.on_drift or args.retention_days):
        # (--config still gives the 'yarn:' and 'cluster:' sections; its 'forecasting:' section is the run's own.)
        raise UsageError("--resume completes a run with its own regions, run date and config: "
                         "drop --regions/--run-date/--models/--horizon/--on-drift/--retention-days")
    if not args.resume and args.cache is None:
        raise UsageError("run: --cache is required (except with --resume)")
    if args.resume and not args.store and not (args.out / "results.sqlite").is_file():
        raise UsageError(f"--resume: no results store in {args.out} (give the --out of the run, or --store)")
    use_champions = True if args.models == "champion" else (False if args.models else None)
    cache = args.cache or _resumed_cache(args)
    log_dir = jobs.log_dir(args)
    prepared = jobs.prepare_cluster(args, cluster, config.retries, cache, log_dir)
    # The cache, regions and run date are checked here, once, before a cluster starts
    # (a resumed run's own are read from the store: only its cache is checked now).
    plan = None if args.resume else plan_nightly(cache, config, regions, args.run_date)
    if args.resume:
        jobs.check_cache(cache)
    jobs.make_folders(args, log_dir)
    mark("planned")
    with log_file(log_dir / "driver" / "driver.log"), prepared.open() as executor:
        mark("cluster_ready")
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
            plan=plan,
        )
    print(format_summary(summary))
    return {"succeeded": errors.EXIT_OK, "partial": errors.EXIT_SOME_FAILED}.get(summary.status, errors.EXIT_TOO_MANY_FAILED)


def _resumed_cache(args) -> Path:
    """The cache a resumed run used (YARN ships it before the run starts)."""
    from forecasting.store.database import store_url
    from forecasting.store.runs import ResultsStore

    store = ResultsStore(store_url(args.out, args.store))
    try:
        return Path(store.run(args.resume)["cache_path"])
    finally:
        store.close()


def format_summary(summary) -> str:
    """The one-screen summary printed at the end of a run (the store's URL without its password)."""
    from forecasting.store.urls import shown_url

    lines = [
        "",
        f"run {summary.run_id}  (run date {summary.run_date})  {summary.status.upper()}",
        f"  regions: {summary.n_regions}   ok: {summary.n_ok}   failed: {summary.n_failed}   wall time: {summary.wall_seconds:.1f}s",
        f"  forecasts: {summary.folder / 'forecasts.csv'}",
        f"  failures:  {summary.folder / 'failures.csv'}",
        f"  run info:  {summary.folder / 'run.json'}",
        f"  store:     {shown_url(summary.store)}",
    ]
    drift = summary.drift
    if drift is not None and drift.error:
        lines.append(f"  drift:     not checked ({drift.error})")
    elif drift is not None:
        done = {"ignore": "listed only", "fallback": "forecast with seasonal naive", "refit": "backtested again"}[drift.action]
        lines.append(f"  drift:     {len(drift.regions)} regions flagged" + (f" ({done}, on_drift: {drift.action}):" if drift.regions else ""))
        for r in drift.flagged.head(10).itertuples():
            lines.append(f"    {r.region}: {r.reason}")
        if len(drift.regions) > 10:
            lines.append(f"    ... and {len(drift.regions) - 10} more (see run.json)")
    if summary.failures:
        lines.append("  failed regions:")
        for f in summary.failures[:10]:
            lines.append(f"    {f.region}: {f.error_type}: {f.message[:100]}")
        if len(summary.failures) > 10:
            lines.append(f"    ... and {len(summary.failures) - 10} more (see failures.csv)")
    return "\n".join(lines)
