"""A ``--store`` URL the commands cannot use: its driver is not installed, or its server does not answer.

Both are the user's to fix: one line on standard error, no traceback, exit 2,
the URL shown without its password (``***``), and nothing written.  Every
command that takes ``--store`` (run, backtest, status, report, accuracy) goes
through ``main()``.

The drivers are really missing (``pg8000``, ``MySQLdb`` and ``psycopg2`` are
no dependency of this project; the test checks they do not import); the
unreachable server is a port nothing listens on, reached with psycopg 3, the
driver ``pip install 'forecasting[postgres]'`` installs.
"""

from __future__ import annotations

import importlib.util
import socket

import pytest

from forecasting import errors
from forecasting.cli.main import main

PASSWORD = "s3cret-Pw"
RUN_DATE = "2024-03-04"  # the day after the synthetic cache's last day


def _commands(cache, out, url):
    """Each command that takes --store, with ``url`` as its store."""
    job = ["--cluster", "serial", "--regions", "r000", "--models", "seasonal_naive", "--horizon", "2D"]
    return {
        "run": ["run", "--cache", str(cache), "--out", str(out / "run"), "--run-date", RUN_DATE, "--store", url, *job],
        "backtest": ["backtest", "--cache", str(cache), "--out", str(out / "bt"), "--store", url, "--cutoffs", "1", "--no-plots", *job],
        "status": ["status", "--store", url],
        "report": ["report", "latest", "--out", str(out / "report.html"), "--store", url],
        "accuracy": ["accuracy", "--cache", str(cache), "--store", url, "--csv", str(out / "accuracy.csv")],
    }


def _one_error_line(capfd) -> str:
    captured = capfd.readouterr()
    err = [line for line in captured.err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert PASSWORD not in captured.out + captured.err
    return err[0]


@pytest.mark.parametrize("command", ["run", "backtest", "status", "report", "accuracy"])
@pytest.mark.parametrize("scheme, module", [("postgresql+pg8000", "pg8000"), ("mysql+mysqldb", "MySQLdb"),
                                            ("postgresql+psycopg2", "psycopg2")])
def test_a_store_whose_driver_is_not_installed_is_one_line_naming_what_to_install(capfd, synthetic_cache, tmp_path, command,
                                                                                  scheme, module):
    assert importlib.util.find_spec(module) is None, f"{module} is installed here: this test needs a driver that is not"
    url = f"{scheme}://bob:{PASSWORD}@127.0.0.1:1/db"
    argv = _commands(synthetic_cache, tmp_path / "out", url)[command]
    assert main(["--log-level", "WARNING", *argv]) == errors.EXIT_USAGE
    line = _one_error_line(capfd)
    shown = f"{scheme}://bob:***@127.0.0.1:1/db"
    assert line.startswith(f"forecasting: error: --store: the database driver for {shown!r} is not installed (no module {module!r})")
    if scheme.startswith("postgresql"):
        assert "pip install 'forecasting[postgres]'" in line and "postgresql+psycopg://" in line
    else:
        assert repr(module) in line.split(":", 3)[-1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.sqlite"))


@pytest.fixture
def refused_port():
    """A port this test holds without listening on it: connections are refused, and nobody else can listen there."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.mark.parametrize("command", ["run", "backtest", "status", "report", "accuracy"])
def test_an_unreachable_postgresql_store_is_one_line_without_its_password(capfd, synthetic_cache, tmp_path, refused_port,
                                                                           command):
    pytest.importorskip("psycopg", reason="psycopg 3 (pip install 'forecasting[postgres]') reaches PostgreSQL")
    url = f"postgresql+psycopg://bob:{PASSWORD}@127.0.0.1:{refused_port}/db"
    argv = _commands(synthetic_cache, tmp_path / "out", url)[command]
    assert main(["--log-level", "WARNING", *argv]) == errors.EXIT_USAGE
    line = _one_error_line(capfd)
    # psycopg's message has a second line ("Is the server running on that host..."): only the first is shown.
    assert line.startswith(f"forecasting: error: --store: cannot open 'postgresql+psycopg://bob:***@127.0.0.1:{refused_port}/db': ")
    assert "Connection refused" in line
