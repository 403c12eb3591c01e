"""Entry point of a ``dask.worker`` container: ``python -m deploy.yarn.worker``.

Waits for the scheduler's address in the key-value store, then starts a
Nanny (which restarts its worker process if it dies or outgrows its memory)
named after the container, with the container's memory as memory limit and
one thread per vcore.  The working directory holds ``cache.sqlite``, which
the jobs open read-only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

import dask

from deploy.dask_settings import CLUSTER_DASK_CONFIG
from deploy.preload import preload_plugins
from deploy.worker_logging import ContainerLogging, configure_logging
from deploy.yarn.container import bind_host, security, tls_arguments
from deploy.yarn.spec import KV_SCHEDULER
from forecasting.logs.events import log_event

log = logging.getLogger("deploy.yarn.worker")


async def serve(args, scheduler_address: str) -> None:
    from distributed import Nanny

    async with Nanny(
        scheduler_address,
        host=bind_host(),
        nthreads=args.nthreads,
        memory_limit=args.memory_limit,
        name=os.environ.get("SKEIN_CONTAINER_ID"),
        security=security(args, "worker"),
        local_directory=os.path.join(os.getcwd(), "dask-worker-space"),
        # Our log format; the models imported in the background as the worker starts (deploy.preload).
        plugins={ContainerLogging(), *preload_plugins()},
    ) as nanny:
        log_event(log, logging.INFO, "worker_start", "worker %s connected to %s", nanny.name, scheduler_address,
                  worker=nanny.name, scheduler=scheduler_address)
        await nanny.finished()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.yarn.worker")
    parser.add_argument("--nthreads", type=int, default=1)
    parser.add_argument("--memory-limit", default="auto")
    tls_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging()
    dask.config.set(CLUSTER_DASK_CONFIG)
    import skein

    app = skein.ApplicationClient.from_current()
    address = app.kv.wait(KV_SCHEDULER).decode()
    asyncio.run(serve(args, address))


if __name__ == "__main__":
    main()
