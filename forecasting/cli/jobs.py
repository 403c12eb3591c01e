"""What ``run`` and ``backtest`` share: their options, the checks at the edge, the cluster.

Every input is checked once, before a cluster is started or anything is
written: here the cluster target and its back end's options (``--workers``,
the ``yarn:`` section); the cache, the regions and the run date by the run's
plan (``plan_nightly``, ``plan_backtest``), which the run is then handed.  The
library below names the parameter at fault; :data:`FLAGS` gives the flag
that feeds it, which the error line shows instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from forecasting.errors import UsageError

#: Library parameter -> the flag of these commands that feeds it (see forecasting.cli.main.error_line).
FLAGS = {
    "cluster": "--cluster",
    "workers": "--workers",
    "regions": "--regions",
    "run_date": "--run-date",
    "resume": "--resume",
    "out": "--out",
    "log_dir": "--log-dir",
    "use_champions": "--models champion",
    # Config keys the command line overrides (a ConfigError's key).
    "horizon": "--horizon",
    "models": "--models",
    "max_failed_fraction": "--max-failed-fraction",
    "on_drift": "--on-drift",
    "retention_days": "--retention-days",
    "start": "--start",
    "end": "--end",
    "cutoffs": "--cutoffs",
    "step": "--step",
    "queue": "--queue",
    "name": "--name",
    "environment": "--environment",
    "worker_memory": "--worker-memory",
    "worker_vcores": "--worker-vcores",
    "dashboard_address": "--dashboard-address",
}


def add_job_arguments(parser, cache_required: bool = True) -> None:
    """Options that 'run' and 'backtest' share."""
    parser.add_argument("--cache", required=cache_required, type=Path, help="the SQLite cache")
    parser.add_argument("--out", required=True, type=Path, help="output folder (results store, reports)")
    parser.add_argument("--cluster", default="local", help="serial, local (default), yarn, or a scheduler address tcp://host:port "
                        "(tls://host:port: certificates from the config's 'cluster:' section)")
    parser.add_argument("--workers", type=int,
                        help="worker processes of a local cluster (default: one per core), or YARN worker containers")
    parser.add_argument("--regions", help="comma-separated region ids (default: all)")
    parser.add_argument("--config", type=Path, help="YAML config ('forecasting:', 'backtest:', 'yarn:', 'cluster:' sections)")
    parser.add_argument("--store", help="SQLAlchemy URL of the results store (default OUT/results.sqlite)")
    parser.add_argument("--log-dir", type=Path, help="where the driver and local workers also write their logs, one folder "
                        "per process (default OUT/logs/<time>-<pid>)")
    parser.set_defaults(flags=FLAGS)


def add_backend_arguments(parsers) -> None:
    """Each installed back end adds its own options (YARN's ``--queue``...) to the commands that start a cluster."""
    from forecasting.runs.backends import available_backends

    for backend in available_backends().values():
        if backend.add_arguments is not None:
            for parser in parsers:
                backend.add_arguments(parser)


def cluster_target(args) -> str:
    """``--cluster``, or ``serial`` when ``FORECASTING_SERIAL`` asks for it."""
    from forecasting.runs.executors import serial_requested

    return "serial" if serial_requested() else args.cluster


def prepare_cluster(args, cluster: str, retries: int, cache, log_dir: Path):
    """The cluster to open, checked (target, ``--workers``, its back end's options); nothing started.

    Returns
    -------
    forecasting.runs.backends.Prepared
        ``.open()`` starts it.
    """
    from forecasting.runs.backends import backend_for, parse_target, prepare_backend

    target = parse_target(cluster)
    backend = backend_for(target)
    options = {"workers": args.workers, "retries": retries, "cache_path": str(cache), "log_dir": str(log_dir),
               "config_path": args.config}
    if backend.options_from_args is not None:
        options.update(backend.options_from_args(args))
    return prepare_backend(target, **options)


def check_cache(cache) -> None:
    """Refuse a cache that does not open (a missing file, another schema) before anything is started."""
    from forecasting.data.cache import open_cache

    open_cache(cache)


def log_dir(args) -> Path:
    """``--log-dir``, else a new folder ``OUT/logs/<UTC time>-<pid>`` for this invocation."""
    import time

    return args.log_dir or args.out / "logs" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"


def make_folders(args, log_dir: Path) -> None:
    """Create ``--out`` and the log folder, or refuse with one line naming the flag at fault.

    Called once the inputs are checked, before a cluster starts: an output
    folder that cannot be made (a path under a regular file, a folder this
    user may not write) is the user's to fix, not a bug to show a traceback for.

    Raises
    ------
    UsageError
        A folder that cannot be created (``param`` ``out``, or ``log_dir`` for ``--log-dir``).
    """
    for folder, param in ((args.out, "out"), (log_dir, "log_dir" if args.log_dir else "out")):
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{param}: cannot create the folder {folder}: {exc.strerror or exc}", param=param) from None


def split(value: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; None for nothing."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None
