"""params.yaml is the composition of conf/, and every config option composes into valid stage configs.

Which config a stage builds is read from the stage modules themselves (their `Config.load()`
call), and its keys from that class's `PARAMS`, so this test follows the stages as they change.
"""

from __future__ import annotations

import ast
import difflib
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from census_income import config
from census_income.compose import compose_params
from census_income.data.config import SplitConfig
from census_income.errors import ConfigError
from census_income.modeling.config import TrainConfig
from census_income.modeling.models import build_estimator
from tests.conftest import REPO_ROOT

CONF = REPO_ROOT / "conf"
STAGES = REPO_ROOT / "src" / "census_income" / "stages"


def group_options() -> list[str]:
    """`group=option` for every option file of every config group (`+group=option` outside defaults);
    `conf/datasets/` holds data set descriptions that `data.spec` names, not Hydra options."""
    defaults = yaml.safe_load((CONF / "config.yaml").read_text(encoding="utf-8"))["defaults"]
    in_defaults = {next(iter(entry)) for entry in defaults if isinstance(entry, dict)}
    return [
        f"{'' if group.name in in_defaults else '+'}{group.name}={option.stem}"
        for group in sorted(p for p in CONF.iterdir() if p.is_dir() and p.name != "datasets")
        for option in sorted(group.glob("*.yaml"))
    ]


def stage_loads() -> dict[str, tuple[str, dict[str, str]]]:
    """`stage -> (config class name, {field: dotted key})`: the config class each stage module
    hands the harness (`run_stage(name, body, <ConfigClass>, paths)`), and the keys it declares in `PARAMS`."""
    found = {}
    for module in sorted(STAGES.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "run_stage":
                class_name = ast.unparse(node.args[2])
                loaded = getattr(importlib.import_module(f"census_income.stages.{module.stem}"), class_name)
                found[module.stem] = (class_name, loaded.PARAMS)
    return found


def leaves(tree: dict[str, Any], above: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """`(path, value)` for every non-mapping value of a nested mapping."""
    found = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            found += leaves(value, (*above, key))
        else:
            found.append(((*above, key), value))
    return found


def compose(tmp_path: Path, *overrides: str) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "params.yaml"
    compose_params(out, CONF, list(overrides))
    return out, yaml.safe_load(out.read_text(encoding="utf-8"))


def test_committed_params_equal_the_composition_of_conf(tmp_path: Path) -> None:
    composed, _ = compose(tmp_path)
    committed = (REPO_ROOT / "params.yaml").read_bytes()
    if composed.read_bytes() != committed:
        diff = difflib.unified_diff(
            committed.decode().splitlines(),
            composed.read_text().splitlines(),
            "params.yaml (committed)",
            "composition of conf/",
            lineterm="",
        )
        pytest.fail("params.yaml is stale: run `make params` and commit it\n" + "\n".join(list(diff)[:40]))


def test_the_stage_loads_were_found() -> None:
    loads = stage_loads()
    assert {"ingest", "prepare", "split", "featurize", "train", "evaluate"} <= set(loads)
    for stage, (class_name, keys) in loads.items():
        assert class_name.endswith("Config") and (keys or stage == "environment"), stage  # it reads no params


def from_description(dotted: str) -> bool:
    """A key that comes from the data set's description file, not from params.yaml."""
    parts = dotted.split(".")
    return parts[0] == "data" and len(parts) > 1 and parts[1] in config.SPEC_KEYS


def test_every_stage_declares_the_params_it_loads() -> None:
    """A key a stage reads but dvc.yaml does not list would not rerun the stage when it changes;
    a key from the data set's description needs that file (`${data.spec}`) among its deps."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    declared = {name: stage.get("do", stage).get("params", []) for name, stage in stages.items()}
    deps = {name: stage.get("do", stage).get("deps", []) for name, stage in stages.items()}
    for stage, (_, keys) in stage_loads().items():
        for dotted in keys.values():
            if from_description(dotted):
                assert "${data.spec}" in deps[stage], f"stage {stage} reads `{dotted}` but does not depend on data.spec"
                continue
            covered = any(dotted == key or dotted.startswith(f"{key}.") for key in declared[stage])
            assert covered, f"stage {stage} loads `{dotted}` but dvc.yaml does not list it under its params"


def test_the_default_composition_holds_what_people_tune() -> None:
    """Every leaf of params.yaml is a column of `dvc exp show`: at most 40 of them."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert len(leaves(params)) <= 40, sorted(".".join(path) for path, _ in leaves(params))


@pytest.mark.parametrize("override", group_options())
def test_every_option_composes_and_validates(tmp_path: Path, override: str) -> None:
    path, params = compose(tmp_path, override)
    group, option = override.lstrip("+").split("=")
    text = (CONF / group / f"{option}.yaml").read_text(encoding="utf-8")
    chosen = {k: v for k, v in (yaml.safe_load(text) or {}).items() if k != "defaults"}
    # an option's values land under its group, or at the top with `# @package _global_`
    prefix = [] if "@package _global_" in text else [group]
    for dotted, value in leaves(chosen):
        node: Any = params
        for key in [*prefix, *dotted]:
            node = node[key]
        assert node == value, f"{override}: {'.'.join([*prefix, *dotted])} not taken from the option"

    for stage, (class_name, _) in stage_loads().items():
        if stage == "generate" and not params["data"]["generate"]:
            continue  # no generate stage for real data sets
        config_type = getattr(importlib.import_module(f"census_income.stages.{stage}"), class_name)
        assert isinstance(config_type.load(path), config_type), stage


def test_overrides_reach_the_typed_config(tmp_path: Path) -> None:
    """What `dvc exp run -S model=random_forest -S model.n_estimators=50` composes."""
    path, _ = compose(tmp_path, "model=random_forest", "model.n_estimators=50", "split=stratified")
    train = TrainConfig.load(path)
    assert train.model.estimator == "sklearn.ensemble.RandomForestClassifier"
    assert train.model.arguments["n_estimators"] == 50
    split = config.load(SplitConfig, path, method="split.method")
    assert split.method == "stratified"


def test_a_bad_override_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path, _ = compose(tmp_path, "model=random_forest", "model.n_estimators=-3")
    train = TrainConfig.load(path)  # arguments are checked against the estimator itself
    with pytest.raises(
        ConfigError, match=r"^params\.yaml: model\.n_estimators: must be an int in the range \[1, inf\)"
    ):
        build_estimator(train.model, train.seed)
