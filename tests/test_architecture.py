"""The architecture rules docs/architecture.md states, checked on the source: no import cycle in
``rexmle`` (imports inside functions included, ``if TYPE_CHECKING:`` blocks excluded: they never
run), no function longer than 80 lines, and challenge code that imports only the challenge API,
the metric library and its own family."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80


def _modules(package: Path, prefix: str) -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for p in package.rglob("*.py"):
        parts = (prefix, *p.relative_to(package).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join([*parts[:keep], *([node.module] if node.module else [])])
    return [base, *(f"{base}.{a.name}" for a in node.names)]


def import_graph(package: Path, prefix: str) -> dict[str, set[str]]:
    """``module -> modules of the package it imports`` (``from pkg import mod`` names the module)."""
    mods = _modules(package, prefix)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in _runtime_nodes(ast.parse(path.read_text())):
            targets = _imported(node, name, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):  # `from a import b`: b if it is a module, else a
                base, names = targets[0], targets[1:]
                targets = [t if t in mods else base for t in names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    assert cycles(import_graph(pkg, "pkg")) == [["pkg.a", "pkg.b"]]


def test_rexmle_has_no_import_cycle() -> None:
    assert cycles(import_graph(REPO / "rexmle", "rexmle")) == []


def test_no_function_in_rexmle_is_longer_than_80_lines() -> None:
    long = []
    for path in sorted((REPO / "rexmle").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


ALLOWED = ("rexmle.challenge_api", "rexmle.graders", "rexmle.challenges")


@pytest.mark.parametrize(
    "path", sorted((REPO / "challenges").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO / "challenges"))
)
def test_challenge_code_imports_only_the_challenge_api_and_the_metric_library(path: Path) -> None:
    tree = ast.parse(path.read_text())
    harness = []
    for node in ast.walk(tree):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        harness += [n for n in names if n.startswith("rexmle") and not n.startswith(ALLOWED)]
    assert harness == []
    untyped = [
        f"{n.name}:{a.arg}"
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
        for a in n.args.args
        if a.arg == "spec" and (a.annotation is None or ast.unparse(a.annotation) != "ChallengeSpec")
    ]
    assert untyped == []  # a spec is a ChallengeSpec, never Any
