"""Model plug-ins: :class:`~forecasting.models.base.Forecaster` classes of other installed distributions.

A distribution declares its models in its own metadata, in the
``forecasting.models`` entry-point group, one entry point per model, named
like the model (as the cluster back ends do in ``forecasting.backends``,
:mod:`forecasting.runs.backends`)::

    # pyproject.toml of the plug-in
    [project.entry-points."forecasting.models"]
    weekly_ridge = "weekly_ridge:WeeklyRidge"

Importing :mod:`forecasting.models` calls :func:`load_plugins`, once per
process: on the driver, and in each Dask worker when it unpickles its first
task, so a YARN worker whose packed environment holds the plug-in finds it
the same way.  A loaded plug-in is a model like the built-in ones
(``available_models()``, configs, ``--models``, the default candidates of a
backtest, champions).

A plug-in that cannot be used is **broken**: its import raises (any
:class:`Exception`), its object is not a ``Forecaster`` subclass, its
``name`` differs from the entry point's, or the name is taken (a built-in
model is never replaced).  Each broken plug-in is reported once per process
by one ``WARNING`` line of the ``forecasting.models.plugins`` logger::

    model plug-in 'NAME' (VALUE, distribution DIST VERSION) failed to load; going on without it: WHY

and kept in :func:`broken_plugins`; whatever it registered is undone and
everything else goes on.  Naming it in a config then raises
:class:`~forecasting.errors.PluginError` with the same reason.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

from forecasting.models.base import Forecaster
from forecasting.models.registry import BROKEN, MODELS

#: The entry-point group of model plug-ins.
ENTRY_POINTS = "forecasting.models"

log = logging.getLogger(__name__)

#: Loaded plug-ins: name -> "distribution version".
_loaded: dict[str, str] = {}
_done = False


def load_plugins() -> None:
    """Load every entry point of :data:`ENTRY_POINTS` into the registry (once per process).

    Never raises for a plug-in's fault: a broken one is logged and recorded
    (see the module docstring).
    """
    global _done
    if _done:
        return
    _done = True
    for ep in entry_points(group=ENTRY_POINTS):
        _load(ep)


def _load(ep: EntryPoint) -> None:
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown"
    before = dict(MODELS)
    try:
        obj = ep.load()
        problem = _problem(ep, obj, before)
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is the plug-in's, reported below
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        MODELS[ep.name] = obj  # also a class that opted out of registering itself (register=False)
        _loaded[ep.name] = dist
        return
    # Undo what the plug-in's import registered before it failed (or that it registered under another name).
    MODELS.clear()
    MODELS.update(before)
    why = f"{ep.value}, distribution {dist}: {problem}"
    if ep.name not in BROKEN:
        log.warning("model plug-in %r (%s, distribution %s) failed to load; going on without it: %s",
                    ep.name, ep.value, dist, problem)
    BROKEN.setdefault(ep.name, why)


def _problem(ep: EntryPoint, obj, before: dict) -> str | None:
    """Why a loaded entry point's object cannot be the model of its name, or ``None``."""
    if not (isinstance(obj, type) and issubclass(obj, Forecaster)):
        return f"{ep.value} is {obj!r}, not a subclass of forecasting.models.Forecaster"
    if obj.name != ep.name:
        return f"its name is {obj.name!r}, not the entry point's name {ep.name!r}"
    taken = before.get(ep.name)
    if taken is not None and taken is not obj:
        return f"the model name {ep.name!r} is taken by {taken.__module__}.{taken.__qualname__}"
    replaced = [name for name, cls in before.items() if MODELS.get(name) is not cls]
    if replaced:
        return f"its import replaced the model(s) {', '.join(replaced)}"
    return None


def broken_plugins() -> dict[str, str]:
    """Plug-ins that failed to load in this process.

    Returns
    -------
    dict
        Entry-point name -> ``"VALUE, distribution DIST VERSION: WHY"``.
    """
    return dict(BROKEN)


def plugin_models() -> dict[str, str]:
    """Plug-in models loaded in this process.

    Returns
    -------
    dict
        Model name -> ``"DIST VERSION"`` of the distribution that provides it.
    """
    return {name: dist for name, dist in _loaded.items() if name in MODELS}
