"""models: a family is a config file; its estimator is checked before any work, fits and scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from census_income.data.spec import Schema
from census_income.errors import ConfigError
from census_income.modeling.config import FeaturesConfig, ModelConfig
from census_income.modeling.features import featurize, fit_featurizer
from census_income.modeling.models import build_estimator, fit_model, scoring_pipeline
from tests.conftest import REPO_ROOT
from tests.unit.conftest import SMALL_MODELS, needs_estimator


def model(estimator: str, encoding: str = "onehot", **arguments: Any) -> ModelConfig:
    return ModelConfig.model_validate({"name": "test", "estimator": estimator, "encoding": encoding, **arguments})


def config_error(cfg: ModelConfig, features_encoding: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        build_estimator(cfg, seed=0, features_encoding=features_encoding)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and message.startswith("params.yaml: model."), message
    return message


def test_every_shipped_family_has_a_small_config() -> None:
    assert set(SMALL_MODELS) == {path.stem for path in (REPO_ROOT / "conf" / "model").glob("*.yaml")}


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_builds_the_named_class_with_its_arguments_and_the_seed(name: str) -> None:
    cfg = SMALL_MODELS[name]
    needs_estimator(cfg)
    estimator = build_estimator(cfg, seed=11)
    assert type(estimator).__module__.split(".")[0] == cfg.estimator.split(".")[0]
    assert type(estimator).__name__ == cfg.estimator.rsplit(".", 1)[1]
    params = estimator.get_params()
    assert params["random_state"] == 11
    assert {key: params[key] for key in cfg.arguments} == cfg.arguments


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_fits_and_scores_prepared_rows(
    name: str, splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    needs_estimator(SMALL_MODELS[name])
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    estimator = fit_model(train, schema.target, build_estimator(SMALL_MODELS[name], seed=0))
    model = scoring_pipeline(featurizer, estimator)

    # the artifact takes prepared rows as stored: row id, part, label and all
    proba = model.predict_proba(splits["test"])[:, 1]
    assert proba.shape == (len(splits["test"]),)
    assert np.all((proba >= 0) & (proba <= 1))
    # the same as scoring the featurized rows with the bare estimator (up to float32 rounding:
    # featurize stores float32, the pipeline passes the transformer's float64 on)
    test = featurize(featurizer, splits["test"], schema)
    np.testing.assert_allclose(proba, estimator.predict_proba(test.drop(columns=[schema.target]))[:, 1], rtol=1e-5)
    # a label that depends on age is learned: positives score higher on average
    train_proba = model.predict_proba(splits["train"])[:, 1]
    positive = splits["train"][schema.target].to_numpy() == 1
    assert train_proba[positive].mean() > train_proba[~positive].mean()


def test_fit_is_deterministic_for_a_seed(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    x = train.drop(columns=[schema.target])
    cfg = SMALL_MODELS["random_forest"]
    first, again, other = (fit_model(train, schema.target, build_estimator(cfg, s)).predict_proba(x) for s in (5, 5, 6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_training_frame_is_not_changed(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    before = train.copy(deep=True)
    fit_model(train, schema.target, build_estimator(SMALL_MODELS["logistic_regression"], seed=0))
    pd.testing.assert_frame_equal(train, before)


def test_a_class_that_takes_no_random_state_is_built_without_one() -> None:
    estimator = build_estimator(model("sklearn.naive_bayes.GaussianNB", var_smoothing=1e-8), seed=3)
    assert estimator.get_params() == {"priors": None, "var_smoothing": 1e-8}


# ------------------------------------------------------------------ config errors, before any work
def test_an_unknown_argument_names_the_key_and_the_arguments_the_class_takes() -> None:
    message = config_error(model("sklearn.ensemble.RandomForestClassifier", n_estimatorz=10))
    assert message.startswith("params.yaml: model.n_estimatorz: not an argument of RandomForestClassifier")
    assert "n_estimators" in message


def test_a_value_the_estimator_rejects_names_the_key_and_the_value() -> None:
    message = config_error(model("sklearn.ensemble.RandomForestClassifier", max_depth="deep"))
    assert message.startswith("params.yaml: model.max_depth: must be an int")
    assert message.endswith("(got 'deep')")
    assert config_error(model("sklearn.linear_model.LogisticRegression", C=-1.0)).startswith("params.yaml: model.C: ")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("nowhere.Classifier", "cannot import nowhere"),
        ("sklearn.ensemble.NoSuchForest", "sklearn.ensemble has no NoSuchForest"),
        ("sklearn.ensemble", "not a class"),  # a module
        ("sklearn.base.is_classifier", "not a class"),
        ("sklearn.linear_model.LinearRegression", "not a scikit-learn classifier with predict_proba"),
        ("collections.OrderedDict", "not a scikit-learn classifier with predict_proba"),
    ],
)
def test_a_class_that_cannot_be_imported_or_is_no_classifier_names_model_estimator(path: str, expected: str) -> None:
    message = config_error(model(path))
    assert message.startswith(f"params.yaml: model.estimator: {expected}"), message
    assert message.endswith(f"(got {path!r})") or "predict_proba" in message


def test_a_classifier_without_predict_proba_with_these_arguments() -> None:
    assert "gives no predict_proba" in config_error(model("sklearn.svm.SVC"))
    assert hasattr(build_estimator(model("sklearn.svm.SVC", probability=True), seed=0), "predict_proba")


def test_random_state_is_the_top_level_seed() -> None:
    cfg = model("sklearn.ensemble.RandomForestClassifier", random_state=1)
    assert config_error(cfg).startswith("params.yaml: model.random_state: set by the top-level `seed`")


def test_an_estimator_path_that_is_no_dotted_name_is_a_type_error_at_load() -> None:
    with pytest.raises(ValueError, match="estimator"):
        model("RandomForestClassifier")
