"""Dependencies point down: models at the bottom, the CLI on top, `import movinet` without torch.

Three checks: every `import` statement of the package (also those inside functions) against the
layer rules; no import cycle between the package's modules; and each package imported in a fresh
interpreter against what it pulled in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "movinet"

# package or module -> movinet packages/modules it must never import (directly or inside a function)
FORBIDDEN = {
    "movinet.models": ["movinet.hub", "movinet.hf", "movinet.convert", "movinet.cli", "movinet.data",
                       "movinet.engine", "movinet.inference", "movinet.export", "movinet.weights", "movinet.loading",
                       "movinet.serve"],
    "movinet.data": ["movinet.hub", "movinet.hf", "movinet.convert", "movinet.cli", "movinet.engine",
                     "movinet.inference", "movinet.export", "movinet.weights", "movinet.loading", "movinet.serve"],
    # the weights file format: below everything that writes or reads weights files
    "movinet.weights": ["movinet.loading", "movinet.convert", "movinet.hub", "movinet.hf", "movinet.engine",
                        "movinet.inference", "movinet.export", "movinet.serve", "movinet.cli"],
    "movinet.convert": ["movinet.hub", "movinet.cli", "movinet.engine", "movinet.inference", "movinet.export",
                        "movinet.loading", "movinet.serve"],
    "movinet.hub": ["movinet.loading", "movinet.engine", "movinet.inference", "movinet.export", "movinet.serve",
                    "movinet.cli"],
    # the Hugging Face Hub: like the release downloads, below the loader; reads and writes our files only
    "movinet.hf": ["movinet.loading", "movinet.engine", "movinet.inference", "movinet.export", "movinet.serve",
                   "movinet.cli", "movinet.convert"],
    "movinet.engine.checkpoint": ["movinet.loading", "movinet.convert", "movinet.hub", "movinet.inference",
                                  "movinet.export", "movinet.serve", "movinet.cli"],
    # the loader: above the format, converters, hub and checkpoints; below what runs models
    "movinet.loading": ["movinet.inference", "movinet.export", "movinet.serve", "movinet.cli"],
}


def _annotation_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (imports for annotations, never executed)."""
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            for stmt in node.body for inner in ast.walk(stmt)}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """`movinet/engine/train.py` -> "movinet.engine.train"; a package's `__init__.py` is the package."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, path: Path, package: Path) -> str:
    """The absolute module a `from ... import` names (`from .b import x` in a/c.py -> "a.b")."""
    if node.level == 0:
        return node.module or ""
    here = module_name(path, package).split(".")
    base = here if path.name == "__init__.py" else here[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(path: Path, package: Path = PACKAGE) -> set[str]:
    """Modules a file imports at run time (at the top or inside functions, not under
    `if TYPE_CHECKING:`). `from a import b` counts as `a` and as `a.b`, which may be a submodule."""
    names = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _annotation_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path, package)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def library_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "cli.py" and p.name != "__main__.py")


def files_of(name: str) -> list[Path]:
    """The source files of a movinet package (all of them) or module."""
    relative = PACKAGE.joinpath(*name.split(".")[1:])
    if relative.is_dir():
        return sorted(relative.rglob("*.py"))
    assert relative.with_suffix(".py").is_file(), f"{name} is neither a package nor a module of movinet"
    return [relative.with_suffix(".py")]


def test_nothing_in_the_library_imports_the_cli():
    offenders = [str(p.relative_to(PACKAGE)) for p in library_files()
                 if any(under(name, "movinet.cli") for name in imported_modules(p))]
    assert offenders == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_rules_hold_for_every_import_statement(package):
    offenders = []
    for path in files_of(package):
        for name in imported_modules(path):
            if any(under(name, banned) for banned in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


# -- import cycles -----------------------------------------------------------------------------------
# The nodes are the package's modules (a package's `__init__.py` is the package). An import is an
# edge to the module it names (the longest dotted prefix that is a module: `from a.b import f` ->
# a.b) and to the packages above that module, whose `__init__` runs first; not to the importer's own
# packages, which are already running when it imports. Lazy exports (`movinet._lazy`: PEP 562 maps
# of name -> module string) are not edges: their module is imported on the name's first use, after
# the modules involved have loaded, as long as the package `__init__` itself imports none of them
# (`import movinet` loading only `movinet._lazy` is checked below).


def _packages_above(module: str, modules: set[str]) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))} & modules


def _longest_module_prefix(name: str, modules: set[str]) -> str | None:
    parts = name.split(".")
    return next((".".join(parts[:end]) for end in range(len(parts), 0, -1) if ".".join(parts[:end]) in modules),
                None)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports at run time (the edges described above)."""
    paths = sorted(package.rglob("*.py"))
    modules = {module_name(path, package) for path in paths}
    graph = {}
    for path in paths:
        importer = module_name(path, package)
        targets = set()
        for name in imported_modules(path, package):
            target = _longest_module_prefix(name, modules)
            if target is not None:
                targets |= {target} | _packages_above(target, modules)
        graph[importer] = targets - _packages_above(importer, modules) - {importer}
    return graph


def _reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for node in graph.get(todo.pop(), ()):
            if node not in seen:
                seen.add(node)
                todo.append(node)
    return seen


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of `graph` that hold a cycle, each sorted, in sorted order."""
    reach = {node: _reachable(graph, node) for node in graph}
    components = {frozenset(other for other in reach[node] if node in reach[other])
                  for node in graph if node in reach[node]}
    return sorted(sorted(component) for component in components)


def describe_cycle(graph: Mapping[str, set[str]], cycle: list[str]) -> str:
    return "; ".join(f"{module} -> {', '.join(sorted(graph[module] & set(cycle)))}" for module in cycle)


def test_no_import_cycle_between_the_package_modules():
    graph = import_graph()
    assert {"movinet", "movinet.weights", "movinet.loading", "movinet.engine.train", "movinet.cli"} <= set(graph)
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles (module -> what it imports inside its cycle):\n" + "\n".join(
        describe_cycle(graph, cycle) for cycle in cycles)


def test_the_cycle_finder_finds_every_cycle_of_a_small_graph():
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set(), "e": {"a", "e"}, "f": {"d"}}
    assert import_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_counts_function_relative_and_package_imports(tmp_path):
    sources = {
        "__init__.py": "",
        "a.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from pkg.d import Thing
            def load():
                from pkg.b import thing
            """,
        "b.py": "from pkg.c import helper\n",
        "c/__init__.py": "from . import inner\n",
        "c/inner.py": "import pkg.a\n",
        "d.py": "import pkg.a\n",
        "g.py": "import pkg.h.leaf\n",
        "h/__init__.py": "from pkg import g\n",
        "h/leaf.py": "",
    }
    for name, source in sources.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(textwrap.dedent(source), encoding="utf-8")
    graph = import_graph(tmp_path / "pkg")
    assert graph["pkg.a"] == {"pkg.b"}  # the import in a function counts, the TYPE_CHECKING one does not
    assert (graph["pkg.b"], graph["pkg.c"], graph["pkg.c.inner"]) == ({"pkg.c"}, {"pkg.c.inner"}, {"pkg.a"})
    assert graph["pkg.g"] == {"pkg.h", "pkg.h.leaf"}  # importing pkg.h.leaf runs pkg/h/__init__.py first
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.c.inner"], ["pkg.g", "pkg.h"]]


def pulled_in(statement: str) -> list[str]:
    """The modules (movinet's and torch) that `statement` imports in a fresh interpreter."""
    code = (f"import sys\n{statement}\nimport json\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('movinet', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_movinet_and_the_cli_parser_pull_in_no_torch():
    assert pulled_in("import movinet") == ["movinet", "movinet._lazy"]
    help_path = pulled_in("import movinet, movinet.cli\nmovinet.cli.build_parser().format_help()\n"
                          "movinet.list_models(); movinet.get_model_info('movinet_a0_base')")
    assert not any(under(m, "torch") for m in help_path), help_path
    assert not any(under(m, "movinet.data") or under(m, "movinet.engine") for m in help_path)


@pytest.mark.parametrize("package", ["movinet.models", "movinet.models.movinet", "movinet.data",
                                     "movinet.convert.tf", "movinet.convert.paddle", "movinet.weights",
                                     "movinet.loading", "movinet.inference", "movinet.export.onnx", "movinet.hub",
                                     "movinet.hf"])
def test_each_package_imports_only_what_lies_below_it(package):
    modules = pulled_in(f"import {package}")
    assert not any(under(m, "movinet.cli") for m in modules), modules
    for banned in FORBIDDEN.get(".".join(package.split(".")[:2]), []):
        assert not any(under(m, banned) for m in modules), f"{package} pulled in {banned}"
    if package in ("movinet.inference", "movinet.export.onnx", "movinet.weights", "movinet.loading", "movinet.hub",
                   "movinet.hf"):
        assert not any(under(m, "movinet.engine") for m in modules), modules


def test_lazy_names_resolve_and_unknown_names_fail():
    import movinet

    assert callable(movinet.load_model) and callable(movinet.create_model) and movinet.Preprocessing
    assert "load_model" in dir(movinet)
    with pytest.raises(AttributeError, match="no attribute"):
        movinet.does_not_exist  # noqa: B018
