"""The package's shape: imports only downward (no cycles), small classes and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tgfetch"
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 40


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Every tgfetch module each module imports, at any depth (function-level and TYPE_CHECKING too)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, tree in modules.items():
        is_package = (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, node, is_package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t.startswith("tgfetch") and t != name and not name.startswith(t + "."):
                    graph[name].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    graph = _imports(_modules())
    # A package's __init__ re-exports its modules: importing the package is importing below it.
    for name in graph:
        graph[name] = {t for t in graph[name] if not (name.startswith(t + ".") or t.startswith(name + "."))}
    assert _cycles(graph) == []


def _defs(modules: dict[str, ast.Module], kind: type | tuple[type, ...]) -> list[tuple[str, str, int]]:
    out = []
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, kind):
                assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                out.append((name, node.name, (node.end_lineno or node.lineno) - start + 1))
    return out


def test_classes_are_small() -> None:
    big = [d for d in _defs(_modules(), ast.ClassDef) if d[2] > MAX_CLASS_LINES]
    assert big == []


def test_functions_are_small() -> None:
    big = [d for d in _defs(_modules(), (ast.FunctionDef, ast.AsyncFunctionDef)) if d[2] > MAX_FUNCTION_LINES]
    assert big == []


@pytest.mark.parametrize("probe", ["cycle", "size"])
def test_the_checks_can_fail(probe: str) -> None:
    """The checks above find what they look for (so a green run means something)."""
    if probe == "cycle":
        graph = {"tgfetch.a": {"tgfetch.b"}, "tgfetch.b": {"tgfetch.c"}, "tgfetch.c": {"tgfetch.a"}}
        assert _cycles(graph) == [["tgfetch.a", "tgfetch.b", "tgfetch.c"]]
    else:
        tree = ast.parse("def f():\n" + "    x = 1\n" * 45)
        assert _defs({"m": tree}, ast.FunctionDef) == [("m", "f", 46)]
