"""Each stage's code dependencies in `dvc.yaml` are exactly the project modules it can import.

The imports are walked with `ast` from the stage's entry module, transitively, lazy imports
(inside functions) included, and with every package's `__init__.py` on the way (Python runs
them). Imports under `if TYPE_CHECKING:` never run and do not count. So a stage gains a
dependency in `dvc.lock` the moment its code imports a module, and a change in any module it
can run reruns it. On failure the message gives the exact list to paste into `dvc.yaml`.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.imports import PACKAGE, code_dependencies

ENTRY = re.compile(r"python -m (census_income\.stages\.\w+)")


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
