"""The layout the architecture promises, read from the source (ast) and the installed metadata.

* ``forecasting/`` never imports ``deploy/``, not even inside a function:
  cluster back ends and deployment commands plug in through entry points.
* No import cycle among the modules of ``forecasting/`` and ``deploy/``
  (imports inside functions count too: they only postpone the cycle).  A
  package and its own submodule importing each other is no cycle of design
  (the same rule as ``/work/shared/checks/layout.py``).
* No module in ``forecasting/`` is over 300 lines.
* The back ends and commands are found from the installed entry points.
"""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("forecasting", "deploy")
MAX_LINES = 300


def _modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imported_names(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Dotted names an import statement may import (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    return [stem] + [f"{stem}.{alias.name}" for alias in node.names]


def _imports(module: str) -> list[tuple[str, int]]:
    """(dotted name, line) of every import in a module, at any depth, and of literal import_module("...") calls."""
    path = MODULES[module]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [(name, node.lineno) for name in _imported_names(module, node)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    """module -> the modules (of forecasting/ and deploy/) it imports."""
    edges = {m: set() for m in MODULES}
    for module in MODULES:
        for name, _ in _imports(module):
            while name and name not in MODULES:  # forecasting.errors.UsageError -> forecasting.errors
                name = name.rpartition(".")[0]
            if name and name != module:
                edges[module].add(name)
    return edges


def _components(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def _own(a: str, b: str) -> bool:
    """A package and one of its own submodules."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def _is_design_cycle(component: list[str], edges: dict[str, set[str]]) -> bool:
    """False when every cycle in the component is a package and its own submodule importing each other.

    That holds exactly when every edge inside it has its reverse, each such
    pair is a package and its submodule, and the pairs form a tree (no
    longer cycle through them).
    """
    members = set(component)
    pairs = set()
    for a in component:
        for b in edges[a] & members:
            if a not in edges[b] or not _own(a, b):
                return True
            pairs.add(frozenset((a, b)))
    return len(pairs) != len(component) - 1


def _cycle_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One shortest cycle inside a component, to show."""
    members = set(component)
    best = None
    for start in component:
        paths, queue = {start: [start]}, [start]
        while queue:
            node = queue.pop(0)
            for child in sorted(edges[node] & members):
                if child == start and len(paths[node]) > 1 and not (len(paths[node]) == 2 and _own(start, node)):
                    cycle = paths[node] + [start]
                    best = cycle if best is None or len(cycle) < len(best) else best
                elif child not in paths:
                    paths[child] = paths[node] + [child]
                    queue.append(child)
    return best or component


def test_forecasting_never_imports_deploy():
    offenders = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {name}"
        for m in MODULES if m.split(".")[0] == "forecasting"
        for name, line in _imports(m)
        if name == "deploy" or name.startswith("deploy.")
    ]
    assert not offenders, "forecasting/ must not import deploy/ (plug in through entry points instead):\n" + "\n".join(offenders)


def test_no_import_cycles():
    edges = _graph()
    cycles = [" -> ".join(_cycle_through(c, edges)) for c in _components(edges) if _is_design_cycle(c, edges)]
    assert not cycles, "import cycles (function-level imports included):\n" + "\n".join(cycles)


def test_no_module_in_forecasting_is_over_300_lines():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items() if m.split(".")[0] == "forecasting"}
    over = [f"{MODULES[m].relative_to(ROOT)} ({n} lines)" for m, n in sorted(sizes.items(), key=lambda kv: -kv[1]) if n > MAX_LINES]
    assert not over, f"modules over {MAX_LINES} lines:\n" + "\n".join(over)


@pytest.mark.parametrize(
    "edges, design",
    [
        ({"p": {"p.a"}, "p.a": {"p"}}, False),  # a package and its submodule
        ({"p": {"p.a", "p.b"}, "p.a": {"p"}, "p.b": {"p"}}, False),  # two of them
        ({"a": {"b"}, "b": {"a"}}, True),  # two unrelated modules
        ({"p": {"p.a"}, "p.a": {"q"}, "q": {"p"}}, True),  # through a third module
        ({"p": {"p.a"}, "p.a": {"p", "q"}, "q": {"p"}}, True),  # the same, with the pair as well
    ],
)
def test_the_cycle_rule_itself(edges, design):
    (component,) = _components(edges)
    assert _is_design_cycle(component, edges) is design
    if design:
        cycle = _cycle_through(component, edges)
        assert cycle[0] == cycle[-1] and len(cycle) >= 3


def test_back_ends_and_commands_are_found_from_the_installed_entry_points():
    """Through importlib.metadata, as installed by setup.cfg (make .venv/.installed)."""
    from deploy import clusters, commands
    from forecasting.cli.main import build_parser
    from forecasting.runs.backends import available_backends, open_serial

    declared = {ep.name: ep.value for ep in entry_points(group="forecasting.backends")}
    assert declared == {"local": "deploy.clusters:local_backend", "address": "deploy.clusters:address_backend",
                        "yarn": "deploy.clusters:yarn_backend"}
    found = available_backends()
    assert found["serial"].opener is open_serial
    assert (found["local"], found["address"], found["yarn"]) == (clusters.local_backend, clusters.address_backend,
                                                                 clusters.yarn_backend)
    (command,) = entry_points(group="forecasting.commands")
    assert command.load() is commands.add_commands

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == ["cache", "run", "backtest", "status", "accuracy", "logs", "report", "pack-env", "spec"]
    # The yarn back end's options, on the commands that start a cluster.
    for name in ("run", "backtest"):
        options = {s for action in sub.choices[name]._actions for s in action.option_strings}
        assert {"--queue", "--name", "--environment", "--worker-memory", "--worker-vcores"} <= options
