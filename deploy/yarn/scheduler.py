"""Entry point of the ``dask.scheduler`` container: ``python -m deploy.yarn.scheduler``.

Starts a Dask scheduler, publishes its address and dashboard link in the
application's key-value store (``dask.scheduler``, ``dask.dashboard``), and
runs until the scheduler is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import dask

from deploy.dask_settings import CLUSTER_DASK_CONFIG
from deploy.worker_logging import configure_logging
from deploy.yarn.container import bind_host, protocol, security, tls_arguments
from deploy.yarn.spec import KV_DASHBOARD, KV_SCHEDULER
from forecasting.logs.events import log_event

log = logging.getLogger("deploy.yarn.scheduler")


async def serve(args) -> None:
    import skein
    from distributed import Scheduler

    app = skein.ApplicationClient.from_current()
    host = bind_host()
    async with Scheduler(
        host=host, port=0, protocol=protocol(args), dashboard_address=f"{host}:0", security=security(args, "scheduler")
    ) as scheduler:
        app.kv[KV_SCHEDULER] = scheduler.address.encode()
        dashboard = ""
        if "dashboard" in scheduler.services:
            dashboard = f"http://{host}:{scheduler.services['dashboard'].port}/status"
        app.kv[KV_DASHBOARD] = dashboard.encode()
        log_event(log, logging.INFO, "scheduler_start", "scheduler at %s, dashboard %s", scheduler.address,
                  dashboard or "unavailable", address=scheduler.address, dashboard=dashboard or None)
        await scheduler.finished()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.yarn.scheduler")
    tls_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging()
    dask.config.set(CLUSTER_DASK_CONFIG)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
