"""``forecasting cache build`` and ``cache import`` write the SQLite cache; ``cache info`` tells what one holds."""

from __future__ import annotations

from pathlib import Path

from forecasting import errors


def add_parser(sub) -> None:
    """Add ``cache`` and its ``build``, ``import`` and ``info`` sub-commands to the sub-command parsers."""
    cache = sub.add_parser("cache", help="build, import or inspect the SQLite cache")
    # type(cache): the main parser's class (one-line usage errors), without importing main (a cycle).
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, parser_class=type(cache))
    build = cache_sub.add_parser("build", help="generate a synthetic cache")
    build.add_argument("--synthetic", action="store_true", required=True, help="generate synthetic data (the only source for now)")
    build.add_argument("--regions", type=int, default=20, help="number of regions (default 20)")
    build.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    build.add_argument("--freq", default="h", help="slot length: 15min, 30min or h (default h)")
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    build.add_argument("--start", default="2024-01-01", help="first day of history (default 2024-01-01)")
    build.add_argument("--weather-forecasts", action="store_true",
                       help="also generate daily weather forecasts (issued 06:00 local time, 10 days ahead)")
    build.add_argument("--out", required=True, type=Path, help="cache file to write")
    build.set_defaults(func=cmd_cache_build)

    imp = cache_sub.add_parser(
        "import", help="import orders (and features, weather forecasts, events, promotions, holidays) from CSV files")
    imp.add_argument("--orders", required=True, type=Path, help="CSV with columns region,timestamp,orders")
    imp.add_argument("--features", type=Path, help="CSV with columns region,timestamp,<numeric columns>")
    imp.add_argument("--weather-forecasts", type=Path,
                     help="CSV with columns region,issued_at,timestamp,<numeric columns> (forecasts as issued)")
    imp.add_argument("--events", type=Path, help="CSV with columns region,start,end,kind[,name]")
    imp.add_argument("--promotions", type=Path, help="CSV with columns region,start,end[,name]")
    imp.add_argument("--holidays", type=Path, help="CSV with columns date,name[,region]")
    imp.add_argument("--regions", type=Path, help="CSV with columns region,name,timezone (each region's name and time zone)")
    imp.add_argument("--freq", help="slot length (default: inferred)")
    imp.add_argument("--timezone", default="UTC", help="time zone of the regions --regions does not list, and of their naive timestamps (default UTC)")
    imp.add_argument("--out", required=True, type=Path, help="cache file to write")
    imp.set_defaults(func=cmd_cache_import)

    info = cache_sub.add_parser("info", help="what a cache holds, per region")
    info.add_argument("cache", type=Path, help="cache file")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_cache_info)


def cmd_cache_build(args) -> int:
    """A synthetic cache."""
    from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache

    spec = SyntheticSpec(regions=args.regions, days=args.days, freq=args.freq, seed=args.seed, start=args.start,
                         weather_forecasts=args.weather_forecasts)
    build_synthetic_cache(spec, args.out)
    forecasts = ", daily weather forecasts" if spec.weather_forecasts else ""
    print(f"wrote {args.out}: {spec.regions} synthetic regions, {spec.days} days of {spec.freq} slots{forecasts}, seed {spec.seed}")
    return errors.EXIT_OK


def cmd_cache_import(args) -> int:
    """A cache from CSV files; prints the import report."""
    from forecasting.data.importer import import_csv

    report = import_csv(
        args.orders, args.out, features=args.features, events=args.events, freq=args.freq, timezone=args.timezone,
        holidays=args.holidays, promotions=args.promotions, regions=args.regions, weather_forecasts=args.weather_forecasts,
    )
    print(report.summary())
    return errors.EXIT_OK


def cmd_cache_info(args) -> int:
    """Per region and per table, what the cache holds."""
    import json

    from forecasting.data.cache_info import cache_info, info_text

    info = cache_info(args.cache)
    print(json.dumps(info, default=str) if args.json else info_text(info))
    return errors.EXIT_OK
