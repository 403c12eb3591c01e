"""Database URLs as they may be shown: in errors, logs, summaries, reports.

A results-store URL can carry a password (``postgresql+psycopg://bob:s3cret@db/forecasts``)
that must reach the database driver and nothing else: not standard error,
not the driver's log, not a cron mail, not an HTML report.  Whatever shows a
URL passes it through :func:`shown_url`; whatever shows an error the driver
raised about it passes that through :func:`shown_error`.  The engine itself is
always made from the real URL.

Functions
---------
shown_url
    The URL with its password (and any ``password=`` query parameter) as ``***``.
shown_error
    A driver's error about a URL: its first line, with the URL's password masked.
missing_driver
    The one-line error for a URL whose database driver is not installed.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "missing_driver", "shown_error", "shown_url"]

MASK = "***"
# ``scheme://user:`` then everything up to the last ``@`` of the authority: SQLAlchemy stops a
# password at its first ``@``, and ``bob:p@ss@host`` must not show ``ss``.
_USERINFO = re.compile(r"^([A-Za-z][\w+.-]*://[^:/?#@]*:)[^/?#]*@")
# libpq and several drivers also take the password as a query parameter.
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|sslpassword)=)[^&#]*", re.IGNORECASE)
#: The extra that installs the supported PostgreSQL driver (psycopg 3), and its URL form.
POSTGRES_EXTRA = "pip install 'forecasting[postgres]'"
POSTGRES_URL = "postgresql+psycopg://user:password@host/database"


def shown_url(url) -> str:
    """``url`` as it may be printed or written: any password replaced by ``***``.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        A database URL; text that is no valid URL is masked all the same.

    Returns
    -------
    str
        The URL unchanged when it holds no password (SQLite paths stay as
        given), else with ``***`` where the password was.
    """
    text = _text(url)
    try:
        import sqlalchemy as sa

        parsed = sa.engine.make_url(text)
        if parsed.password is not None:
            text = parsed.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses (a bad port...): the patterns below still apply
        pass
    return _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text))


def _text(url) -> str:
    """A URL object (``engine.url``) or text, as text with its password."""
    return url.render_as_string(hide_password=False) if hasattr(url, "render_as_string") else str(url)


def _passwords(url: str) -> list[str]:
    """Every spelling of ``url``'s password that a driver might echo (parsed, and as written)."""
    found = []
    try:
        import sqlalchemy as sa

        found.append(sa.engine.make_url(url).password)
    except Exception:  # noqa: BLE001 - unparsable: only the written form below
        pass
    match = _USERINFO.match(url)
    if match:
        found.append(url[match.end(1):match.end() - 1])
    found += [m.group(0).split("=", 1)[1] for m in _QUERY_SECRET.finditer(url)]
    # Longest first, so that a password containing another is masked whole.
    return sorted({p for p in found if p}, key=len, reverse=True)


def shown_error(error, url) -> str:
    """The first line of a driver's error about ``url``, with ``url``'s password masked.

    Parameters
    ----------
    error : BaseException or str
        What the driver raised (``sqlalchemy.exc.DBAPIError.orig``...).
    url : str or sqlalchemy.engine.URL
        The URL it was about.

    Returns
    -------
    str
        One line: DBAPI messages span several (psycopg adds ``Is the server
        running...``), while our errors are one line on standard error.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    for password in _passwords(_text(url)):
        text = text.replace(password, MASK)
    return text


def missing_driver(url: str, exc: ImportError) -> str:
    """The one-line error for ``url`` whose driver module ``exc`` says is not installed.

    PostgreSQL URLs get the extra that installs psycopg 3 and the URL form
    that uses it (``postgresql://`` alone means psycopg too, in SQLAlchemy
    2.1); other databases get the module's name to install.
    """
    module = getattr(exc, "name", None) or str(exc)
    scheme = str(url).split("://", 1)[0].lower()
    if scheme.startswith("postgres"):
        hint = f"install psycopg 3 with {POSTGRES_EXTRA} and write the URL as {POSTGRES_URL}"
    else:
        hint = f"install the Python package that provides the module {module!r}, or use a driver that is installed"
    return f"--store: the database driver for {shown_url(url)!r} is not installed (no module {module!r}): {hint}"
