"""Dask settings for every cluster this project starts (local and on YARN).

Jobs are few, long and CPU-bound, and a 2-core machine runs one worker per
core next to the scheduler: every periodic wake-up of Dask's own machinery
is CPU taken from a job.  Three defaults cost measurably here (numbers in
BENCHMARKS.md, "Engine overheads" and the notes on issue 17):

* the statistical profiler samples every thread every 10 ms, taking the
  GIL from the running task (about 5 % of a worker's time on the nightly
  run); 100 ms still gives a useful profile on the dashboard;
* every server (scheduler, nanny, worker) checks its event loop's health
  every 20 ms; at 1 s an idle 2-worker local cluster uses about half the
  CPU (about 0.45 instead of 1 CPU-second per 10 s). A loop blocked for
  longer than ``distributed.admin.tick.limit`` (3 s) is still logged;
* the nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536``, so
  that glibc hands freed memory back to the system at once.  Setting it
  turns off glibc's own adaptive thresholds: every array over 128 KiB is
  then a fresh ``mmap`` whose pages fault in one by one, and numerical
  jobs slow down (a ``ProcessPoolExecutor`` on the digits search took a
  median 6.31 s with that variable against 5.86 s without, four runs
  each).  Our workers run one job after another and their memory is
  bounded by the jobs, so they keep glibc's defaults (a value in the
  environment of whoever starts the workers is still passed on).

``deploy.clusters`` starts local clusters under these settings; the YARN
scheduler and worker containers set them when they start.  They take
precedence over the user's own Dask configuration for these keys.
"""

from __future__ import annotations

CLUSTER_DASK_CONFIG = {
    "distributed.worker.profile.interval": "100ms",
    "distributed.worker.profile.cycle": "10s",
    "distributed.admin.tick.interval": "1s",
    # None unsets it (distributed.nanny._get_env_variables): glibc's adaptive defaults.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}

