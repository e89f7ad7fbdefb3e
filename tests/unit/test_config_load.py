"""config.load: params.yaml into typed stage configs; any mistake is one line naming the key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from census_income.config import CARD_KEY, SPEC_KEYS, StageConfig, read_params, to_snake_case
from census_income.data.config import SplitStageConfig
from census_income.errors import ConfigError
from census_income.modeling.config import FeaturizeConfig, TrainConfig
from tests.conftest import REPO_ROOT

Params = dict[str, Any]


@pytest.fixture(scope="module")
def committed() -> Params:
    params: Params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    return params


def write(tmp_path: Path, params: Params, edit: Callable[[Params], object] = lambda p: None) -> Path:
    """The committed params with one edit, as a params.yaml under tmp_path."""
    changed = copy.deepcopy(params)
    edit(changed)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(changed), encoding="utf-8")
    return path


def config_error(path: Path, config_type: type[StageConfig] = TrainConfig) -> str:
    with pytest.raises(ConfigError) as caught:
        config_type.load(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message


def test_committed_params_load_into_typed_configs(tmp_path: Path, committed: Params) -> None:
    cfg = TrainConfig.load(write(tmp_path, committed))
    assert cfg.model.name == committed["model"]["name"]
    assert cfg.seed == committed["seed"]
    schema = read_params(REPO_ROOT / "params.yaml")["data"]["schema"]  # from the data set's description
    assert cfg.schema_.target == to_snake_case(schema["label"]["column"])
    with pytest.raises(ValueError, match="frozen"):
        cfg.seed = 1  # type: ignore[misc]


def test_unknown_key_names_the_dotted_key(tmp_path: Path, committed: Params) -> None:
    """(Unknown keys under `model` are estimator arguments: `models.build_estimator` checks them.)"""
    path = write(tmp_path, committed, lambda p: p["features"].update(scale_numerik=True))
    assert "features.scale_numerik: Extra inputs are not permitted" in config_error(path, FeaturizeConfig)


def test_wrong_type_names_the_dotted_key_and_the_value(tmp_path: Path, committed: Params) -> None:
    path = write(tmp_path, committed, lambda p: p.update(seed="many"))
    message = config_error(path)
    assert ": seed: " in message
    assert "(got 'many')" in message


def write_spec(tmp_path: Path, edit: Callable[[Params], object]) -> Path:
    """The data set's description with one edit, under tmp_path."""
    spec = yaml.safe_load((REPO_ROOT / "conf/datasets/adult.yaml").read_text(encoding="utf-8"))
    edit(spec)
    path = tmp_path / "dataset.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_nested_key_deep_in_the_data_set_description_names_that_file(tmp_path: Path, committed: Params) -> None:
    spec = write_spec(tmp_path, lambda s: s["contract"]["categorical"]["workclass"].update(max_missing=2))
    path = write(tmp_path, committed, lambda p: p["data"].update(spec=str(spec)))
    with pytest.raises(ConfigError) as caught:
        FeaturizeConfig.load(path)
    assert str(caught.value).startswith(f"{spec}: data.contract.categorical.workclass.max_missing: ")


def test_the_data_set_description_stays_out_of_params_yaml(committed: Params) -> None:
    """Its contract and card would be hundreds of `dvc exp show` columns."""
    assert not set(committed["data"]) & {*SPEC_KEYS, CARD_KEY}
    merged = read_params(REPO_ROOT / "params.yaml")["data"]
    assert set(SPEC_KEYS) <= set(merged) and merged[CARD_KEY]["title"]


def test_a_missing_or_unknown_data_set_description_is_one_line(tmp_path: Path, committed: Params) -> None:
    path = write(tmp_path, committed, lambda p: p["data"].update(spec="conf/datasets/nope.yaml"))
    assert config_error(path) == f"{path}: data.spec: conf/datasets/nope.yaml: not found"
    spec = write_spec(tmp_path, lambda s: s.update(colour="blue"))
    path = write(tmp_path, committed, lambda p: p["data"].update(spec=str(spec)))
    with pytest.raises(ConfigError, match=rf"^{spec}: colour: not a data set key"):
        TrainConfig.load(path)


def test_wrong_type_in_a_union_names_the_key_not_the_member(tmp_path: Path, committed: Params) -> None:
    """`min_frequency: float | int | None`: pydantic's member names are no part of the key."""
    path = write(tmp_path, committed, lambda p: p["features"].update(min_frequency="often"))
    message = config_error(path, FeaturizeConfig)
    assert ": features.min_frequency: " in message


@pytest.mark.parametrize("value", [-1, 0, 1.5, -0.1])
def test_a_min_frequency_onehot_refuses_is_refused_before_any_work(
    tmp_path: Path, committed: Params, value: float
) -> None:
    """It once reached scikit-learn's fit and ended in its traceback."""
    path = write(tmp_path, committed, lambda p: p["features"].update(min_frequency=value))
    message = config_error(path, FeaturizeConfig)
    assert f": features.min_frequency: Value error, {value}: a count of at least 1 or a share between" in message
    for fine in (1, 10, 0.0, 0.05, 1.0, None):
        FeaturizeConfig.load(write(tmp_path, committed, lambda p, v=fine: p["features"].update(min_frequency=v)))


@pytest.mark.parametrize("key", ["name", "estimator", "encoding"])
def test_a_missing_model_key_names_it(tmp_path: Path, committed: Params, key: str) -> None:
    path = write(tmp_path, committed, lambda p: p["model"].pop(key))
    assert f": model.{key}: Field required" in config_error(path)


@pytest.mark.parametrize(
    ("key", "value"), [("encoding", "dummies"), ("estimator", "RandomForestClassifier"), ("estimator", "a b.C")]
)
def test_a_bad_model_key_names_it_and_the_value(tmp_path: Path, committed: Params, key: str, value: str) -> None:
    path = write(tmp_path, committed, lambda p: p["model"].update({key: value}))
    message = config_error(path)
    assert f": model.{key}: " in message and f"(got {value!r})" in message


def test_train_reads_the_encoding_featurize_writes(tmp_path: Path, committed: Params) -> None:
    path = write(tmp_path, committed, lambda p: p["features"].update(categorical_encoding="hashing"))
    assert ": features.categorical_encoding: " in config_error(path)


def test_missing_section_names_the_key(tmp_path: Path, committed: Params) -> None:
    path = write(tmp_path, committed, lambda p: p.pop("seed"))
    assert config_error(path) == f"{path}: seed: missing"


def test_a_wrong_value_in_the_split_section(tmp_path: Path, committed: Params) -> None:
    path = write(tmp_path, committed, lambda p: p["split"].update(method="random"))
    assert ": split.method: " in config_error(path, SplitStageConfig)


def test_missing_file_and_invalid_yaml(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert config_error(missing) == f"{missing}: not found (run `make params`)"
    broken = tmp_path / "params.yaml"
    broken.write_text("model: [unclosed\n", encoding="utf-8")
    assert "not valid YAML" in config_error(broken)
    broken.write_text("- a list\n", encoding="utf-8")
    assert config_error(broken) == f"{broken}: expected a mapping at the top level"


def test_defaults_fill_what_a_config_group_leaves_out(tmp_path: Path, committed: Params) -> None:
    path = write(tmp_path, committed, lambda p: p.update(features={"categorical_encoding": "ordinal"}))
    features = FeaturizeConfig.load(path).features
    assert features.scale_numeric is type(features).model_fields["scale_numeric"].default


def test_model_arguments_are_every_other_key(tmp_path: Path, committed: Params) -> None:
    model = TrainConfig.load(write(tmp_path, committed)).model
    assert model.arguments == {
        k: v for k, v in committed["model"].items() if k not in ("name", "estimator", "encoding")
    }


@pytest.mark.parametrize(
    ("raw", "snake"),
    [("native-country", "native_country"), (" Hours per week ", "hours_per_week"), ("a--b__c", "a_b_c")],
)
def test_to_snake_case(raw: str, snake: str) -> None:
    assert to_snake_case(raw) == snake


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s, p: s["contract"]["numeric"].update(agee={"min": 0}),
            "contract.numeric: 'agee' is not a numeric column",
        ),
        (
            lambda s, p: s["contract"].update(distribution=["workclass"]),
            "contract.distribution: 'workclass' is not a numeric",
        ),
        (lambda s, p: s.update(slices=["gender"]), "slices: 'gender' is not a categorical column"),
        (
            lambda s, p: s["schema"]["numeric"].append("height"),
            "schema.numeric: 'height' is not a column of format.columns",
        ),
        (
            lambda s, p: s["schema"].update(log_transform=["capital_gains"]),
            "schema.log_transform: 'capital_gains' is not a numeric column",
        ),
        (
            lambda s, p: s["contract"]["numeric"]["age"].update(max_missing=0.1),
            "contract.numeric.age.max_missing: age may be missing only if the schema lists it",
        ),
    ],
)
def test_a_column_named_in_config_that_the_schema_lacks_is_one_line(
    tmp_path: Path, committed: Params, edit: Callable[[Params, Params], object], message: str
) -> None:
    edited = copy.deepcopy(committed)
    spec = write_spec(tmp_path, lambda s: edit(s, edited))
    path = write(tmp_path, edited, lambda p: p["data"].update(spec=str(spec)))
    with pytest.raises(ConfigError) as caught:
        TrainConfig.load(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
