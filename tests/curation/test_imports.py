"""The package's shape: no import circles inside curation/, and curation/ never imports flows/ or
classifiers/ (the dependency direction is flows -> classifiers -> curation)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "curation"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """Every module of ours ``path`` imports, wherever the import stands (top level, inside a
    function, under TYPE_CHECKING): a circle through a lazy import is still a circle."""
    found = set()
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules}
    return found


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): {m for m in imports(f, modules) if m in modules and m != module_name(f)} for f in files}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_in_curation():
    assert cycles(graph()) == []


def test_curation_imports_neither_flows_nor_classifiers():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        mods = imports(path, set())
        bad = sorted(m for m in mods if m.split(".")[0] in ("flows", "classifiers", "prefect", "prefect_ray"))
        if bad:
            offenders[module_name(path)] = bad
    assert offenders == {}


def test_the_stage_interface_imports_nothing_of_ours_but_the_record():
    assert graph()["curation.stage"] <= {"curation.document"}
