"""The project's exception hierarchy and the CLI exit codes that go with it.

Every error a user can cause (bad input, bad config, a cluster that cannot be
reached) derives from :class:`ForecastingError` and carries an ``exit_code``;
the CLI prints its message on one line and exits with that code.  Anything
else reaching the CLI is a bug and is printed with its traceback.

Per-region failures (:class:`RegionError` and its subclasses) never reach the
CLI: the driver records them per region and carries on.
"""

from __future__ import annotations

import difflib

# Stable exit codes of the ``forecasting`` command.  Documented in the README;
# cron jobs and schedulers branch on them, so never renumber.
EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_TOO_MANY_FAILED = 3
EXIT_CLUSTER = 4
EXIT_STORE = 5
EXIT_BUG = 70
EXIT_INTERRUPTED = 130


class ForecastingError(Exception):
    """Base class of every error this project raises on purpose."""

    exit_code = EXIT_USAGE


class UsageError(ForecastingError):
    """A command line or configuration value that cannot work.

    Parameters
    ----------
    message : str
        What is wrong, in one line.  Library code starts it with the name of
        the parameter at fault (``"regions: not in the cache: ..."``), never
        with a command-line flag.
    param : str, optional
        That parameter's name; the CLI shows its own flag in its place
        (``regions`` -> ``--regions``).
    """

    def __init__(self, message: str = "", param: str | None = None):
        self.param = param
        super().__init__(message)


class ConfigError(UsageError):
    """A configuration file or mapping that fails validation.

    Parameters
    ----------
    message : str
        What is wrong, in one line, naming the key and the value.
    key : str, optional
        The configuration key at fault (``horizon``, ``models``...), so that
        the command line can name its own flag for it.
    """

    def __init__(self, message: str, key: str | None = None):
        self.key = key
        super().__init__(message, param=key)

    def __reduce__(self):
        # Like RegionError: keep the key when the error travels back from a worker.
        return (type(self), (str(self), self.key))


class PluginError(ConfigError):
    """A configuration names a model plug-in that is installed but failed to load.

    The message says which distribution provides it and why it failed (its
    import raised, or its entry point names something that is not a model of
    that name); :func:`forecasting.models.plugins.broken_plugins` has the same.
    """


class ModelContractError(AssertionError):
    """A model class breaks the model contract (:func:`forecasting.models.checks.check_model`).

    An :class:`AssertionError` rather than a :class:`ForecastingError`: it is
    raised in a model author's tests, reports a bug in the model rather than
    bad input, and pytest shows it as a failed assertion.

    Parameters
    ----------
    model : str
        The model class, ``module.QualName``.
    check : str
        The check that failed (``fit_returns_self``, ``pickle``...).
    detail : str
        What was wrong.
    """

    def __init__(self, model: str, check: str, detail: str):
        self.model = model
        self.check = check
        self.detail = detail
        super().__init__(f"{model} fails the model contract check {check!r}: {detail}")

    def __reduce__(self):
        return (type(self), (self.model, self.check, self.detail))


def did_you_mean(word, choices, n: int = 1) -> str:
    """A ``" (did you mean 'x'?)"`` suffix naming up to ``n`` close matches, or ``""``.

    Parameters
    ----------
    word
        What was given (converted to ``str``).
    choices : iterable
        What is known.
    n : int
        Most suggestions, joined with ``or``.
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


class InputError(ForecastingError):
    """Input data (CSV files, a cache file) that cannot be used.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    path : str, optional
        The offending file.
    line : int, optional
        1-based line number in ``path`` (the header is line 1).
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.problem = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class CacheError(InputError):
    """A cache file that is missing, unreadable, or of the wrong schema."""


class ClusterError(ForecastingError):
    """A cluster that cannot be started, reached or kept alive."""

    exit_code = EXIT_CLUSTER


class StoreError(ForecastingError):
    """The results store cannot be written (locked for too long, disk full, gone).

    Every write is one transaction, so nothing partial is left behind; the
    run can be completed with ``forecasting run --resume RUN_ID``.
    """

    exit_code = EXIT_STORE


class RunLockedError(UsageError):
    """Another run for the same run date holds the results-store lock."""


class RegionError(ForecastingError):
    """A region that cannot be forecast.  Recorded per region, never fatal.

    Parameters
    ----------
    region : str
        The region concerned.
    message : str
        Why it cannot be forecast.
    """

    def __init__(self, region: str, message: str):
        self.region = region
        self.reason = message
        super().__init__(f"region {region!r}: {message}")

    def __reduce__(self):
        # Exceptions travel back from Dask workers by pickle; the default
        # reduce would call __init__ with the formatted message only.
        return (type(self), (self.region, self.reason))


class RegionDataError(RegionError):
    """The region's history is too short, empty, all zeros or mostly missing."""


class ModelError(RegionError):
    """A model failed to fit or predict on a region's data."""
