"""The shape of include/: claimaudit modules import each other in one direction only, and no function
is longer than a screenful or two (100 lines). Read with ast, nothing is imported or executed.

An import counts wherever it stands (module level, inside a function, under TYPE_CHECKING): a
cycle that only works because one side imports late is still a cycle to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

INCLUDE = Path(__file__).resolve().parents[1] / "include"
PACKAGE = "claimaudit"
MAX_FUNCTION_LINES = 100


def module_name(path: Path) -> str:
    parts = list(path.relative_to(INCLUDE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parsed_modules() -> dict[str, tuple[Path, ast.Module]]:
    return {module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
            for p in sorted((INCLUDE / PACKAGE).rglob("*.py"))}


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute dotted name a ``from ... import`` reads from (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str, modules: set[str]) -> str | None:
    """``name`` or its longest prefix that is a claimaudit module (``import a.b.c`` runs ``a.b.c``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_modules(module: str, path: Path, tree: ast.Module, modules: set[str]) -> set[str]:
    """The claimaudit modules ``module`` imports anywhere in its body."""
    out: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, is_package, node)
            # ``from pkg import sub`` imports the submodule when there is one, else a name of pkg.
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                       for alias in node.names]
        else:
            continue
        out.update(t for t in (_known(name, modules) for name in targets) if t and t != module)
    return out


def import_graph() -> dict[str, set[str]]:
    parsed = parsed_modules()
    names = set(parsed)
    return {name: imported_modules(name, path, tree, names) for name, (path, tree) in parsed.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative so a deep import chain never hits the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                    cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(cycles)


def long_functions() -> list[tuple[str, int]]:
    """``path:line name`` and length of each function or method over MAX_FUNCTION_LINES lines."""
    out = []
    for _, (path, tree) in parsed_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append((f"{path.relative_to(INCLUDE)}:{node.lineno} {node.name}", length))
    return sorted(out)


def test_the_checker_sees_cycles_and_imports():
    # A known shape: a -> b -> c -> a is one cycle, d only imports.
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
    # Imports inside functions and relative imports are read too, each to the module it runs.
    snippet = ast.parse("def f():\n    from .b import name\nfrom claimaudit import c\nimport claimaudit.d.e\n")
    modules = {"claimaudit", "claimaudit.a", "claimaudit.b", "claimaudit.c", "claimaudit.d"}
    assert imported_modules("claimaudit.a", Path("a.py"), snippet, modules) == {
        "claimaudit.b", "claimaudit.c", "claimaudit.d"}
    assert "claimaudit.report.wording" in import_graph()["claimaudit.report.render_text"]


def test_claimaudit_modules_import_each_other_in_one_direction():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles among claimaudit modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_function_in_include_is_over_100_lines():
    found = long_functions()
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(
        f"{where}: {length} lines" for where, length in found)
