"""An experiment's params.yaml turned back into a preset in conf/ that composes it exactly.

The derivation runs on a copy of the project's real `conf/` with DVC's own Hydra composition;
the experiments are compositions with the overrides `dvc exp run -S` would get.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from census_income.cli import main
from census_income.errors import PipelineError
from census_income.experiments.exp_branch import (
    Preset,
    compose,
    derive_preset,
    leaf_changes,
    preset_name,
    preset_text,
    select_preset,
)
from tests.conftest import REPO_ROOT

CONFIG = """\
defaults:
  - data: adult
  - model: hist_gradient_boosting
  - _self_

seed: 42
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf"))


def write_preset(conf: Path, name: str, preset: Preset) -> None:
    (conf / "experiment" / f"{name}.yaml").write_text(preset_text(preset, "test"), encoding="utf-8")
    config = conf / "config.yaml"
    config.write_text(select_preset(config.read_text(encoding="utf-8"), name), encoding="utf-8")


def test_leaf_changes_lists_changed_added_and_missing_keys() -> None:
    base = {"model": {"name": "a", "lr": 0.05, "depth": 3}, "seed": 1, "data": {"generate": {}}}
    target = {"model": {"name": "a", "lr": 0.1, "leaves": 5}, "seed": 1, "data": {"generate": {"rows": 9}}}
    changed, missing = leaf_changes(base, target)
    assert changed == {"model.lr": 0.1, "model.leaves": 5, "data.generate.rows": 9}
    assert missing == ["model.depth"]


def test_select_preset_goes_after_self_and_replaces_an_earlier_preset() -> None:
    first = select_preset(CONFIG, "lr-best")
    assert first.splitlines()[:5] == [
        "defaults:",
        "  - data: adult",
        "  - model: hist_gradient_boosting",
        "  - _self_",
        "  - experiment: lr-best",
    ]
    assert first.endswith("\nseed: 42\n")
    assert yaml.safe_load(first)["defaults"][-1] == {"experiment": "lr-best"}
    second = select_preset(first, "rf-best")
    assert second == first.replace("lr-best", "rf-best")


def test_select_preset_needs_self_in_the_defaults() -> None:
    with pytest.raises(PipelineError, match="no `- _self_` entry"):
        select_preset("defaults:\n  - model: a\n", "x")


def test_preset_name_is_a_file_name() -> None:
    assert preset_name("feature/lr 0.1") == "feature-lr-0.1"
    with pytest.raises(PipelineError, match="--preset"):
        preset_name("//")


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.learning_rate=0.1"],
        ["model=random_forest", "model.max_depth=7", "seed=3"],
        ["+experiment=hgb_tuned", "model.learning_rate=0.1"],
        ["+experiment=lr_tuned"],
        ["+data.generate.rows=100"],
    ],
)
def test_the_derived_preset_composes_the_experiments_params_exactly(conf: Path, overrides: list[str]) -> None:
    target = compose(conf, overrides)
    assert target != compose(conf)
    preset = derive_preset(conf, target)
    write_preset(conf, "best", preset)
    assert compose(conf) == target


def test_a_group_choice_becomes_an_override_not_a_copy_of_its_values(conf: Path) -> None:
    preset = derive_preset(conf, compose(conf, ["model=random_forest", "model.max_depth=7"]))
    assert preset.groups == {"model": "random_forest"}
    assert preset.values == {"model.max_depth": 7}
    assert preset.overrides() == ["model=random_forest", "model.max_depth=7"]


def test_a_second_promotion_replaces_the_first_preset(conf: Path) -> None:
    write_preset(conf, "first", derive_preset(conf, compose(conf, ["model.learning_rate=0.1", "seed=3"])))
    target = compose(conf, ["model.max_iter=100"])  # the new experiment, on top of `first`
    preset = derive_preset(conf, target)
    assert preset.values == {"model.learning_rate": 0.1, "seed": 3, "model.max_iter": 100}
    write_preset(conf, "second", preset)
    assert compose(conf) == target
    assert yaml.safe_load((conf / "config.yaml").read_text())["defaults"][-1] == {"experiment": "second"}


def test_a_removed_key_cannot_be_a_preset(conf: Path) -> None:
    with pytest.raises(PipelineError, match=r"lacks data\.source\.test: a preset in conf/ cannot remove keys"):
        derive_preset(conf, compose(conf, ["~data.source.test"]))


def test_params_with_overrides_previews_and_leaves_params_yaml_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["params", "--conf", str(REPO_ROOT / "conf"), "model.learning_rate=0.2"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["learning_rate"] == 0.2
    assert not (tmp_path / "params.yaml").exists()

    assert main(["params", "--conf", str(REPO_ROOT / "conf"), "-o", "params.yaml", "model.learning_rate=0.2"]) == 1
    assert "overrides would make params.yaml differ from" in capsys.readouterr().err
    assert not (tmp_path / "params.yaml").exists()

    assert main(["params", "--conf", str(REPO_ROOT / "conf")]) == 0
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["model"]["learning_rate"] == 0.05


def test_an_option_missing_from_conf_is_named_as_the_cause(conf: Path) -> None:
    """A model family the user added but did not commit: the experiment ran with it, conf/ at the
    commit lacks it. The error blamed keys of another family (`lacks model.C, ...`)."""
    (conf / "model" / "knn.yaml").write_text(
        "name: knn\nestimator: sklearn.neighbors.KNeighborsClassifier\nencoding: onehot\nn_neighbors: 7\n"
    )
    target = compose(conf, ["model=knn"])
    (conf / "model" / "knn.yaml").unlink()
    with pytest.raises(PipelineError, match=r"^the experiment used model=knn, which is no file of conf/ at its commit"):
        derive_preset(conf, target)
