"""Opening the results store that a read-only sub-command names.

``forecasting status`` and ``forecasting report`` read a store that a run
wrote: named by the run's output folder (``--out`` or ``--results``) or by
``--store``.  Both refuse an output folder without a store rather than
open it, since opening one creates an empty database and the command would
then report "no runs" about a typo; ``report`` refuses a missing SQLite
file named by ``--store`` the same way.

Functions
---------
open_store
    The :class:`~forecasting.store.runs.ResultsStore` a command names, or a
    :class:`~forecasting.errors.UsageError` saying why not.
"""

from __future__ import annotations

from pathlib import Path

from forecasting.errors import UsageError

__all__ = ["open_store"]


def open_store(command: str, folder_option: str, folder: Path | None, url: str | None, *, check_url: bool = False,
               store_class=None):
    """The results store named by an output folder or a URL.

    Parameters
    ----------
    command : str
        The sub-command, first word of every message (``"status"``).
    folder_option : str
        The option that names the folder, in the messages (``"--out"``).
    folder : pathlib.Path, optional
        The runs' output folder; its ``results.sqlite`` is the store.
    url : str, optional
        SQLAlchemy URL of the store; it wins over ``folder``.
    check_url : bool, default False
        Also refuse a SQLite ``url`` whose database file does not exist
        (in-memory databases and URLs SQLAlchemy cannot parse pass through,
        to fail when the store opens them).
    store_class : type, optional
        The :class:`~forecasting.store.runs.ResultsStore` subclass to open
        (``accuracy`` opens a :class:`~forecasting.store.scores.ScoreStore`).

    Returns
    -------
    forecasting.store.runs.ResultsStore
        The open store; the caller closes it.

    Raises
    ------
    UsageError
        If neither ``folder`` nor ``url`` is given, or the store they name
        does not exist.
    """
    from forecasting.store.database import store_url
    from forecasting.store.runs import ResultsStore
    from forecasting.store.urls import shown_url

    if not url and not folder:
        raise UsageError(f"{command}: give {folder_option} (the runs' output folder) or --store")
    if folder and not url and not (folder / "results.sqlite").is_file():
        raise UsageError(f"{command}: no results store in {folder}")
    if check_url and url and url.startswith("sqlite"):
        import sqlalchemy as sa

        try:
            database = sa.engine.make_url(url).database
        except sa.exc.ArgumentError:
            database = None
        if database and database != ":memory:" and not Path(database).is_file():
            raise UsageError(f"{command}: no results store at {shown_url(url)}")
    return (store_class or ResultsStore)(store_url(folder, url))
