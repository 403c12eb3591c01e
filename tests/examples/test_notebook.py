"""examples/backtest.ipynb runs as written, in a Jupyter kernel of this virtualenv, and shows what it promises."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

#: A kernel, a local cluster and two backtests: about a minute on 2 cores.
pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "backtest.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed top to bottom in a folder of its own (a failing cell raises CellExecutionError)."""
    work = tmp_path_factory.mktemp("notebook")
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    return nb


def outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o["output_type"] in ("display_data", "execute_result")]


def cell_with(nb, text: str):
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source)


def test_every_cell_runs_without_an_error(executed):
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []


def test_a_backtest_shows_progress_in_its_cell_and_renders_as_tables(executed):
    cell = cell_with(executed, "bt = forecasting.backtest(")
    shown = outputs(cell)
    bars = [o for o in shown if "<progress" in o["data"].get("text/html", "")]
    assert len(bars) == 1  # one bar, updated in place (a display id), not a line per task
    assert "tasks" in bars[0]["data"]["text/plain"] and bars[0].get("transient") is None
    result = [o for o in shown if o["output_type"] == "execute_result"]
    assert len(result) == 1 and result[0]["data"]["text/html"].count("<table") == 2


def test_plots_render_as_images(executed):
    for text in ('bt.plot("r000")', 'fc.plot("r001")'):
        assert any("image/png" in o["data"] for o in outputs(cell_with(executed, text))), text


def test_the_notebooks_own_model_is_backtested_beside_the_champions(executed):
    (table,) = [o["data"]["text/html"] for o in outputs(cell_with(executed, "notebook_weekly_mean\"], cutoffs"))
                if o["output_type"] == "execute_result"]
    assert "notebook_weekly_mean" in table and "seasonal_naive" in table
