"""``forecasting backtest``: rolling-origin backtests that choose each region's champion model."""

from __future__ import annotations

import logging

from forecasting import errors
from forecasting.cli import jobs

log = logging.getLogger("forecasting")

#: Regions without a champion named one by one in the summary (the rest: champions.csv).
MAX_LISTED = 10


def add_parser(sub):
    """Add ``backtest`` to the sub-command parsers; return its parser (back ends add their options to it)."""
    bt = sub.add_parser("backtest", help="rolling-origin backtests; choose a champion model per region")
    jobs.add_job_arguments(bt)
    bt.add_argument("--models", help="comma-separated model families (default from config: all)")
    bt.add_argument("--start", help="first cutoff date (with --end; default: the last year)")
    bt.add_argument("--end", help="last cutoff date")
    bt.add_argument("--cutoffs", type=int, help="use the last N cutoffs instead of --start/--end")
    bt.add_argument("--horizon", help="forecast length per window, e.g. 28D")
    bt.add_argument("--step", help="days between cutoffs, e.g. 7D")
    bt.add_argument("--no-plots", action="store_true", help="skip the PNG reports")
    bt.add_argument("--oracle-regressors", action="store_true", default=None,
                    help="also score every model with the weather as recorded (what no forecast knew): "
                         "the leaderboard's mase_oracle, wape_oracle and oracle_gain")
    bt.set_defaults(func=cmd_backtest)
    return bt


def cmd_backtest(args) -> int:
    """Check everything, open the cluster, run the backtest, print its summary."""
    from forecasting.config.backtest import load_backtest_config
    from forecasting.config.forecast import load_config
    from forecasting.logs.records import log_file
    from forecasting.runs.backtest import plan_backtest, run_backtest

    config = load_backtest_config(args.config).with_overrides(
        models=args.models, start=args.start, end=args.end, cutoffs=args.cutoffs, horizon=args.horizon, step=args.step,
        oracle_regressors=args.oracle_regressors,
    )
    job_config = load_config(args.config)
    cluster = jobs.cluster_target(args)
    regions = jobs.split(args.regions)
    log_dir = jobs.log_dir(args)
    prepared = jobs.prepare_cluster(args, cluster, job_config.retries, args.cache, log_dir)
    plan = plan_backtest(args.cache, config, job_config, regions)  # every input checked, before a cluster starts
    jobs.make_folders(args, log_dir)
    with log_file(log_dir / "driver" / "driver.log"), prepared.open() as executor:
        log.info("logs of this backtest's processes: %s ('forecasting logs %s' summarizes them)", log_dir, log_dir)
        summary = run_backtest(
            args.cache, args.out, executor, config, job_config, regions=regions, store=args.store,
            show_progress=True, plots=not args.no_plots, plan=plan,
        )
    print(format_backtest_summary(summary))
    return errors.EXIT_OK


def _chosen_by(won) -> str:
    """`` chosen by lowest RMSSE`` (the metric that chose the champions), or nothing without one."""
    from forecasting.runs.selection import METRICS

    chosen = won["selection_metric"].dropna().unique() if "selection_metric" in won else []
    used = [METRICS[m][1] for m in chosen if m in METRICS]
    return f" (chosen by lowest {' / '.join(used)})" if used else ""


def format_backtest_summary(summary) -> str:
    """The one-screen summary printed at the end of a backtest (the store's URL without its password)."""
    from forecasting.store.urls import shown_url

    champs = summary.champions
    won = champs[champs.status == "champion"]
    counts = won.model.value_counts()
    ratio = summary.mean_mase_ratio
    lines = [
        "",
        f"backtest {summary.backtest_id}: {summary.n_tasks} tasks over {len(summary.cutoffs)} cutoffs "
        f"({summary.cutoffs[0]} .. {summary.cutoffs[-1]}), {summary.n_resumed} reused from before, "
        f"{summary.n_failed} failed, {summary.wall_seconds:.0f}s",
        f"  champion MASE / seasonal-naive MASE, mean over {len(won)} regions: " + (f"{ratio:.3f}" if ratio == ratio else "-"),
        f"  champions{_chosen_by(won)}: " + (", ".join(f"{m} x{n}" for m, n in counts.items()) or "none"),
    ]
    board = summary.leaderboard
    if len(board) and "intermittent" in board:
        sparse = sorted(board[board.intermittent.astype(bool)].region.unique())
        if sparse:
            lines.append(f"  intermittent regions (mostly zero slots: MASE favours a forecast of zeros there) ({len(sparse)}): "
                         + ", ".join(sparse[:MAX_LISTED]) + (f" and {len(sparse) - MAX_LISTED} more" if len(sparse) > MAX_LISTED else ""))
    own = summary.region_cutoffs
    if len({tuple(days) for days in own.values()}) > 1:  # a ragged panel: say where each region's windows are
        shown = [f"{r} {days[0]} .. {days[-1]}" for r, days in list(own.items())[:MAX_LISTED]]
        lines.append("  cutoffs counted back from each region's own last observation: " + ", ".join(shown)
                     + (f" and {len(own) - MAX_LISTED} more" if len(own) > MAX_LISTED else ""))
    # Regions without a champion, each with its reason: 'forecasting run' uses the configured models there.
    for status, label in (("no_champion", "no champion, 'run' uses the configured models"), ("skipped", "skipped, not backtested")):
        rows = champs[champs.status == status]
        shown = [f"{r.region} ({r.reason})" for r in rows.head(MAX_LISTED).itertuples()]
        if len(rows) > MAX_LISTED:
            shown.append(f"and {len(rows) - MAX_LISTED} more (champions.csv)")
        if shown:
            lines.append(f"  {label} ({len(rows)} regions): " + "; ".join(shown))
    lines += [
        f"  leaderboard: {summary.folder / 'leaderboard.csv'}",
        f"  champions:   {summary.folder / 'champions.csv'}",
        f"  plots:       {summary.folder / 'plots'}",
        f"  store:       {shown_url(summary.store)}  ('forecasting run' with this store uses the champions)",
    ]
    return "\n".join(lines)
