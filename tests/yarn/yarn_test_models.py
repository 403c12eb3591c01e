"""A test-only model family for the YARN memory test, shipped to the containers.

The YARN tests ship this file to every worker container (the ``yarn:``
config's ``files``), where it lands in the working folder and so on the
worker's ``sys.path``; :class:`RegisterTestModels` (a worker plugin, pickled
by reference to this module) registers the family on every worker, restarted
ones included.  The driver registers it for one test only.

``test_grow_on_marker`` forecasts like ``seasonal_naive`` unless the
region's history holds :data:`MARKER`: then its fit allocates (and touches)
memory until something kills the process.
"""

from __future__ import annotations

import time

from distributed.diagnostics.plugin import WorkerPlugin

from forecasting.models import MODELS
from forecasting.models.naive import SeasonalNaive

#: An order count no synthetic region reaches: the trigger.
MARKER = 7_777_777.0


class GrowOnMarker(SeasonalNaive, register=False):
    """``seasonal_naive``, except that a history containing ``marker`` makes its fit grow without end."""

    name = "test_grow_on_marker"

    def __init__(self, *, season: str = "7D", n_seasons: int = 8, marker: float = MARKER):
        super().__init__(season=season, n_seasons=n_seasons)
        self.marker = marker

    def fit(self, y, X, horizon):
        if (y == self.marker).any():
            hoard = []
            while True:  # until YARN kills the container
                hoard.append(b"\x01" * (16 * 2**20))  # 16 MiB, touched
                time.sleep(0.01)
        return super().fit(y, X, horizon)


def register() -> str:
    MODELS.setdefault(GrowOnMarker.name, GrowOnMarker)
    return GrowOnMarker.name


def unregister() -> None:
    MODELS.pop(GrowOnMarker.name, None)


class RegisterTestModels(WorkerPlugin):
    """Make the test-only family known on every worker."""

    name = "register-yarn-test-models"

    def setup(self, worker):
        register()
