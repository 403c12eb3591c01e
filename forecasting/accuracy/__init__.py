"""Live accuracy: the stored nightly forecasts against what happened, and drift.

* :mod:`~forecasting.accuracy.scoring`: the metrics as sums of per-slot terms;
* :mod:`~forecasting.accuracy.update`: scoring new actuals, incrementally;
* :mod:`~forecasting.accuracy.tables`: per region, model and lead time;
* :mod:`~forecasting.accuracy.drift`: the drift rule.

:func:`live_accuracy` is the notebook's way in (``forecasting.live_accuracy``).
"""

from __future__ import annotations


def live_accuracy(store, cache, regions=None, since: str | None = None):
    """Score what the cache can score, then return the live accuracy table.

    Parameters
    ----------
    store : str or path-like
        The results store: a SQLAlchemy URL or a SQLite file path.
    cache : path-like
        The cache with the actual orders.
    regions : list of str or str, optional
        Only these regions (a list, or ``"a,b"``).
    since : str, optional
        Only runs dated on or after this ``YYYY-MM-DD``.

    Returns
    -------
    pandas.DataFrame
        One row per region, model and lead time (``day 1`` ... ``all``):
        ``n_runs, n_slots, mase, wape, bias, coverage`` and the same for
        seasonal naive over the same slots (``naive_mase`` ...); regions
        with no actuals yet have status ``no actuals yet``.
    """
    from pathlib import Path

    from forecasting.accuracy.tables import accuracy_table
    from forecasting.accuracy.update import update_scores
    from forecasting.errors import UsageError
    from forecasting.store.scores import ScoreStore

    text = str(store)
    url = text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UsageError(f"store: no results store at {url.removeprefix('sqlite:///')}", param="store")
    if isinstance(regions, str):
        regions = [r.strip() for r in regions.split(",") if r.strip()]
    scores = ScoreStore(url)
    try:
        update_scores(scores, cache, regions or None, since)
        return accuracy_table(scores, regions or None, since)
    finally:
        scores.close()
