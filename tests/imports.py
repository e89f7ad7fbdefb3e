"""The project's import graph, walked with `ast`: what a module's code can import when it runs.

Lazy imports (inside functions) count; imports under `if TYPE_CHECKING:` never run and do not.
Used by the checks that `dvc.yaml` names each stage's code and that the tree has no import circles.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "census_income"


def module_file(name: str) -> Path | None:
    """The file a dotted project module name is, or None when it is not a project module."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Dotted names of what the module's code can import, skipping `if TYPE_CHECKING:` blocks."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")}


def code_dependencies(entry: str) -> list[str]:
    """Every project file `python -m <entry>` can execute, as paths relative to the repository."""
    seen: set[Path] = set()
    pending = [entry]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]))
            if path is None or path in seen:
                continue
            seen.add(path)
            dotted = ".".join(parts[:depth])
            tree = ast.parse(path.read_text(), filename=str(path))
            pending.extend(runtime_imports(tree, dotted, path.name == "__init__.py"))
    return sorted(str(path.relative_to(REPO_ROOT)) for path in seen)


def module_name(path: Path) -> str:
    """The dotted name of a project source file."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules its code imports (not the packages on the way)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name = module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = {module_file(imported) for imported in runtime_imports(tree, name, path.name == "__init__.py")}
        graph[name] = {module_name(target) for target in targets if target is not None and target != path}
    return graph
