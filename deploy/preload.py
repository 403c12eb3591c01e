"""Workers import what a region's job needs as soon as they start, in the background.

A fresh worker process has imported Dask and little else; the first job it
runs imports the engine (``forecasting.runs.tasks``: pandas, pydantic...),
the models and the libraries they fit with (scikit-learn, statsmodels,
scipy): about 1.2 s of one core per worker on the benchmark machine, paid
on every worker's first region, after the driver has started the cluster
and handed out the work (``python -m bench command`` measures it).  With
:class:`PreloadModels` among a worker's plugins that import starts the
moment the worker does, in a thread of its own, while the driver connects,
opens the results store and submits.

A task is never queued behind the preload: it runs in the worker's task
thread at once, and an import it needs that the preload has under way is
simply waited for (Python's import lock for that module), as it would be
imported anyway; the engine's own modules come first, because every task
needs them to be unpickled.  A module that fails to import is left to the
job that needs it to report.

``FORECASTING_PRELOAD=0`` in the environment of the process that starts
the workers (the driver for a local cluster, the container on YARN) turns
it off.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
import time

from distributed.diagnostics.plugin import WorkerPlugin

from forecasting.logs.timeline import mark

log = logging.getLogger(__name__)

PRELOAD_ENV = "FORECASTING_PRELOAD"

#: What a region's job imports, in the order a task needs it: the engine (to unpickle any task), the
#: built-in models, then the libraries the models import only when they fit (gbm, ets/mstl, sarimax).
MODULES = (
    "forecasting.runs.tasks",
    "forecasting.models",
    "sklearn.ensemble",
    "statsmodels.tsa.holtwinters",
    "statsmodels.tsa.seasonal",
    "statsmodels.tsa.statespace.sarimax",
    "scipy.stats",
)


def preload_enabled() -> bool:
    """False when ``FORECASTING_PRELOAD`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(PRELOAD_ENV, "").strip().lower() not in {"0", "false", "no", "off"}


def preload_plugins() -> set:
    """The plugins a worker of ours starts with to preload: ``{PreloadModels()}``, or none when turned off."""
    return {PreloadModels()} if preload_enabled() else set()


def import_all(modules=MODULES) -> float:
    """Import ``modules`` in this thread; return the seconds it took."""
    t0 = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the job that needs it reports it, with its region
            log.debug("preload: %s did not import: %s", name, exc)
    return time.perf_counter() - t0


class PreloadModels(WorkerPlugin):
    """Worker start-up callback: import :data:`MODULES` in a background thread.

    Parameters
    ----------
    modules : tuple of str
        What to import (default :data:`MODULES`).
    """

    name = "forecasting-preload-models"

    def __init__(self, modules: tuple[str, ...] = MODULES):
        self.modules = tuple(modules)

    def setup(self, worker) -> None:
        mark("worker_start")
        # Made here, in the worker: the plugin is pickled on its way there, an Event is not.
        self.done = threading.Event()
        # Once the worker has registered: a thread importing next to the registration would hold
        # the GIL it needs, and every worker registered is what the driver's cluster start waits for.
        # (Held: the event loop keeps only a weak reference to a task.)
        self._starter = asyncio.ensure_future(self._start_when_running(worker))

    async def _start_when_running(self, worker, wait_s: float = 30.0) -> None:
        from distributed.core import Status

        deadline = time.monotonic() + wait_s
        while worker.status != Status.running and time.monotonic() < deadline:
            if worker.status in (Status.closing, Status.closed, Status.failed):
                self.done.set()
                return
            await asyncio.sleep(0.005)
        # A daemon thread: a worker that is closed mid-import does not wait for it.
        threading.Thread(target=self._run, name="forecasting-preload", daemon=True).start()

    def wait(self, timeout: float | None = None) -> bool:
        """In the worker: block until the preload is over (or given up); False if ``timeout`` ran out first."""
        return self.done.wait(timeout)

    def _run(self) -> None:
        try:
            seconds = import_all(self.modules)
        finally:
            self.done.set()
        mark("worker_preloaded")
        log.debug("preload: imported %s in %.2fs", ", ".join(self.modules), seconds)
