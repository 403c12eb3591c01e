"""One-off experiments behind the notes on issue 17 in BENCHMARKS.md (not part of ``python -m bench``).

Each is run from the project root, on an otherwise idle machine, e.g.
``python -m bench.experiments.clusters nightly 12 serial,local2,sub2`` or
``python -m bench.experiments.clusters digits ppe,local2,sub2``.
"""
