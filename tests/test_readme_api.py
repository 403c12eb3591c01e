"""The README's "From a notebook" example runs as written (serially: FORECASTING_SERIAL=1, as the README says)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@pytest.mark.slow  # tens of seconds of real runs: CI's slow pass, to keep `make test` under 10 minutes
def test_the_from_a_notebook_example_runs_and_uses_the_backtests_champions(tmp_path, monkeypatch):
    text = section("From a notebook")
    (build,) = blocks(text, "bash")
    args = shlex.split(build)
    assert args[0] == "forecasting"
    subprocess.run([sys.executable, "-m", "forecasting.cli", *args[1:]], cwd=tmp_path, check=True, capture_output=True)
    (code,) = blocks(text, "python")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORECASTING_SERIAL", "1")
    scope: dict = {}
    exec(compile(code, "README.md (From a notebook)", "exec"), scope)
    assert (tmp_path / "r000.png").stat().st_size > 0
    fc, bt = scope["fc"], scope["bt"]
    won = bt.champions[bt.champions.status == "champion"].set_index("region").model
    used = fc.forecasts.groupby("region").model.first()
    assert (used[won.index] == won).all()
    # The backtest's staffing section calibrated each champion: the nightly forecasts carry its quantile.
    staffed = fc.forecasts[fc.forecasts.region.isin(won.index)]
    assert len(staffed) and staffed.staff.notna().all() and (staffed.staff >= 0).all()
