"""Dependencies point down: models at the bottom, the CLI on top, `import movinet` without torch.

Two checks: every `import` statement of the package (also those inside functions) against the
layer rules, and each package imported in a fresh interpreter against what it pulled in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "movinet"

# package -> movinet packages/modules it must never import (directly or inside a function)
FORBIDDEN = {
    "movinet.models": ["movinet.hub", "movinet.convert", "movinet.cli", "movinet.data", "movinet.engine",
                       "movinet.inference", "movinet.export", "movinet.weights", "movinet.serve"],
    "movinet.data": ["movinet.hub", "movinet.convert", "movinet.cli", "movinet.engine", "movinet.inference",
                     "movinet.export", "movinet.weights", "movinet.serve"],
    "movinet.convert": ["movinet.hub", "movinet.cli", "movinet.engine", "movinet.inference", "movinet.export",
                        "movinet.serve"],
}


def _annotation_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (imports for annotations, never executed)."""
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            for stmt in node.body for inner in ast.walk(stmt)}


def imported_modules(path: Path) -> set[str]:
    """Modules a file imports at run time (at the top or inside functions)."""
    names = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _annotation_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def library_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "cli.py" and p.name != "__main__.py")


def test_nothing_in_the_library_imports_the_cli():
    offenders = [str(p.relative_to(PACKAGE)) for p in library_files()
                 if any(under(name, "movinet.cli") for name in imported_modules(p))]
    assert offenders == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_rules_hold_for_every_import_statement(package):
    folder = PACKAGE / package.split(".", 1)[1]
    assert folder.is_dir()
    offenders = []
    for path in sorted(folder.rglob("*.py")):
        for name in imported_modules(path):
            if any(under(name, banned) for banned in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


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
                                     "movinet.inference", "movinet.export.onnx", "movinet.hub"])
def test_each_package_imports_only_what_lies_below_it(package):
    modules = pulled_in(f"import {package}")
    assert not any(under(m, "movinet.cli") for m in modules), modules
    for banned in FORBIDDEN.get(".".join(package.split(".")[:2]), []):
        assert not any(under(m, banned) for m in modules), f"{package} pulled in {banned}"
    if package in ("movinet.inference", "movinet.export.onnx", "movinet.weights", "movinet.hub"):
        assert not any(under(m, "movinet.engine") for m in modules), modules


def test_lazy_names_resolve_and_unknown_names_fail():
    import movinet

    assert callable(movinet.load_model) and callable(movinet.create_model) and movinet.Preprocessing
    assert "load_model" in dir(movinet)
    with pytest.raises(AttributeError, match="no attribute"):
        movinet.does_not_exist  # noqa: B018
