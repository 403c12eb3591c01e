"""``forecasting accuracy``: how the stored nightly forecasts turned out, and which regions drift."""

from __future__ import annotations

import json
from pathlib import Path

from forecasting import errors


def add_parser(sub) -> None:
    """Add ``accuracy`` to the sub-command parsers."""
    p = sub.add_parser("accuracy", help="score the stored nightly forecasts against the actuals the cache now holds: "
                       "MASE, WAPE, bias, q10-q90 coverage by lead time, vs seasonal naive; drifting regions")
    p.add_argument("--cache", type=Path, required=True, help="the cache with the actual orders")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--results", type=Path, help="output folder of the runs (its results.sqlite; accuracy.csv goes there)")
    where.add_argument("--store", help="SQLAlchemy URL of the results store")
    p.add_argument("--since", help="only runs dated on or after YYYY-MM-DD")
    p.add_argument("--regions", help="comma-separated region ids (default: all)")
    p.add_argument("--config", help="YAML config: its forecasting.drift_days and drift_tolerance set the drift rule")
    p.add_argument("--drift-days", type=int, help="the drift rule's live window in days (default: the config's, 7)")
    p.add_argument("--csv", type=Path, help="where to write accuracy.csv (default: in --results, else the current folder)")
    p.add_argument("--json", action="store_true", help="print JSON (by lead time, per region and model, drifting) instead of the table")
    p.set_defaults(func=cmd_accuracy, flags={"since": "--since", "regions": "--regions", "drift_days": "--drift-days"})


def cmd_accuracy(args) -> int:
    """Score what is new, write accuracy.csv, print the table (or JSON)."""
    import pandas as pd

    from forecasting.accuracy.drift import find_drift
    from forecasting.accuracy.tables import COLUMNS, accuracy_by_lead, accuracy_table, format_table
    from forecasting.cli.jobs import split
    from forecasting.cli.store_args import open_store
    from forecasting.config.forecast import load_config
    from forecasting.data.cache import open_cache
    from forecasting.files import atomic_write
    from forecasting.runs.nightly import select_regions, validate_run_date
    from forecasting.store.scores import ScoreStore

    config = load_config(args.config).with_overrides(drift_days=args.drift_days)
    since = validate_run_date(args.since) if args.since else None
    regions = split(args.regions)
    if regions:
        regions = select_regions(open_cache(args.cache).regions(), regions)
    from forecasting.accuracy.update import update_scores

    store = open_store("accuracy", "--results", args.results, args.store, store_class=ScoreStore)
    try:
        scoring = update_scores(store, args.cache, regions, since)
        table = accuracy_table(store, regions, since)
        by_lead = accuracy_by_lead(store, regions, since)
        drifting = find_drift(store, config.drift_days, regions, config.drift_tolerance)
    finally:
        store.close()
    csv_path = args.csv or ((args.results or Path.cwd()) / "accuracy.csv")
    with atomic_write(csv_path, newline="", encoding="utf-8") as fh:
        table.to_csv(fh, index=False, columns=list(COLUMNS), float_format="%.6g")
    if args.json:
        def records(frame: pd.DataFrame) -> list[dict]:
            shown = frame.astype(object)
            return shown.where(shown.notna(), None).to_dict("records")

        print(json.dumps({"scoring": {"regions": scoring.regions, "runs": scoring.runs, "slots": scoring.slots,
                                      "baselines": scoring.baselines},
                          "by_lead": records(by_lead), "regions": records(table),
                          "drift": {"days": config.drift_days, "tolerance": config.drift_tolerance, "flagged": records(drifting)}, "csv": str(csv_path)},
                         allow_nan=False, default=str))
        return errors.EXIT_OK
    print(format_table(by_lead, table, drifting))
    print(f"scored now: {scoring.slots} new slots of {scoring.runs} runs' forecasts in {scoring.regions} regions; "
          f"every region and model: {csv_path}")
    return errors.EXIT_OK
