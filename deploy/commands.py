"""The deployment commands of ``forecasting``: ``pack-env``, ``spec`` and ``logs``.

``setup.cfg`` registers :func:`add_commands` in the ``forecasting.commands``
entry-point group; the command line calls it with its sub-command parsers,
so the engine's CLI never imports this package.  Each command is a thin
wrapper: parse, call ``deploy``, print, return an exit code.
"""

from __future__ import annotations

from pathlib import Path

from forecasting import errors
from forecasting.errors import UsageError


def add_commands(sub) -> None:
    """Add ``logs``, ``pack-env`` and ``spec`` to the ``forecasting`` command's sub-parsers ``sub``."""
    from deploy.clusters import add_yarn_arguments

    logs = sub.add_parser("logs", help="summarize a YARN application's logs: outcome, failed regions, dead workers")
    logs.add_argument("source", help="a file with the output of 'yarn logs -applicationId ID', '-' for standard input, "
                      "an application id (runs 'yarn logs'), or a per-container log folder")
    logs.add_argument("--region", help="everything about one region: its lines and tracebacks")
    logs.add_argument("--json", action="store_true", help="machine-readable output")
    logs.set_defaults(func=cmd_logs)

    pack = sub.add_parser("pack-env", help="pack this virtualenv (venv-pack) for the YARN containers")
    pack.add_argument("--out", required=True, type=Path, help="archive to write, e.g. environment.tar.gz")
    pack.add_argument("--python-prefix", type=Path, help="virtualenv to pack (default: the running one)")
    pack.add_argument("--expected-python", action="append",
                      help="interpreter path (or folder) that exists on every node; refuse others (repeatable)")
    pack.add_argument("--force", action="store_true", help="pack even if the installed packages have not changed")
    pack.set_defaults(func=cmd_pack_env)

    spec = sub.add_parser("spec", help="print the skein application spec that --cluster yarn would submit "
                          "(secret environment values and URL passwords as ***)")
    spec.add_argument("--config", type=Path, required=True, help="YAML config with a 'yarn:' section")
    spec.add_argument("--cache", type=Path, required=True, help="the SQLite cache to ship to the workers")
    add_yarn_arguments(spec, workers=True)
    spec.set_defaults(func=cmd_spec)


def cmd_logs(args) -> int:
    """``forecasting logs SOURCE``: what a YARN application's logs say."""
    import json

    from deploy.yarn import logs as yarn_logs

    summary = yarn_logs.summarize_source(args.source, region=args.region)
    print(json.dumps(summary, indent=1) if args.json else yarn_logs.format_summary(summary))
    return errors.EXIT_OK


def cmd_pack_env(args) -> int:
    """``forecasting pack-env --out ARCHIVE``: the virtualenv the YARN containers run in."""
    from deploy.packing import pack_environment

    result = pack_environment(args.out, prefix=args.python_prefix, force=args.force, expected_python=args.expected_python)
    verb = "reused" if result.reused else "wrote"
    print(
        f"{verb} {result.path}: {result.packages} packages, {result.size_bytes / 2**20:.1f} MiB; "
        f"containers need the interpreter {result.python} on every node"
    )
    return errors.EXIT_OK


def cmd_spec(args) -> int:
    """``forecasting spec``: the skein application spec that ``--cluster yarn`` would submit."""
    from deploy.clusters import yarn_config_from_args
    from deploy.yarn.spec import build_spec, shown_spec

    config = yarn_config_from_args(args).with_overrides(workers=args.workers).check_files()
    if not args.cache.is_file():
        raise UsageError(f"--cache: {args.cache} does not exist")
    # Secret environment values print as *** (the containers of a real run get them as they are).
    print(shown_spec(build_spec(config, str(args.cache))).to_yaml(), end="")
    return errors.EXIT_OK
