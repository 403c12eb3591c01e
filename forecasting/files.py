"""Writing files atomically: a reader sees the old file or the whole new one.

Every file the project writes for others to read (exports, reports, plots,
the cache, the packed environment and its hash) goes through a temporary
file beside its destination, is flushed to disk, and is renamed over the
destination only once complete.  A failure at any point leaves the
destination as it was and removes the temporary file.

This module sits at the bottom of the package: it imports nothing of
``forecasting`` and no third-party library, so that ``deploy`` and the
workers can use it without pulling in the results store.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_path", "atomic_write"]


def _temp_beside(path: Path) -> Path:
    # Beside the destination, so the rename stays on one file system; a unique
    # name per call (not just per process), so threads never share one.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` if the block succeeds.

    For writers that want a path rather than an open file (SQLite, archive
    tools).  The block creates the file at the yielded path; on a normal
    exit it is flushed to disk and renamed over ``path``, and the folder is
    flushed so that the rename survives a crash.  On every exit the
    temporary file is gone afterwards.

    Parameters
    ----------
    path : path-like
        The destination; its folder must exist.

    Yields
    ------
    pathlib.Path
        The temporary file to write, beside ``path``; it does not exist yet.
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` if the block succeeds.

    Parameters
    ----------
    path : path-like
        The destination; its folder must exist.
    mode : str
        A writing mode of :func:`open` (``"w"``, ``"wb"``...).
    **open_kwargs
        Passed to :func:`open` (``encoding``, ``newline``...).

    Yields
    ------
    file object
        Open for writing; closed, flushed to disk and renamed over ``path``
        when the block exits normally.  If the block raises, ``path`` is
        untouched and the temporary file is removed.

    Examples
    --------
    >>> with atomic_write(folder / "run.json", encoding="utf-8") as fh:  # doctest: +SKIP
    ...     json.dump(summary, fh)
    """
    if not any(c in mode for c in "wxa"):
        raise ValueError(f"atomic_write needs a writing mode, not {mode!r}")
    with atomic_path(path) as tmp:
        # O_EXCL: never write through a file someone else put there; 0o666
        # lets the umask decide the final permissions, as open() would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            fh = os.fdopen(fd, mode, **open_kwargs)
        except BaseException:  # a bad encoding or mode: fdopen did not take the descriptor
            os.close(fd)
            raise
        with fh:
            yield fh
