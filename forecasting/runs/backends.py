"""Back ends: where a ``--cluster`` target's executor comes from.

The engine only needs an executor (:mod:`forecasting.runs.executors`); how a
cluster is started, reached or torn down is a back end's business.  Back
ends register here under a name, like statsforecast's back ends register
with its core, so that this package never imports the code that starts
clusters (``deploy/``):

* ``serial`` is built in (no Dask: every job runs in this process);
* the others come from the ``forecasting.backends`` entry-point group of the
  installed distributions (this project's own ``setup.cfg`` declares
  ``local``, ``address`` and ``yarn`` from ``deploy.clusters``), or from
  :func:`register_backend` at run time.

An entry point names either a :class:`Backend` or a bare opener: a
callable ``opener(target, **options)`` that returns a context manager
yielding an executor and tears the cluster down on leaving it.

Targets
-------
``serial``, ``local``, ``yarn`` (or any registered name)
    That back end.
``tcp://host:port`` or ``tls://host:port``
    The ``address`` back end: an existing Dask scheduler.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator

from forecasting.errors import ClusterError, UsageError

ENTRY_POINTS = "forecasting.backends"
#: Back ends this project documents; a missing one is a missing plug-in, not a typo.
KNOWN = ("serial", "local", "address", "yarn")
#: URL schemes of a scheduler address.
SCHEMES = ("tcp://", "tls://")

_registered: dict[str, "Backend"] = {}
_discovered: dict[str, "Backend"] | None = None


@dataclass(frozen=True)
class Target:
    """A parsed ``--cluster`` value.

    Parameters
    ----------
    kind : str
        The back end's name (``address`` for a scheduler URL).
    text : str
        The target as given, e.g. ``tcp://10.0.0.1:8786``.
    """

    kind: str
    text: str


@dataclass(frozen=True)
class Backend:
    """A named way of getting an executor.

    Parameters
    ----------
    name : str
        What ``--cluster`` calls it.
    opener : callable
        ``opener(target, **options)``: a context manager yielding an
        executor; leaving it tears down whatever it started.  Options it
        does not use are ignored (every back end gets the common ones).
    check : callable, optional
        ``check(target, options) -> options``: validates (and completes)
        the options before anything is started; raises
        :class:`~forecasting.errors.UsageError` naming the parameter.
    add_arguments : callable, optional
        ``add_arguments(parser)``: the back end's own command-line options,
        added to each command that starts a cluster.
    options_from_args : callable, optional
        ``options_from_args(args) -> dict``: those options, parsed, as
        opener options.
    """

    name: str
    opener: Callable[..., ContextManager]
    check: Callable[[Target, dict], dict] | None = None
    add_arguments: Callable[[Any], None] | None = None
    options_from_args: Callable[[Any], dict] | None = None


def register_backend(name: str, opener, **hooks) -> Backend:
    """Register a back end (or replace one of that name); return it.

    Parameters
    ----------
    name : str
        What targets call it.
    opener : callable
        See :class:`Backend`.
    **hooks
        ``check``, ``add_arguments``, ``options_from_args`` (see :class:`Backend`).
    """
    backend = Backend(name, opener, **hooks)
    _registered[name] = backend
    return backend


def available_backends() -> dict[str, Backend]:
    """Every back end: built in, installed (entry points) and registered, by name."""
    global _discovered
    if _discovered is None:
        from importlib.metadata import entry_points

        found = {}
        for ep in entry_points(group=ENTRY_POINTS):
            # A plug-in that fails to import is a bug in it: let it show.
            obj = ep.load()
            found.setdefault(ep.name, obj if isinstance(obj, Backend) else Backend(ep.name, obj))
        _discovered = found
    return {**_BUILT_IN, **_discovered, **_registered}


def parse_target(target: str) -> Target:
    """The back end a target names.

    Raises
    ------
    UsageError
        Neither a back end's name nor a scheduler address (``param="cluster"``).
    """
    from forecasting.errors import did_you_mean

    names = [*KNOWN, *(n for n in available_backends() if n not in KNOWN)]
    text = str(target)
    if text.startswith(SCHEMES):
        if text.split("://", 1)[1]:
            return Target("address", text)
    elif text in names and text != "address":
        return Target(text, text)
    shown = ", ".join(["serial", "local", "tcp://host:port", *(n for n in names if n not in ("serial", "local", "address"))])
    raise UsageError(
        f"cluster must be one of {shown}, got {target!r}{did_you_mean(text, [n for n in names if n != 'address'])}",
        param="cluster",
    )


def backend_for(target: Target) -> Backend:
    """The registered back end of a parsed target.

    Raises
    ------
    ClusterError
        A back end this project knows whose plug-in is not installed.
    """
    backend = available_backends().get(target.kind)
    if backend is None:
        raise ClusterError(
            f"cluster {target.text!r} needs the {target.kind!r} back end, which is not installed "
            f"(no {ENTRY_POINTS!r} entry point named {target.kind!r}): install the package that provides it "
            "(this project's own: pip install -e . in its checkout)"
        )
    return backend


@dataclass(frozen=True)
class Prepared:
    """A target and its options, checked; nothing started yet.

    Attributes
    ----------
    target : Target
    backend : Backend
    options : dict
        What the opener gets.
    """

    target: Target
    backend: Backend
    options: dict = field(default_factory=dict)

    def open(self) -> ContextManager:
        """Start (or reach) the cluster: a context manager yielding an executor."""
        return self.backend.opener(self.target, **self.options)


def prepare_backend(target: str | Target, **options) -> Prepared:
    """Check a target and its options without starting anything.

    Callers that must refuse bad input before writing anything (the CLI)
    prepare first and :meth:`Prepared.open` later; the checks run once.

    Parameters
    ----------
    target : str or Target
        ``serial``, ``local``, ``yarn``, ``tcp://host:port``...
    **options
        Opener options: ``workers``, ``retries``, ``cache_path``, ``log_dir``,
        ``config_path`` (the YAML config, whose sections a back end may read)
        and the back end's own (``connect_timeout``, ``security``, ``yarn``...).

    Raises
    ------
    UsageError
        An unknown target or bad options, naming the parameter.
    ClusterError
        The target's back end is not installed.
    """
    parsed = target if isinstance(target, Target) else parse_target(target)
    backend = backend_for(parsed)
    workers = options.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers must be at least 1, got {workers}", param="workers")
    if backend.check is not None:
        options = backend.check(parsed, dict(options))
    return Prepared(parsed, backend, options)


@contextlib.contextmanager
def open_backend(target: str | Target, **options) -> Iterator:
    """Open the cluster a target names and yield an executor for it.

    Whatever happens inside the block (success, an exception, Ctrl-C), the
    back end closes its client and shuts down any cluster it started.

    Parameters
    ----------
    target : str or Target
        See :func:`prepare_backend`.
    **options
        See :func:`prepare_backend`.

    Raises
    ------
    UsageError
        An unknown target or bad options.
    ClusterError
        The back end is not installed, or the cluster cannot be started or reached.
    """
    with prepare_backend(target, **options).open() as executor:
        yield executor


@contextlib.contextmanager
def open_cluster(cluster, **options) -> Iterator:
    """An executor for a target, or for a caller's connected ``distributed.Client`` (used, and left open).

    A named target honours ``FORECASTING_SERIAL`` as the command line does; ``options`` as for
    :func:`prepare_backend` (``retries`` also applies to a client).

    Raises
    ------
    UsageError
        ``cluster`` is neither a target nor a ``distributed.Client`` (``param="cluster"``), or bad options.
    ClusterError
        The cluster cannot be started or reached.
    """
    from forecasting.runs.executors import DaskExecutor, serial_requested

    if not isinstance(cluster, (str, Target)):
        if not _is_client(cluster):
            raise UsageError(f"cluster must be a name, a scheduler address or a distributed.Client, got {cluster!r}",
                             param="cluster")
        yield DaskExecutor(cluster, retries=options.get("retries", 2))
        return
    with open_backend("serial" if serial_requested() else cluster, **options) as executor:
        yield executor


def _is_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:  # no Dask installed: nothing can be a Client
        return False
    return isinstance(obj, Client)


@contextlib.contextmanager
def open_serial(target: Target, retries: int = 2, **_other_backends_options) -> Iterator:
    """The built-in ``serial`` back end: no Dask, every job in this process."""
    from forecasting.runs.executors import SerialExecutor

    yield SerialExecutor(retries=retries)


_BUILT_IN = {"serial": Backend("serial", open_serial)}
