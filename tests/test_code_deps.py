"""Each stage's code dependencies in `dvc.yaml` are exactly the project modules it can import.

The imports are walked with `ast` from the stage's entry module, transitively, lazy imports
(inside functions) included, and with every package's `__init__.py` on the way (Python runs
them). Imports under `if TYPE_CHECKING:` never run and do not count. So a stage gains a
dependency in `dvc.lock` the moment its code imports a module, and a change in any module it
can run reruns it. On failure the message gives the exact list to paste into `dvc.yaml`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "census_income"
ENTRY = re.compile(r"python -m (census_income\.stages\.\w+)")


def module_file(name: str) -> Path | None:
    """The file a dotted project module name is, or None when it is not a project module."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
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
            pending.extend(_runtime_imports(tree, dotted, path.name == "__init__.py"))
    return sorted(str(path.relative_to(REPO_ROOT)) for path in seen)


def declared_code(stage: dict) -> tuple[str, list[str]]:
    """A stage's entry module and the project source files its `deps` name."""
    body = stage.get("do", stage)
    entry = ENTRY.search(" ".join(str(body["cmd"]).split()))
    assert entry, f"stage command does not run a census_income stage module: {body['cmd']}"
    deps = [str(dep) for dep in body.get("deps", []) if str(dep).startswith(f"src/{PACKAGE}")]
    return entry.group(1), deps


STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_declares_exactly_the_modules_it_can_import(name: str) -> None:
    entry, declared = declared_code(STAGES[name])
    derived = code_dependencies(entry)
    missing = sorted(set(derived) - set(declared))
    extra = sorted(set(declared) - set(derived))
    listing = "\n".join(f"  - {path}" for path in derived)
    assert not missing and not extra, (
        f"stage {name}: dvc.yaml misses {missing} and names {extra} it cannot import; its code deps are:\n{listing}"
    )
    assert declared == derived, f"stage {name}: list its code deps sorted, as:\n{listing}"


def test_the_walk_follows_lazy_imports_and_package_inits() -> None:
    deps = code_dependencies("census_income.stages.ingest")
    assert "src/census_income/__init__.py" in deps
    assert "src/census_income/stages/__init__.py" in deps
    # the Spark engine is imported inside a function, only when engine=spark
    assert "src/census_income/spark/stages.py" in deps
