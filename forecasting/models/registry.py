"""The model registry: model names as used in configs -> Forecaster classes.

The classes fill it themselves: every subclass of
:class:`forecasting.models.base.Forecaster` that sets its own ``name`` is
registered when its module is imported (``Forecaster.__init_subclass__``), so
there is no table to keep in step with the models.  Installed plug-ins add
theirs when :mod:`forecasting.models` is imported
(:mod:`forecasting.models.plugins`); those that fail to load are kept in
:data:`BROKEN`, so that naming one is an error that says so.
"""

from __future__ import annotations

from forecasting.errors import ConfigError, PluginError, did_you_mean

# No import of forecasting.models.base here: base imports this module to register its subclasses.

#: Registered models by name (subclasses of forecasting.models.base.Forecaster).
MODELS: dict[str, type] = {}

#: Model plug-ins that failed to load in this process: entry-point name -> why
#: (filled by :func:`forecasting.models.plugins.load_plugins`).
BROKEN: dict[str, str] = {}


def register(cls: type) -> None:
    """Add ``cls`` under its own ``name`` (an inherited name registers nothing).

    Raises
    ------
    TypeError
        If another class already holds the name: a plug-in must not silently
        replace a model that configs and stored champions refer to.  The same
        class defined again (a module reloaded, a class rebuilt by
        cloudpickle on a worker) replaces its earlier self.
    """
    name = cls.__dict__.get("name")
    if not name:
        return
    known = MODELS.get(name)
    if known is not None and _qualified(known) != _qualified(cls):
        raise TypeError(f"model name {name!r} is taken by {_qualified(known)}; {_qualified(cls)} needs another name")
    MODELS[name] = cls


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def available_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(MODELS)


def make_model(name: str, params: dict | None = None):
    """Instantiate a registered model.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"seasonal_naive"``.
    params : dict, optional
        Constructor arguments; values are not validated here (models check
        them when fitting).

    Returns
    -------
    Forecaster
        An unfitted model.

    Raises
    ------
    PluginError
        If the name is that of a plug-in that failed to load (the message
        says why).
    ConfigError
        If the name or a parameter name is unknown; the message suggests
        close matches and lists what is known.
    """
    cls = MODELS.get(name)
    if cls is None and name in BROKEN:
        raise PluginError(f"model {name!r} is a plug-in that failed to load ({BROKEN[name]}); fix or uninstall it")
    if cls is None:
        raise ConfigError(f"unknown model {name!r}{did_you_mean(name, MODELS, n=3)}; known models: {', '.join(available_models())}")
    params = dict(params or {})
    known = cls.param_names()
    unknown = sorted(set(params) - set(known), key=str)
    if unknown:
        bad = unknown[0]
        raise ConfigError(
            f"unknown parameter {bad!r} for model {name!r}{did_you_mean(bad, known, n=3)}; "
            f"known parameters: {', '.join(known) if known else '(none)'}"
        )
    return cls(**params)
