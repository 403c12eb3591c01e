"""No Docker engine runs here: parse the Dockerfile and check what it does."""

from __future__ import annotations

from pathlib import Path

import dockerfile

ROOT = Path(__file__).parents[1]


def test_dockerfile_installs_the_package_and_sets_the_entry_point():
    commands = dockerfile.parse_file(str(ROOT / "Dockerfile"))
    by_cmd = {}
    for c in commands:
        by_cmd.setdefault(c.cmd.upper(), []).append(c)
    assert by_cmd["FROM"][0].value[0].startswith("python:3.11")
    copied = {v for c in by_cmd["COPY"] for v in c.value[:-1]}
    assert {"forecasting", "deploy", "setup.cfg"} <= copied
    assert any("pip install ." in " ".join(c.value) for c in by_cmd["RUN"])
    entry = by_cmd["ENTRYPOINT"][-1]
    assert entry.json and list(entry.value) == ["forecasting"]


def test_entry_point_is_the_console_script_of_setup_cfg():
    text = (ROOT / "setup.cfg").read_text()
    assert "forecasting = forecasting.cli.main:main" in text
