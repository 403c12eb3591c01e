"""One place per table: every table of the results store is defined in store/schema.py only."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import forecasting
from forecasting.store.schema import metadata

PACKAGE = Path(forecasting.__file__).parent


def _table_definitions() -> dict[str, list[str]]:
    """Table name -> the modules (relative paths) with an ``sa.Table("name", ...)`` call."""
    found = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "Table" and node.args and isinstance(node.args[0], ast.Constant):
                found[node.args[0].value].append(path.relative_to(PACKAGE).as_posix())
    return found


def test_each_table_is_defined_in_exactly_one_module():
    twice = {name: paths for name, paths in _table_definitions().items() if len(paths) != 1}
    assert twice == {}


def test_every_results_store_table_is_defined_in_the_schema_module():
    found = _table_definitions()
    in_store = {name for name, paths in found.items() if any(p.startswith("store/") for p in paths)}
    assert in_store == set(metadata.tables)
    assert {name: found[name] for name in in_store if found[name] != ["store/schema.py"]} == {}
