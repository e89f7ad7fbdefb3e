"""The featurizer compiled to numpy (`serving.compiled`) scores exactly as the pipeline, or steps aside."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from census_income.modeling.config import FeaturesConfig, ModelConfig
from census_income.modeling.features import featurize, fit_featurizer
from census_income.modeling.models import build_estimator, fit_model, native_categorical, scoring_pipeline
from census_income.serving.compiled import compile_model, compiled_model
from census_income.serving.scoring import score
from tests.unit.conftest import SCHEMA, SMALL_MODELS

WORKCLASSES = ["Private", "State-gov", "Self-emp-inc", "Rare-one", "Rare-two"]
COUNTRIES = ["United-States", "Mexico", "Canada"]
HGB_ORDINAL = {
    "name": "hgb",
    "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
    "max_iter": 20,
    "max_leaf_nodes": 4,
    "min_samples_leaf": 2,
}
# every featurizer shape build_featurizer makes, with the model families that read it
SHAPES: dict[str, tuple[FeaturesConfig, ModelConfig]] = {
    "onehot+hgb": (FeaturesConfig(), SMALL_MODELS["hist_gradient_boosting"]),
    "onehot-infrequent+logistic": (FeaturesConfig(min_frequency=10), SMALL_MODELS["logistic_regression"]),
    "onehot-unscaled+random_forest": (FeaturesConfig(scale_numeric=False), SMALL_MODELS["random_forest"]),
    "onehot-infrequent+extra_trees": (FeaturesConfig(min_frequency=0.05), SMALL_MODELS["extra_trees"]),
    "ordinal+hgb": (
        FeaturesConfig(categorical_encoding="ordinal"),
        ModelConfig.model_validate({**HGB_ORDINAL, "encoding": "ordinal"}),
    ),
    "ordinal-native+hgb": (
        FeaturesConfig(categorical_encoding="ordinal", scale_numeric=False),
        ModelConfig.model_validate({**HGB_ORDINAL, "encoding": "native"}),
    ),
}


def rows(n: int, seed: int, train: bool = False) -> pd.DataFrame:
    """Prepared rows (category and nullable integer columns). Training rows: two rare
    workclasses, missing workclass but never a missing country; scoring rows add unseen and
    missing categories everywhere and numbers from zero to huge."""
    rng = np.random.default_rng(seed)
    workclass = rng.choice([*WORKCLASSES[:3], None], n, p=[0.5, 0.2, 0.2, 0.1]).astype(object)
    country = rng.choice(COUNTRIES, n).astype(object)
    age = rng.integers(17, 90, n).astype(object)
    gain = rng.choice([0, 0, 2174, 15024, 99999], n).astype(object)
    if train:
        workclass[:3], workclass[3] = "Rare-one", "Rare-two"
    else:
        workclass[::7] = "Never-worked"
        workclass[1::9] = "Rare-one"
        country[::5] = None
        country[2::11] = "Atlantis"
        age[::6] = None
        gain[::4] = None
        gain[3::13] = 10**15
        age[4::17] = 0
    frame = pd.DataFrame(
        {
            "workclass": pd.Categorical(workclass),
            "native_country": pd.Categorical(country),
            "age": pd.array(age, dtype="Int64"),
            "capital_gain": pd.array(gain, dtype="Int64"),
        }
    )
    frame["income"] = ((frame["age"].fillna(40) > 45) ^ (rng.random(n) < 0.2)).astype("int8")
    return frame


def fitted_pipeline(features: FeaturesConfig, cfg: ModelConfig) -> Pipeline:
    """What featurize and train make of the training rows: the exported scoring pipeline."""
    train = rows(300, seed=0, train=True)
    categorical = native_categorical(cfg, SCHEMA.categorical)
    estimator = build_estimator(cfg, 0, categorical, features.categorical_encoding)
    featurizer = fit_featurizer(train, features, SCHEMA)
    model = fit_model(featurize(featurizer, train, SCHEMA), SCHEMA.target, estimator, categorical)
    return scoring_pipeline(featurizer, model)


@pytest.fixture(scope="module", params=sorted(SHAPES))
def pipeline(request: pytest.FixtureRequest) -> Pipeline:
    return fitted_pipeline(*SHAPES[request.param])


@pytest.mark.filterwarnings("ignore:Found unknown categories")
def test_every_featurizer_shape_compiles_and_scores_to_the_bit(
    pipeline: Pipeline, request: pytest.FixtureRequest
) -> None:
    compiled = compile_model(pipeline)
    assert compiled is not None
    # native categories: the estimator's inner encoder checks names, so it is handed a named frame
    assert compiled.named == (request.node.callspec.params["pipeline"] == "ordinal-native+hgb")
    scoring = rows(400, seed=5)
    assert scoring[SCHEMA.features].isna().any().all(), "missing values in every feature"
    for part in (scoring, scoring.head(1), scoring.iloc[7:8], scoring.iloc[::-1]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing the pipeline would not say (feature names)
            proba = compiled.predict_proba(part)
        assert proba is not None
        assert proba.tobytes() == pipeline.predict_proba(part).tobytes()
    # text columns rather than categories
    as_text = scoring.astype({"workclass": "string", "native_country": "str"})
    assert compiled.predict_proba(as_text).tobytes() == pipeline.predict_proba(as_text).tobytes()  # type: ignore[union-attr]
    assert score(pipeline, scoring).tobytes() == pipeline.predict_proba(scoring)[:, 1].astype("float64").tobytes()


def test_a_call_it_cannot_reproduce_goes_to_the_pipeline_and_fails_as_it_fails() -> None:
    pipeline = fitted_pipeline(*SHAPES["onehot+hgb"])
    compiled = compiled_model(pipeline)
    assert compiled is not None and compiled_model(pipeline) is compiled  # once per model
    scoring = rows(20, seed=3)
    minus_one = scoring.assign(capital_gain=pd.array([-1] * 20, dtype="Int64"))  # log1p: -inf
    assert compiled.predict_proba(minus_one) is None
    with pytest.raises(ValueError, match="infinity"):
        pipeline.predict_proba(minus_one)
    with pytest.raises(ValueError, match="infinity"):
        score(pipeline, minus_one)
    no_age = scoring.drop(columns=["age"])
    assert compiled.predict_proba(no_age) is None
    with pytest.raises(ValueError, match="age"):
        score(pipeline, no_age)
    age_as_text = scoring.assign(age=scoring["age"].astype("string"))
    assert compiled.predict_proba(age_as_text) is None


class Custom(ClassifierMixin, BaseEstimator):
    """An estimator from outside scikit-learn: its input is its own business."""

    def fit(self, x: Any, y: Any) -> Custom:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        first = np.asarray(x, dtype="float64")[:, -1]
        return np.column_stack([1 - first / 10, first / 10])


Custom.__module__ = "elsewhere.models"


def test_anything_else_is_not_compiled_and_is_scored_by_the_pipeline() -> None:
    pipeline = fitted_pipeline(*SHAPES["onehot+hgb"])
    featurizer = pipeline.steps[0][1]
    custom = scoring_pipeline(featurizer, Custom().fit(None, None))
    scoring = rows(30, seed=4).dropna()
    assert compile_model(custom) is None
    assert score(custom, scoring).tobytes() == custom.predict_proba(scoring)[:, 1].tobytes()
    assert compile_model(pipeline.steps[1][1]) is None  # the estimator alone
    assert compile_model(Pipeline([("model", pipeline.steps[1][1])])) is None
    columns = featurizer.steps[1][1]
    columns.transformers_[2][1].steps[0] = ("other", MinMaxScaler())
    assert compile_model(pipeline) is None  # a numeric step it does not know
