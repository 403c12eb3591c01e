"""``forecasting status``: recent runs, or one run's regions."""

from __future__ import annotations

from pathlib import Path

from forecasting import errors


def add_parser(sub) -> None:
    """Add ``status`` to the sub-command parsers."""
    status = sub.add_parser("status", help="recent runs, or one run's regions (status, attempts, errors)")
    status.add_argument("run_id", nargs="?", help="a run id (default: list the recent runs)")
    status.add_argument("--out", type=Path, help="output folder of the runs (its results.sqlite)")
    status.add_argument("--store", help="SQLAlchemy URL of the results store")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    """Print the recent runs, or one run and its regions."""
    import json

    import pandas as pd

    from forecasting.cli.store_args import open_store

    store = open_store("status", "--out", args.out, args.store)
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
        # Missing values as null: pandas gives NaN, which strict JSON readers (jq, JavaScript) refuse.
        shown = regions[cols + ["traceback"]].astype(object)
        records = shown.where(shown.notna(), None).to_dict("records")
        print(json.dumps({"run": run, "regions": records}, default=str, allow_nan=False))
        return errors.EXIT_OK
    print(f"run {run['run_id']} ({run['kind']}, run date {run['run_date']}): {run['status'].upper()}, "
          f"{run['n_ok']} ok, {run['n_failed']} failed of {run['n_regions']}" + (f" ({run['message']})" if run["message"] else ""))
    print(regions[cols].astype(object).where(regions[cols].notna(), "").to_string(index=False, max_colwidth=60))
    return errors.EXIT_OK


def _flag_interrupted(store, runs):
    """``running`` runs that no live driver holds become ``running (interrupted?)``."""
    from forecasting.store.lock import interrupted_runs

    running = runs.run_id[runs.status == "running"].tolist()
    gone = interrupted_runs(store.engine, running) if running else set()
    return runs.assign(status=[f"{s} (interrupted?)" if r in gone else s for r, s in zip(runs.run_id, runs.status)])
