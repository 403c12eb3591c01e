"""The ``forecasting`` command.

Exit codes (stable; cron and schedulers branch on them):

==  ===========================================================
0   success: every region forecast
1   some regions failed, no more than ``--max-failed-fraction``
2   usage or input error (bad option, bad CSV, bad cache, bad config)
3   too many regions failed
4   the cluster could not be started or reached
5   the results store could not be written (locked, disk full); resume later
70  a bug: the traceback is printed, please report it
130 interrupted (Ctrl-C)
==  ===========================================================

Each command lives in its own module of this package (``cache``, ``run``,
``backtest``, ``status``, ``accuracy``, ``report``), a thin wrapper: parse, call the
library, print.  Installed plug-ins add more: commands from the
``forecasting.commands`` entry-point group (``deploy.commands``:
``logs``, ``pack-env``, ``spec``), and options of the cluster back ends
(``forecasting.runs.backends``: YARN's ``--queue``...) to ``run`` and
``backtest``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback

from forecasting import errors
from forecasting.errors import ConfigError, ForecastingError, UsageError

COMMAND_ENTRY_POINTS = "forecasting.commands"
#: How ``forecasting --help`` lists the commands, wherever they come from (others follow, by name).
COMMAND_ORDER = ("cache", "run", "backtest", "status", "accuracy", "logs", "report", "pack-env", "spec")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: this package's commands and the installed plug-ins'."""
    from forecasting.cli import accuracy, backtest, cache, jobs, report, run, status

    parser = _Parser(prog="forecasting", description="Per-region order-volume forecasts.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cache.add_parser(sub)
    job_parsers = [run.add_parser(sub), backtest.add_parser(sub)]
    status.add_parser(sub)
    accuracy.add_parser(sub)
    report.add_parser(sub)
    _add_plugin_commands(sub)
    _sort_commands(sub)
    jobs.add_backend_arguments(job_parsers)
    return parser


def _add_plugin_commands(sub) -> None:
    """Each ``forecasting.commands`` entry point: ``add_commands(sub)`` adds its sub-command parsers."""
    from importlib.metadata import entry_points

    # One call per name: a distribution seen twice on sys.path (an editable
    # install run from its checkout) must not add its commands twice.
    for ep in {ep.name: ep for ep in entry_points(group=COMMAND_ENTRY_POINTS)}.values():
        ep.load()(sub)  # a plug-in that fails to import is a bug in it: let it show


def _sort_commands(sub) -> None:
    """Put the commands in :data:`COMMAND_ORDER`, in the usage line, the help and 'invalid choice' alike."""
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}

    def key(name):
        return (rank.get(name, len(rank)), name)

    # argparse keeps the order of add_parser calls in two places: the name -> parser
    # map (its ``choices``, reordered in place: argparse holds that very dict) and
    # the list of help lines.
    ordered = sorted(sub.choices.items(), key=lambda item: key(item[0]))
    sub.choices.clear()
    sub.choices.update(ordered)
    sub._choices_actions.sort(key=lambda action: key(action.dest))


def error_line(exc: ForecastingError, args) -> str:
    """The one line shown for a user's error: the library's parameter becomes this command's flag.

    A :class:`~forecasting.errors.UsageError` with ``param`` (``regions: not
    in the cache...``) is shown with the flag the command maps it to
    (``--regions: not in the cache...``), as the command's ``flags``
    default says.
    """
    text = str(exc)
    param = getattr(exc, "param", None)
    flag = (getattr(args, "flags", None) or {}).get(param) if param else None
    if flag is None or (isinstance(exc, ConfigError) and not text.startswith(param)):
        return text  # (a config file's error names the file and its key, not a flag)
    return flag + text[len(param):] if text.startswith(param) else f"{flag}: {text}"


def configure_logging(level: str) -> contextlib.AbstractContextManager:
    """Our format (forecasting.logs.records.LOG_FORMAT) on standard error; Dask's own chatter only at DEBUG.

    Returns the context to run the command in: Dask's config quieted until it
    exits, so that ``main`` called from Python leaves the caller's config as
    it was.
    """
    from forecasting.logs.records import configure_logging as configure

    configure(level)
    if level == "DEBUG":
        return contextlib.nullcontext()
    import dask

    # distributed sets its loggers' levels from this key when imported,
    # and passes it on to the workers it starts.
    return dask.config.set({"logging.distributed": "warning"})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forecasting`` console script."""
    from forecasting.logs.timeline import mark

    mark("cli_start")  # (FORECASTING_TIMELINE only: python -m bench command)
    args = None
    try:
        args = build_parser().parse_args(argv)
        mark("cli_parsed")
        with configure_logging(args.log_level):
            code = args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, where it is handled
        return code
    except ForecastingError as exc:
        print(f"forecasting: error: {error_line(exc, args)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("forecasting: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into 'head' and the like: the reader left, nothing is wrong.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return errors.EXIT_OK
    except Exception:  # noqa: BLE001 - a bug: show everything
        traceback.print_exc()
        print("forecasting: internal error (a bug): please report it with the traceback above", file=sys.stderr)
        return errors.EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
