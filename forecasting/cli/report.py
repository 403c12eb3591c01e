"""``forecasting report``: one run as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from forecasting import errors


def add_parser(sub) -> None:
    """Add ``report`` to the sub-command parsers."""
    report = sub.add_parser("report", help="one run as a self-contained HTML page (summary, failures, timings, plots)")
    report.add_argument("run_id", help="a run id, or 'latest' for the most recent run")
    report.add_argument("--out", required=True, type=Path, help="HTML file to write, e.g. report.html")
    report.add_argument("--results", type=Path, help="output folder of the runs (its results.sqlite): the --out of 'forecasting run'")
    report.add_argument("--store", help="SQLAlchemy URL of the results store")
    report.add_argument("--history", default="14D", help="history to plot before each forecast (default 14D)")
    report.set_defaults(func=cmd_report, flags={"history": "--history", "path": "--out"})


def cmd_report(args) -> int:
    """Write the report of one run; print where."""
    from forecasting.cli.store_args import open_store
    from forecasting.reports.html import write_report

    store = open_store("report", "--results", args.results, args.store, check_url=True)
    try:
        summary = write_report(store, args.run_id, args.out, history=args.history)
    finally:
        store.close()
    note = "" if summary.cache_available else " (cache not available: forecasts without history)"
    print(f"wrote {summary.path}: run {summary.run_id}, {summary.n_regions} regions, {summary.n_plots} plots{note}")
    return errors.EXIT_OK
