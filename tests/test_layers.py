"""The layers of the house: every import inside the package points down, and no imports form a cycle.

The layer table is the one in docs/architecture.md ("Layers"): its rows, bottom to top, name each
layer's files and folders in backticks (``numtorch/ops/``, ``numtorch/tensor.py``); a module belongs
to the row with the longest matching path. Every ``import`` counts -- at module level and inside
functions -- and so does the package ``__init__`` an import runs first (``import numtorch.ops.shape``
runs ``numtorch/ops/__init__.py``), except the packages the importing module already lives in.
``import numtorch`` is an import of the package root, whose ``__init__`` gathers the layers below it.
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"
PKG = "numtorch"


def layer_table() -> list[tuple[str, list[str]]]:
    """``[(layer, [paths])]``, bottom to top, from the "Layers" table of docs/architecture.md."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Layers"))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or cells[0] in ("layer", "---"):
            continue
        rows.append((cells[0], re.findall(r"`(numtorch/[^`]*)`", cells[1])))
    return rows


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package ``__init__``) for every ``.py`` under src/numtorch."""
    found = {}
    for path in sorted((SRC / PKG).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return found


MODULES = modules()


def _module_named(name: str) -> str:
    """The module an import of ``name`` loads: ``name`` itself, or the package holding the attribute."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(mod: str) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every numtorch import in ``mod``."""
    path, is_pkg = MODULES[mod]
    here = mod if is_pkg else mod.rpartition(".")[0]
    found = []

    class Visitor(ast.NodeVisitor):
        depth = 0

        def visit_FunctionDef(self, node):
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Import(self, node):
            for alias in node.names:
                if alias.name.split(".")[0] == PKG:
                    found.append((_module_named(alias.name), node.lineno, self.depth > 0))

        def visit_ImportFrom(self, node):
            if node.level:  # relative: from .x import y, from .. import z
                base = here.split(".")[:len(here.split(".")) - node.level + 1]
                full = ".".join(base + ([node.module] if node.module else []))
            else:
                full = node.module or ""
            if full.split(".")[0] != PKG:
                return
            for alias in node.names:  # from a.b import c: the module a.b.c if there is one, else a.b
                sub = f"{full}.{alias.name}"
                found.append((sub if sub in MODULES else _module_named(full), node.lineno, self.depth > 0))

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


@functools.cache
def edges() -> dict[str, list[tuple[str, int, bool]]]:
    """The import graph: each import, plus the package ``__init__`` files it runs first."""
    graph = {m: [] for m in MODULES}
    for mod in MODULES:
        for target, line, in_function in imports_of(mod):
            parts = target.split(".")
            parents = (".".join(parts[:n]) for n in range(2, len(parts)))
            runs = [p for p in parents if not mod.startswith(p + ".")]
            graph[mod] += [(m, line, in_function) for m in runs + [target] if m != mod]
    return graph


def layer_of(mod: str, table) -> int | None:
    """The index of ``mod``'s row in the table (longest matching path), or None."""
    path, _ = MODULES[mod]
    rel = path.relative_to(SRC).as_posix()
    best, best_len = None, -1
    for i, (_, paths) in enumerate(table):
        for p in paths:
            if (rel == p or (p.endswith("/") and rel.startswith(p))) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def find_cycle(graph) -> list | None:
    """One cycle as ``[(module, line of the import that reaches it), ...]`` back to its start, or None
    (an iterative depth-first search: state 1 = on the current path, 2 = finished)."""
    state = {}
    for start in graph:
        if start in state:
            continue
        state[start] = 1
        path, pending = [(start, None)], [iter(graph[start])]
        while pending:
            for target, line, _ in pending[-1]:
                if state.get(target) == 1:
                    i = next(k for k, (m, _) in enumerate(path) if m == target)
                    return [(target, None)] + path[i + 1:] + [(target, line)]
                if target not in state:
                    state[target] = 1
                    path.append((target, line))
                    pending.append(iter(graph.get(target, ())))
                    break
            else:
                state[path.pop()[0]] = 2
                pending.pop()
    return None


def test_the_table_names_existing_paths():
    table = layer_table()
    assert len(table) >= 10, f"docs/architecture.md: the Layers table was not found ({table})"
    missing = [p for _, paths in table for p in paths if not (SRC / p).exists()]
    assert not missing, f"docs/architecture.md's Layers table names paths that do not exist: {missing}"


def test_every_module_has_a_layer():
    table = layer_table()
    without = [m for m in MODULES if layer_of(m, table) is None]
    assert not without, f"modules with no row in docs/architecture.md's Layers table: {without}"


def test_imports_point_down():
    table = layer_table()
    up = []
    for mod, targets in edges().items():
        low = layer_of(mod, table)
        for target, line, in_function in targets:
            high = layer_of(target, table)
            if low is not None and high is not None and high > low:
                where = "inside a function" if in_function else "at module level"
                up.append(f"{mod} ({table[low][0]}) imports {target} ({table[high][0]}) "
                          f"at line {line}, {where}")
    assert not up, "imports pointing to a higher layer:\n" + "\n".join(sorted(set(up)))


def test_no_import_cycle():
    cycle = find_cycle(edges())
    assert cycle is None, "import cycle: " + " -> ".join(
        m if line is None else f"{m} (imported at line {line})" for m, line in cycle)


def test_the_checker_sees_cycles_and_upward_imports():
    # the checker itself, on a small graph: a -> b -> c -> a is found, a DAG is not
    graph = {"a": [("b", 1, False)], "b": [("c", 2, True)], "c": [("a", 3, False)], "d": [("a", 4, False)]}
    assert [m for m, _ in find_cycle(graph)] == ["a", "b", "c", "a"]
    graph["c"] = []
    assert find_cycle(graph) is None
    # imports inside functions and the package __init__ an import runs are both seen
    found = {t for t, _, in_function in imports_of("numtorch.ops.extra") if in_function}
    assert "numtorch._dtypes" in found
    assert "numtorch.ops" in {t for t, _, _ in edges()["numtorch.nn.modules.conv"]}
