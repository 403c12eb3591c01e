"""``python -m bench nightly [--regions N] [--days D] [--repeat K] [--workers W]``."""

from __future__ import annotations

import argparse
import json
import logging


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="which", required=True)
    nightly = sub.add_parser("nightly", help="serial vs local cluster on the nightly workload")
    nightly.add_argument("--regions", type=int, default=50)
    nightly.add_argument("--days", type=int, default=365)
    nightly.add_argument("--repeat", type=int, default=1)
    nightly.add_argument("--workers", type=int, default=2)
    nightly.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.which == "nightly":
        from bench import nightly as bench_nightly

        result = bench_nightly.main(args.regions, args.days, args.repeat, args.workers, write=not args.no_write)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
