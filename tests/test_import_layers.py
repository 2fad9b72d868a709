"""The package's modules import each other without circles (issue 14).

Read statically with ``ast`` (nothing is imported, so Hail, Dask and the rest play no part):
every ``import`` and ``from ... import`` statement of a module counts, at module level or
inside a function, as the layers are about what a module may use at all.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "genshare_widgets"


def _module_files(package: Path) -> dict[str, Path]:
    files = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _imported_names(name: str, path: Path, *, top_level_only: bool = False) -> set[str]:
    """Dotted names a module imports (``from a import b`` gives ``a.b``, relative imports
    resolved); with ``top_level_only``, the statements outside functions only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if top_level_only:
        nodes = []
        todo = list(tree.body)
        while todo:  # module body, including if/try blocks (TYPE_CHECKING excluded below)
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes.append(node)
            todo.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                keep = len(base) - node.level + (1 if path.name == "__init__.py" else 0)
                module = ".".join(base[:keep] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports (the most specific module each import
    names: ``from genshare_widgets.engines import _store`` is an arrow to
    ``genshare_widgets.engines._store``, ``from genshare_widgets.engines import open_store``
    one to ``genshare_widgets.engines``)."""
    files = _module_files(package)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for imported in _imported_names(name, path):
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
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
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circle():
    """Today's layers: _selection and _sample_tables under counts, cohort and the consent
    gate; _cache_paths under engines._store and engines._integrity. Any import that closes
    a loop (e.g. the gate importing cohort again) fails here, naming the modules."""
    graph = import_graph(PACKAGE)
    assert "genshare_widgets._selection" in graph and len(graph) > 50  # read the right tree
    assert circles(graph) == []


LOW_MODULES = [
    "genshare_widgets._selection",
    "genshare_widgets._sample_tables",
    "genshare_widgets.engines.hail_engine",
    "genshare_widgets.engines._hail_store",
    "genshare_widgets.engines._direct",
    "genshare_widgets.engines._group_counts",
    "genshare_widgets.disclosure._gate",
]


@pytest.mark.parametrize("module", LOW_MODULES)
def test_engines_and_gate_do_not_import_counts_or_cohort(module):
    """Engines depend on the selection value, not on counts; the consent gate checks a
    grouping without importing cohort or counts (at module level or inside a function)."""
    files = _module_files(PACKAGE)
    imported = _imported_names(module, files[module])
    bad = {
        name
        for name in imported
        for high in ("genshare_widgets.counts", "genshare_widgets.cohort")
        if name == high or name.startswith(high + ".")
    }
    assert not bad, f"{module} imports {sorted(bad)}"


def test_selection_module_imports_numpy_and_the_standard_library_only():
    """pandas only inside the functions that take a DataFrame: any layer may import it."""
    import sys

    files = _module_files(PACKAGE)
    name = "genshare_widgets._selection"
    top = _imported_names(name, files[name], top_level_only=True)
    roots = {n.split(".")[0] for n in top if not n.startswith("genshare_widgets.")}
    assert roots <= {"numpy", *sys.stdlib_module_names}, roots
    own = {n.rpartition(".")[0] for n in top if n.startswith("genshare_widgets.")}
    assert own <= {"genshare_widgets._errors"}, own


def test_integrity_and_store_share_stores_dir_without_importing_each_other():
    files = _module_files(PACKAGE)
    name = "genshare_widgets.engines._integrity"
    assert not any(
        n.startswith("genshare_widgets.engines._store") for n in _imported_names(name, files[name])
    )
    from genshare_widgets._cache_paths import stores_dir
    from genshare_widgets.engines import _integrity, _store
    from genshare_widgets.fetch import cache_dir

    assert _store.stores_dir() == stores_dir() == cache_dir() / "stores"
    assert _integrity._cache_root() == cache_dir()
