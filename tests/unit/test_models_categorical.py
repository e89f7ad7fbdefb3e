"""Category codes: native categorical splits (scikit-learn and LightGBM), encodings checked, subsampling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from census_income.errors import ConfigError
from census_income.modeling.config import FeaturesConfig, ModelConfig
from census_income.modeling.features import featurize, fit_featurizer
from census_income.modeling.models import build_estimator, fit_model, native_categorical, scoring_pipeline
from tests.unit.conftest import SCHEMA, needs_estimator

ORDINAL = FeaturesConfig(categorical_encoding="ordinal", scale_numeric=True)
ONEHOT = FeaturesConfig(categorical_encoding="onehot", scale_numeric=True)
# one tree with one split: enough only if the split can group categories
HGB = {"name": "hgb", "estimator": "sklearn.ensemble.HistGradientBoostingClassifier"}
STUMP = {**HGB, "encoding": "ordinal", "learning_rate": 1.0, "max_iter": 1, "max_leaf_nodes": 2}


def by_workclass(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Prepared rows whose label is `workclass in {Private, State-gov}`: codes 0 and 2 of 0, 1, 2.

    No single threshold on the codes separates them; one split on categories does.
    """
    rng = np.random.default_rng(seed)
    workclass = rng.choice(["Private", "Self-emp-inc", "State-gov"], rows)
    return pd.DataFrame(
        {
            "workclass": pd.array(workclass, dtype="string"),
            "native_country": pd.array(rng.choice(["United-States", "Mexico"], rows), dtype="string"),
            "age": pd.array(rng.integers(17, 90, rows), dtype="Int64"),
            "capital_gain": pd.array(rng.choice([0, 2174], rows), dtype="Int64"),
            "income": np.isin(workclass, ["Private", "State-gov"]).astype("int8"),
        }
    )


def fitted(cfg: ModelConfig, features: FeaturesConfig, frame: pd.DataFrame) -> tuple[Pipeline, Any]:
    """What train does: build (checked against featurize's encoding), then fit."""
    categorical = native_categorical(cfg, SCHEMA.categorical)
    estimator = build_estimator(cfg, 0, categorical, features.categorical_encoding)
    featurizer = fit_featurizer(frame, features, SCHEMA)
    train = featurize(featurizer, frame, SCHEMA)
    return featurizer, fit_model(train, SCHEMA.target, estimator, categorical)


def test_native_categorical_splits_on_categories_of_the_ordinal_codes() -> None:
    frame = by_workclass()
    y = frame[SCHEMA.target].to_numpy()
    native = ModelConfig.model_validate({**STUMP, "encoding": "native", "min_samples_leaf": 1})
    featurizer, estimator = fitted(native, ORDINAL, frame)
    model = scoring_pipeline(featurizer, estimator)
    assert list(estimator.is_categorical_) == [True, True, False, False]
    assert np.array_equal(model.predict(frame), y)

    codes = ModelConfig.model_validate({**STUMP, "min_samples_leaf": 1})
    featurizer, estimator = fitted(codes, ORDINAL, frame)
    assert not np.array_equal(scoring_pipeline(featurizer, estimator).predict(frame), y)


def test_native_categorical_scores_unseen_and_missing_categories() -> None:
    frame = by_workclass()
    native = ModelConfig.model_validate({**STUMP, "encoding": "native", "min_samples_leaf": 1})
    featurizer, estimator = fitted(native, ORDINAL, frame)
    new = frame.head(3).copy()
    new["workclass"] = pd.array(["Never-worked", None, "Private"], dtype="string")
    proba = scoring_pipeline(featurizer, estimator).predict_proba(new)[:, 1]
    assert proba.shape == (3,)
    assert np.all((proba >= 0) & (proba <= 1))


@pytest.mark.parametrize(
    ("encoding", "features", "needs"),
    [("native", ONEHOT, "ordinal"), ("ordinal", ONEHOT, "ordinal"), ("onehot", ORDINAL, "onehot")],
)
def test_an_encoding_featurize_does_not_produce_names_both_keys(
    encoding: str, features: FeaturesConfig, needs: str
) -> None:
    """No silent fallback: the model's encoding and featurize's must agree, before any fit."""
    cfg = ModelConfig.model_validate({**STUMP, "encoding": encoding})
    expected = rf"^params\.yaml: model\.encoding: {encoding} needs features\.categorical_encoding: {needs} \(got '"
    with pytest.raises(ConfigError, match=expected):
        build_estimator(cfg, 0, SCHEMA.categorical, features.categorical_encoding)


def test_native_on_a_family_that_takes_no_categories_is_a_config_error() -> None:
    cfg = ModelConfig(name="et", estimator="sklearn.ensemble.ExtraTreesClassifier", encoding="native")
    with pytest.raises(ConfigError, match=r"^params\.yaml: model\.encoding: native: ExtraTreesClassifier takes no"):
        build_estimator(cfg, 0, SCHEMA.categorical, "ordinal")


def test_lightgbm_native_gets_the_category_columns_at_fit() -> None:
    cfg = ModelConfig.model_validate(
        {"name": "lgbm", "estimator": "lightgbm.LGBMClassifier", "encoding": "native", "n_estimators": 5, "n_jobs": 1}
    )
    needs_estimator(cfg)
    frame = by_workclass(rows=400)
    featurizer, estimator = fitted(cfg, ORDINAL, frame)
    assert "categorical_feature" not in estimator.get_params()  # given to fit, not kept as an argument
    assert "[categorical_feature: 0,1]" in estimator.booster_.model_to_string()  # workclass, native_country
    proba = scoring_pipeline(featurizer, estimator).predict_proba(frame)[:, 1]
    assert np.all((proba >= 0) & (proba <= 1))


def test_feature_subsampling_is_passed_and_seeded() -> None:
    frame = by_workclass(rows=200)
    cfg = ModelConfig.model_validate({**HGB, "encoding": "ordinal", "max_iter": 20, "max_features": 0.5})
    assert build_estimator(cfg, seed=3).get_params()["max_features"] == 0.5
    featurizer = fit_featurizer(frame, ORDINAL, SCHEMA)
    train = featurize(featurizer, frame, SCHEMA)
    x = train.drop(columns=[SCHEMA.target])
    first, again, other = (fit_model(train, SCHEMA.target, build_estimator(cfg, s)).predict_proba(x) for s in (3, 3, 4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_without_native_the_default_categorical_features_stays() -> None:
    """Only `encoding: native` sets `categorical_features`: the default stays in the pickled model."""
    cfg = ModelConfig.model_validate({**HGB, "encoding": "ordinal"})
    assert build_estimator(cfg, 0, SCHEMA.categorical).get_params()["categorical_features"] == "from_dtype"
