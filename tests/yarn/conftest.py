"""Fixtures for tests of the YARN path: a skein/YARN stand-in per test (see standin.py).

``yarn_standin`` starts a fake skein driver (and, per submitted application,
a fake application master whose containers are local subprocesses) on
127.0.0.1 and shuts everything down afterwards, killing every container
process group, whether the test passed or not.  Starting one costs a few
milliseconds; the TLS credentials are made once per session.

Options of :class:`standin.YarnStandIn` can be changed per test, module or
class by overriding ``yarn_standin_options``, for instance::

    @pytest.mark.parametrize("yarn_standin_options", [{"strict_scripts": True}])
    def test_something(yarn_standin): ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import skein

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # e.g. under --import-mode=importlib
    sys.path.insert(0, _HERE)

from standin import YarnStandIn  # noqa: E402


@pytest.fixture(scope="session")
def yarn_security() -> skein.Security:
    """TLS credentials of the stand-in driver (and of its applications), one pair per session."""
    return skein.Security.new_credentials()


@pytest.fixture
def yarn_standin_options() -> dict:
    """Keyword arguments for ``YarnStandIn`` (override to change them)."""
    return {}


@pytest.fixture
def yarn_standin(tmp_path, yarn_security, yarn_standin_options):
    """A running :class:`standin.YarnStandIn` rooted at ``tmp_path / "yarn"``.

    Attributes: ``address``, ``security``, ``log_root``, ``work_root``,
    ``root``; methods: ``client()``, ``kill_container(app_id, container_id)``,
    ``kill_application_master(app_id)``, ``wait_for_app(app_id)``,
    ``container_log(app_id, container_id)``,
    ``container_exit_code(app_id, container_id)``, ``application(app_id)``,
    ``live_process_groups()``, ``shutdown()``.
    """
    options = {"security": yarn_security, **yarn_standin_options}
    standin = YarnStandIn(tmp_path / "yarn", **options)
    standin.start()
    try:
        yield standin
    finally:
        standin.shutdown()
