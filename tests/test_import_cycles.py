"""No import cycle among the modules of ``groprompt`` (issue 22, part 6).

The graph is read from the source with :mod:`ast`, nothing is imported: an edge ``a -> b`` for every
``import b`` / ``from b import ...`` / ``from b.c import name`` (``b.c.name`` when that is a module) in module ``a``,
``if TYPE_CHECKING:`` blocks included (a type-only circle is still a circle of the design). In
``groprompt/evaluation/`` imports inside functions count too, so a circle cannot be hidden by deferring an import;
for the whole package only module-level imports count (commands import lazily to keep the CLI fast).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "groprompt"


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``package`` (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path], in_functions: bool) -> set[str]:
    """The modules of ``modules`` that module ``name`` (file ``path``) imports; those inside function and class
    bodies only if ``in_functions``."""
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if not in_functions and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name in modules)
            elif isinstance(child, ast.ImportFrom):
                source = child.module or ""
                if child.level:
                    anchor = base
                    for _ in range(child.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    source = f"{anchor}.{source}" if source else anchor
                for alias in child.names:
                    if f"{source}.{alias.name}" in modules:
                        found.add(f"{source}.{alias.name}")
                    elif source in modules:
                        found.add(source)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    found.discard(name)
    return found


def import_graph(prefix: str, in_functions: bool) -> dict[str, set[str]]:
    """Module -> the modules it imports, for the modules named ``prefix`` or below, edges among them only."""
    modules = {name: path for name, path in module_files().items()
               if name == prefix or name.startswith(prefix + ".")}
    return {name: imported_modules(name, path, modules, in_functions) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
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
                        found.append(sorted(component))
    return found


def describe(graph: dict[str, set[str]], found: list[list[str]]) -> str:
    return "\n".join(f"{member} -> {', '.join(sorted(graph[member] & set(component)))}"
                     for component in found for member in component)


def test_cycles_are_found():
    """The checker itself: a circle over three modules and a self-contained pair, not a chain."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_checker_reads_deferred_and_type_only_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import X\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    modules = module_files(package)
    assert imported_modules("pkg.a", modules["pkg.a"], modules, in_functions=False) == {"pkg.b"}
    assert imported_modules("pkg.b", modules["pkg.b"], modules, in_functions=False) == set()
    assert imported_modules("pkg.b", modules["pkg.b"], modules, in_functions=True) == {"pkg.a"}


def test_evaluation_has_no_import_cycle():
    graph = import_graph("groprompt.evaluation", in_functions=True)
    assert len(graph) > 5
    found = cycles(graph)
    assert not found, "import cycles in groprompt/evaluation:\n" + describe(graph, found)


def test_package_has_no_module_level_import_cycle():
    graph = import_graph("groprompt", in_functions=False)
    assert "groprompt.methods" in graph
    found = cycles(graph)
    assert not found, "import cycles in groprompt:\n" + describe(graph, found)
