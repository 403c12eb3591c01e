"""Local workers import the models in the background from the moment they start (deploy.preload)."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.clusters import open_executor
from deploy.preload import MODULES, PRELOAD_ENV


@dataclass(frozen=True)
class _Noop:
    key: str = "noop-first"
    region: str = "noop"
    config: object = None

    def compute(self) -> int:
        return 0


def _state(dask_worker, wait_preload: bool):
    """Which preloaded modules this worker has imported, whether it holds the plugin, and the tasks it ran.

    ``wait_preload``: first wait for the worker's preload to end, if it has one (pytest's --timeout ends one that never does).
    """
    import sys

    plugin = dask_worker.plugins.get("forecasting-preload-models")
    if wait_preload and plugin is not None:
        plugin.wait()
    return ([m for m in MODULES if m in sys.modules], "forecasting-preload-models" in dask_worker.plugins,
            dask_worker.state.executed_count)


def _worker_states(client, until_loaded: bool):
    return list(client.run(_state, wait_preload=until_loaded).values())


def test_a_fresh_local_worker_imports_the_models_before_any_task(monkeypatch):
    monkeypatch.delenv(PRELOAD_ENV, raising=False)
    with open_executor("local", workers=2) as executor:
        executor.client.wait_for_workers(2)
        states = _worker_states(executor.client, until_loaded=True)
    assert len(states) == 2
    for loaded, has_plugin, executed in states:
        assert loaded == list(MODULES) and has_plugin
        assert executed == 0  # no task has run: the worker imported them itself


def test_turning_the_preload_off_leaves_a_fresh_worker_bare(monkeypatch):
    monkeypatch.setenv(PRELOAD_ENV, "0")
    with open_executor("local", workers=1) as executor:
        executor.client.wait_for_workers(1)
        ((loaded, has_plugin, executed),) = _worker_states(executor.client, until_loaded=False)
        # Without the plugin nothing imports them before a task does.
        assert not has_plugin and loaded == [] and executed == 0
        # ...and the first task still finds everything it needs.
        from forecasting.runs.tasks import run_task

        assert list(executor.run(run_task, [_Noop()])) == [0]
        ((loaded, _, executed),) = _worker_states(executor.client, until_loaded=False)
        assert "forecasting.runs.tasks" in loaded and executed == 1
