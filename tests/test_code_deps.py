"""Each stage's code dependencies in `dvc.yaml` are exactly the project modules it can import.

The imports are walked with `ast` from the stage's entry module, transitively, lazy imports
(inside functions) included, and with every package's `__init__.py` on the way (Python runs
them). Imports under `if TYPE_CHECKING:` never run and do not count. So a stage gains a
dependency in `dvc.lock` the moment its code imports a module, and a change in any module it
can run reruns it. On failure the message gives the exact list to paste into `dvc.yaml`.

Unpickling runs code too: pickle stores functions and classes by reference, so a stage that
loads the featurizer or the model (`load_model`) runs the project code that artifact refers to
(`modeling.features.to_model_input`), which is found on the featurizer the configuration builds.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from typing import Any

import pytest
import yaml

from census_income.modeling.config import FeaturizeConfig
from census_income.modeling.features import build_featurizer
from census_income.paths import PARAMS_FILE
from tests.conftest import REPO_ROOT
from tests.imports import PACKAGE, code_dependencies, module_name

ENTRY = re.compile(r"python -m census_income\.stages (\w+)")


def declared_code(stage: dict) -> tuple[str, list[str]]:
    """A stage's entry module and the project source files its `deps` name."""
    body = stage.get("do", stage)
    entry = ENTRY.search(" ".join(str(body["cmd"]).split()))
    assert entry, f"stage command does not run a census_income stage module: {body['cmd']}"
    deps = [str(dep) for dep in body.get("deps", []) if str(dep).startswith(f"src/{PACKAGE}")]
    return f"census_income.stages.{entry.group(1)}", deps


def referenced_modules(value: Any, seen: set[int] | None = None) -> set[str]:
    """Project modules of the functions and classes an object holds (what pickle stores by name)."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, str | bytes | int | float | bool | type(None)):
        return set()
    seen.add(id(value))
    found = set()
    for named in (value, type(value)):
        module = getattr(named, "__module__", None) or ""
        if callable(named) and module.startswith(f"{PACKAGE}."):
            found.add(module)
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else []
    for child in [*children, *getattr(value, "__dict__", {}).values()]:
        found |= referenced_modules(child, seen)
    return found


@cache
def unpickled_code() -> list[str]:
    """The files whose code a loaded featurizer or model runs (the model holds the featurizer)."""
    cfg = FeaturizeConfig.load(REPO_ROOT / PARAMS_FILE)
    modules = referenced_modules(build_featurizer(cfg.features, cfg.schema_))
    assert modules, "the featurizer refers to no project code: check the walk"
    return sorted({path for module in modules for path in code_dependencies(module)})


def loads_artifacts(deps: list[str]) -> bool:
    """Whether any of these project files calls `load_model` (other than io, which defines it)."""
    for path in deps:
        if module_name(REPO_ROOT / path) == f"{PACKAGE}.io":
            continue
        tree = ast.parse((REPO_ROOT / path).read_text())
        if any(isinstance(n, ast.Call) and ast.unparse(n.func) == "load_model" for n in ast.walk(tree)):
            return True
    return False


def stage_code(entry: str) -> list[str]:
    """What `python -m <entry>` can run: its imports, and what the artifacts it unpickles refer to."""
    deps = code_dependencies(entry)
    return sorted({*deps, *unpickled_code()}) if loads_artifacts(deps) else deps


STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_declares_exactly_the_modules_it_can_import(name: str) -> None:
    entry, declared = declared_code(STAGES[name])
    derived = stage_code(entry)
    missing = sorted(set(derived) - set(declared))
    extra = sorted(set(declared) - set(derived))
    listing = "\n".join(f"  - {path}" for path in derived)
    assert not missing and not extra, (
        f"stage {name}: dvc.yaml misses {missing} and names {extra} it cannot import; its code deps are:\n{listing}"
    )
    assert declared == derived, f"stage {name}: list its code deps sorted, as:\n{listing}"


def test_stages_that_load_the_model_depend_on_the_code_it_refers_to() -> None:
    assert "src/census_income/modeling/features.py" in unpickled_code()
    assert "src/census_income/modeling/features.py" in stage_code("census_income.stages.evaluate")
    assert "src/census_income/modeling/features.py" in stage_code("census_income.stages.train")
    assert not loads_artifacts(code_dependencies("census_income.stages.split"))


def test_the_walk_follows_lazy_imports_and_package_inits() -> None:
    deps = code_dependencies("census_income.stages.ingest")
    assert "src/census_income/__init__.py" in deps
    assert "src/census_income/stages/__init__.py" in deps
    # the Spark engine is imported inside a function, only when engine=spark
    assert "src/census_income/spark/stages.py" in deps
