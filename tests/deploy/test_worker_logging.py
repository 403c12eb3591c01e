"""The workers' logging set-up: a heartbeat cut by the scheduler's shutdown is one plain line."""

from __future__ import annotations

import io
import logging

import pytest
from distributed.comm.core import CommClosedError
from distributed.core import Status
from tornado.iostream import StreamClosedError

from deploy.clusters import open_executor
from deploy.worker_logging import HEARTBEAT_FAILED, ClosedHeartbeat


def _log_heartbeat_failure(status: Status, exc: Exception) -> str:
    """What distributed's Worker.heartbeat logs when its call raises ``exc``, through the filter."""
    logger = logging.getLogger("test_worker_logging.heartbeat")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.addFilter(ClosedHeartbeat(lambda: status))
    logger.propagate = False
    try:
        try:
            raise exc
        except Exception:
            logger.exception(HEARTBEAT_FAILED)
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()
    return stream.getvalue()


def _closed_comm() -> CommClosedError:
    # The same chain as distributed.comm.tcp's: a tornado stream error under the comm's.
    try:
        try:
            raise StreamClosedError()
        except StreamClosedError as stream_error:
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed") from stream_error
    except CommClosedError as exc:
        return exc


@pytest.mark.parametrize("status, level", [(Status.closing_gracefully, "INFO"), (Status.closing, "INFO"),
                                           (Status.running, "WARNING")])
def test_a_heartbeat_cut_by_the_scheduler_closing_is_one_line(status, level):
    text = _log_heartbeat_failure(status, _closed_comm())
    assert "Traceback" not in text and text.count("\n") == 1
    assert text.startswith(f"{level} heartbeat ")


def test_other_heartbeat_failures_keep_their_traceback():
    text = _log_heartbeat_failure(Status.closing, OSError("connection refused"))
    assert text.startswith(f"ERROR {HEARTBEAT_FAILED}") and "Traceback (most recent call last)" in text


def _has_filter():
    return any(isinstance(f, ClosedHeartbeat) for f in logging.getLogger("distributed.worker").filters)


def test_local_workers_install_the_filter():
    with open_executor("local", workers=1) as executor:
        assert set(executor.client.run(_has_filter).values()) == {True}
