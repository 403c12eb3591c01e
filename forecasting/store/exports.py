"""The files of a run: ``forecasts.csv``, ``failures.csv``, ``run.json``.

Each is written through :func:`forecasting.files.atomic_write`, so a reader
of the run folder sees a run's previous files or its new ones, never half a
file.  :func:`versions` records what shaped the results.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

import forecasting
from forecasting.data.timestamps import utc_text
from forecasting.files import atomic_write
from forecasting.models.base import FORECAST_COLUMNS
from forecasting.store.runs import ResultsStore

#: The libraries whose versions can change results, recorded in ``run.json``.
LIBRARIES = ("dask", "distributed", "pandas", "numpy", "scikit-learn", "statsmodels", "sqlalchemy")


def versions() -> dict[str, str]:
    """Versions of Python, this package and the libraries that shape results."""
    out = {"python": sys.version.split()[0], "forecasting": forecasting.__version__}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib_metadata.version(lib)
        except importlib_metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def export_run(store: ResultsStore, run_id: str, folder: Path, extra: dict | None = None) -> dict[str, Path]:
    """Write ``forecasts.csv``, ``failures.csv`` and ``run.json`` for a run.

    Parameters
    ----------
    store : ResultsStore
        The store holding the run.
    run_id : str
        The run to export.
    folder : path-like
        The run folder; created if missing.  Each file replaces its previous
        version atomically.
    extra : dict, optional
        More entries for ``run.json``.

    Returns
    -------
    dict of str to pathlib.Path
        The paths written, by file name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("forecasts.csv", "failures.csv", "run.json")}
    with atomic_write(paths["forecasts.csv"], newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "timestamp", "model", *FORECAST_COLUMNS, "staff"])
        for region, ts, model, *values in store.iter_forecast_rows(run_id):
            writer.writerow([region, utc_text(ts), model, *("" if v is None else f"{v:.4f}" for v in values)])
    outcomes = store.region_outcomes(run_id)
    failed = outcomes[outcomes.status == "failed"]
    with atomic_write(paths["failures.csv"], newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "error_type", "message"])
        for row in failed.itertuples():
            writer.writerow([row.region, row.error_type, row.message])
    run = store.run(run_id)
    durations = outcomes.duration_s.dropna().astype(float)
    summary = {
        "run_id": run_id,
        "kind": run["kind"],
        "run_date": run["run_date"],
        "status": run["status"],
        "message": run["message"],
        "cluster": run["cluster"],
        "cache": run["cache_path"],
        "config": json.loads(run["config_json"]),
        "config_hash": run["config_hash"],
        "counts": {"regions": run["n_regions"], "ok": run["n_ok"], "failed": run["n_failed"]},
        "started_at": utc_text(run["started_at"]),
        "finished_at": utc_text(run["finished_at"]) if run["finished_at"] else None,
        "wall_seconds": round((run["finished_at"] or time.time()) - run["started_at"], 3),
        "region_seconds": {
            "total": round(float(durations.sum()), 3),
            "median": round(float(durations.median()), 3) if len(durations) else None,
            "max": round(float(durations.max()), 3) if len(durations) else None,
        },
        "models": outcomes.model.dropna().value_counts().to_dict(),
        "failures": [
            {"region": r.region, "error_type": r.error_type, "message": r.message, "traceback": r.traceback} for r in failed.itertuples()
        ],
        "versions": versions(),
        **(extra or {}),
    }
    with atomic_write(paths["run.json"], encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=_json_default)
    return paths


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)
