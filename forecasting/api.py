"""The Python API, for notebooks and scripts: :func:`backtest`, :func:`forecast`, :func:`champions`.

A thin layer over what the command line runs: the same plans
(:func:`~forecasting.runs.backtest.plan_backtest`,
:func:`~forecasting.runs.nightly.plan_nightly`), the same engine, executors
and results store.  What differs is the edge: results come back as
:mod:`forecasting.results` objects holding pandas DataFrames, errors are
raised (the :mod:`forecasting.errors` classes) instead of printed, and a
``distributed.Client`` the caller already has can be the cluster.

Without ``out`` and ``store`` nothing is left behind: the store and the
reports live in a temporary folder for the length of the call.  To have a
later :func:`forecast` use a backtest's champions, give both the same
``store``.

Examples
--------
>>> import forecasting
>>> bt = forecasting.backtest("cache.sqlite", models=["seasonal_naive", "gbm"], cutoffs=4,
...                           horizon="14D", cluster="local", store="results.sqlite")  # doctest: +SKIP
>>> bt.leaderboard.head()                                                         # doctest: +SKIP
>>> fc = forecasting.forecast("cache.sqlite", store="results.sqlite")             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd

from forecasting.errors import UsageError
from forecasting.results import BacktestResult, ForecastResult
from forecasting.runs.backends import open_cluster

__all__ = ["backtest", "champions", "forecast"]

def backtest(
    cache,
    models: Sequence[str] | str | None = None,
    cutoffs: int | None = None,
    horizon: str | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
    regions: Sequence[str] | None = None,
    cluster="local",
    workers: int | None = None,
    config=None,
    store: str | None = None,
    out=None,
    plots: bool = False,
    progress: bool = True,
    oracle_regressors: bool | None = None,
    staffing: dict | None = None,
    selection_metric: str | None = None,
    **cluster_options,
) -> BacktestResult:
    """Backtest models on every region of a cache and choose each region's champion.

    The same backtest as ``forecasting backtest``: rolling origins counted
    back from each region's last observation, one task per region, model and
    cutoff, champions chosen by MASE against the seasonal-naive baseline (always
    included).  Running it again with the same store reuses every finished window.

    Parameters
    ----------
    cache : path-like
        The SQLite cache (``forecasting cache build``).
    models : list of str or str, optional
        Model names or labels (``"gbm[max_iter=50]"``), or a comma-separated
        string; default: the config's (every registered model, plug-ins included).
    cutoffs : int, optional
        The last N cutoffs (default from the config).
    horizon : str, optional
        Length of each forecast window, e.g. ``"28D"``.
    start, end : str, optional
        First and last cutoff dates instead of ``cutoffs``.
    step : str, optional
        Days between cutoffs, e.g. ``"7D"``.
    regions : list of str, optional
        A subset of the cache's regions.
    cluster : str or distributed.Client
        ``"local"`` (a LocalCluster for the length of the call), ``"serial"``
        (no Dask), a scheduler address ``"tcp://host:port"`` or ``"tls://host:port"``
        (certificates: ``config``'s ``cluster:`` section, or ``security=`` a ``distributed.security.Security``),
        ``"yarn"``, or a connected ``distributed.Client``, which is used and left open.
        ``FORECASTING_SERIAL=1`` turns a named cluster into ``serial``.
    workers : int, optional
        Worker processes of a local cluster (default: one per core).
    config : path-like, optional
        A YAML config; its ``backtest:`` and ``forecasting:`` sections give
        the defaults the arguments override, its ``cluster:`` section the
        certificates of a ``tls://`` scheduler.
    store : str or path-like, optional
        The results store: a SQLAlchemy URL or a SQLite file path.
        Default: ``OUT/results.sqlite``, or a temporary one.
    out : path-like, optional
        Folder for the CSV reports (and ``plots``); default: a temporary folder.
    plots : bool
        Also write the PNG reports into ``out``.
    progress : bool
        Show progress (a bar in a notebook cell or on a terminal).
    oracle_regressors, staffing, selection_metric : optional
        The config keys of those names (``staffing={"cost_under": 30, "cost_over": 10}``).
    **cluster_options
        Passed to the cluster's back end (e.g. ``yarn=`` a YARN config for ``cluster="yarn"``,
        ``security=`` for a scheduler address).

    Returns
    -------
    BacktestResult

    Raises
    ------
    UsageError, ConfigError, CacheError
        Bad arguments or inputs, before any cluster starts.
    ClusterError
        The cluster cannot be started or reached.
    StoreError
        The results store or the reports cannot be written.
    """
    from forecasting.config.backtest import load_backtest_config
    from forecasting.config.forecast import load_config
    from forecasting.runs.backtest import plan_backtest, run_backtest

    bt_config = load_backtest_config(config).with_overrides(
        models=_model_list(models), start=start, end=end, cutoffs=cutoffs, horizon=horizon, step=step,
        oracle_regressors=oracle_regressors, staffing=staffing, selection_metric=selection_metric,
    )
    job_config = load_config(config)
    regions = _region_list(regions)
    plan = plan_backtest(cache, bt_config, job_config, regions)
    with _folder(out) as folder, open_cluster(cluster, workers=workers, retries=job_config.retries, cache_path=str(cache), config_path=config, **cluster_options) as executor:
        url = _store_url(store)
        summary = run_backtest(cache, folder, executor, bt_config, job_config, regions=regions, store=url,
                               show_progress=progress, plots=plots, plan=plan, keep_windows=True)
    return BacktestResult(
        backtest_id=summary.backtest_id,
        leaderboard=summary.leaderboard,
        champions=summary.champions,
        windows=summary.windows,
        failures=summary.failures,
        cutoffs=summary.region_cutoffs,
        cache=str(plan.cache.path),
        store=summary.store if (store or out) else None,
        folder=summary.folder if out else None,
        n_tasks=summary.n_tasks,
        n_reused=summary.n_resumed,
        wall_seconds=summary.wall_seconds,
    )


def forecast(
    cache,
    run_date: str | None = None,
    models: Sequence[str] | str | None = None,
    *,
    horizon: str | None = None,
    regions: Sequence[str] | None = None,
    cluster="local",
    workers: int | None = None,
    config=None,
    store: str | None = None,
    out=None,
    progress: bool = True,
    **cluster_options,
) -> ForecastResult:
    """Forecast every region of a cache from a run date: the nightly job.

    Parameters
    ----------
    cache : path-like
        The SQLite cache.
    run_date : str, optional
        ``YYYY-MM-DD``, the first day forecast; default: the day after the
        cache's latest slot.
    models : list of str or str, optional
        ``None``: each region's backtest champion when ``store`` holds
        champions, the config's models elsewhere; ``"champion"``: the same,
        but a store without champions is an error; a list of model names:
        these (the best on each region's hold-out), ignoring champions.
    horizon : str, optional
        How far ahead, e.g. ``"28D"``.
    regions : list of str, optional
        A subset of the cache's regions.
    cluster, workers, config, store, out, progress, **cluster_options
        As for :func:`backtest` (``out`` receives ``runs/<run id>/``).

    Returns
    -------
    ForecastResult

    Raises
    ------
    UsageError, ConfigError, CacheError
        Bad arguments or inputs (``models="champion"`` with no champions
        stored), before any cluster starts.
    ClusterError, StoreError, RunLockedError
        As for :func:`backtest`; another run of the same run date holds the store's lock.
    """
    from forecasting.config.forecast import load_config
    from forecasting.runs.nightly import plan_nightly, run_nightly
    from forecasting.store.runs import ResultsStore

    champion = models == "champion"
    config_path = config  # (its 'cluster:' section is the back end's to read)
    config = load_config(config).with_overrides(horizon=horizon, models=None if champion else _model_list(models))
    use_champions = True if champion else (False if models else None)
    regions = _region_list(regions)
    plan = plan_nightly(cache, config, regions, run_date)
    with _folder(out) as folder, open_cluster(cluster, workers=workers, retries=config.retries, cache_path=str(cache), config_path=config_path, **cluster_options) as executor:
        summary = run_nightly(cache, folder, executor, config, regions=regions, store=_store_url(store),
                              cluster=cluster if isinstance(cluster, str) else "", show_progress=progress,
                              use_champions=use_champions, plan=plan)
        results = ResultsStore(summary.store)
        try:
            forecasts = results.forecasts(summary.run_id).drop(columns="run_id", errors="ignore")
            outcomes = results.region_outcomes(summary.run_id)
        finally:
            results.close()
    failures = outcomes[outcomes.status != "ok"].reindex(
        columns=["region", "status", "error_type", "message", "traceback", "worker"]).reset_index(drop=True)
    return ForecastResult(
        run_id=summary.run_id,
        run_date=summary.run_date,
        status=summary.status,
        forecasts=forecasts,
        failures=failures,
        cache=plan.cache_path,
        store=summary.store if (store or out) else None,
        folder=summary.folder if out else None,
        wall_seconds=summary.wall_seconds,
    )


def champions(store) -> pd.DataFrame:
    """The champion of every region a results store holds one for.

    Parameters
    ----------
    store : str or path-like
        A SQLAlchemy URL or a SQLite file path (a backtest's ``store``).

    Returns
    -------
    pandas.DataFrame
        ``region, model, mase, seasonal_naive_mase, ...``, one row per region
        with a champion (empty if none).
    """
    from forecasting.store.backtests import BacktestStore, load_champions

    url = _store_url(store)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UsageError(f"store: no results store at {url.removeprefix('sqlite:///')}", param="store")
    results = BacktestStore(url)
    try:
        return load_champions(results)
    finally:
        results.close()


def _model_list(models) -> list | None:
    """Names or labels as the config reads them; a label (``gbm[max_iter=50]``, ``combination(a + b)``,
    as leaderboards and champions name models) becomes its spec."""
    from forecasting.models.spec import ModelSpec

    if models is None or isinstance(models, str):
        return models or None
    return [ModelSpec.parse(m) if isinstance(m, str) else m for m in models] or None


def _region_list(regions) -> list[str] | None:
    if regions is None:
        return None
    if isinstance(regions, str):
        return [r.strip() for r in regions.split(",") if r.strip()] or None
    return list(regions) or None


def _store_url(store) -> str | None:
    """A SQLAlchemy URL as given; a path as the URL of that SQLite file."""
    if store is None:
        return None
    text = str(store)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


@contextlib.contextmanager
def _folder(out) -> Iterator[Path]:
    """``out``, or a temporary folder removed on leaving (the caller keeps only DataFrames)."""
    if out is not None:
        yield Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="forecasting-") as tmp:
        yield Path(tmp)
