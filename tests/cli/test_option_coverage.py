"""A guard for future options: every option of every command is used by some test.

The parsers are walked as ``forecasting`` builds them (plug-ins' commands
and back ends' options included).  An option counts as tested when one test
file under ``tests/`` names it as a string (``"--freq"``) together with its
command's name (``"build"``, ``"import"``, ``"run"``...), the way an argv
list for ``main()`` does.  This is a text check: it cannot tell that the
test asserts what the option changes, only that no option has gone without
any test at all.  Positional arguments (``status RUN_ID``, ``logs SOURCE``)
are left out: a command cannot be called without them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from forecasting.cli.main import build_parser

TESTS = Path(__file__).resolve().parents[1]


def command_options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(command path, option)`` for every optional argument, sub-commands' included (``--help`` aside)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_options(sub, path + (name,))
        elif not isinstance(action, argparse._HelpAction):
            for option in action.option_strings:
                yield path, option


def _quoted(word: str) -> re.Pattern:
    return re.compile(rf"""["']{re.escape(word)}["']""")


def untested(sources: dict[str, str], parser: argparse.ArgumentParser) -> list[str]:
    """``"command --option"`` for each option no source names with its command."""
    missing = []
    for path, option in command_options(parser):
        needed = [_quoted(option)] + ([_quoted(path[-1])] if path else [])
        if not any(all(p.search(text) for p in needed) for text in sources.values()):
            missing.append(" ".join((*path, option)))
    return missing


def _test_sources() -> dict[str, str]:
    this = Path(__file__).resolve()
    return {str(p): p.read_text(encoding="utf-8") for p in sorted(TESTS.rglob("*.py")) if p.resolve() != this}


def test_the_walk_finds_every_command_and_the_plug_ins_options():
    found = set(command_options(build_parser()))
    assert {(("cache", "build"), "--seed"), (("cache", "import"), "--events"), (("status",), "--json"),
            (("pack-env",), "--expected-python"), (("run",), "--queue"), ((), "--log-level")} <= found
    assert not any(option in ("-h", "--help") for _, option in found)


def test_the_guard_names_an_option_no_test_uses():
    parser = build_parser()
    sources = {"a.py": 'main(["cache", "build", "--synthetic"])'}
    missing = untested(sources, parser)
    assert "cache build --seed" in missing and "cache build --synthetic" not in missing
    # The option named for another command does not count for this one.
    assert "cache import --out" in missing and untested({"b.py": '["import", "--out"]'}, parser).count("cache import --out") == 0


def test_every_option_of_every_command_is_used_by_a_test():
    missing = untested(_test_sources(), build_parser())
    assert not missing, f"options no test under tests/ uses (add a test of what each changes): {', '.join(missing)}"
