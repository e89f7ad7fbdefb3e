"""Gradient boosting on category codes: native categorical splits, feature subsampling, defaults kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from census_income.config import FeaturesConfig, HistGradientBoostingConfig
from census_income.errors import ConfigError
from census_income.features import featurize, fit_featurizer
from census_income.models import build_estimator, fit_model, scoring_pipeline
from tests.unit.conftest import SCHEMA

ORDINAL = FeaturesConfig(categorical_encoding="ordinal", scale_numeric=True, log_transform=["capital_gain"])
ONEHOT = FeaturesConfig(categorical_encoding="onehot", scale_numeric=True, log_transform=["capital_gain"])
# one tree with one split: enough only if the split can group categories
STUMP = {"name": "hist_gradient_boosting", "learning_rate": 1.0, "max_iter": 1, "max_leaf_nodes": 2}


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


def fitted(cfg: HistGradientBoostingConfig, features: FeaturesConfig, frame: pd.DataFrame) -> tuple[Pipeline, Any]:
    featurizer = fit_featurizer(frame, features, SCHEMA)
    train = featurize(featurizer, frame, SCHEMA)
    return featurizer, fit_model(train, SCHEMA.target, cfg, seed=0, categorical=SCHEMA.categorical)


def test_native_categorical_splits_on_categories_of_the_ordinal_codes() -> None:
    frame = by_workclass()
    y = frame[SCHEMA.target].to_numpy()
    native = HistGradientBoostingConfig.model_validate({**STUMP, "native_categorical": True, "min_samples_leaf": 1})
    featurizer, estimator = fitted(native, ORDINAL, frame)
    model = scoring_pipeline(featurizer, estimator)
    assert list(estimator.is_categorical_) == [True, True, False, False]
    assert np.array_equal(model.predict(frame), y)

    codes = HistGradientBoostingConfig.model_validate({**STUMP, "min_samples_leaf": 1})
    featurizer, estimator = fitted(codes, ORDINAL, frame)
    assert not np.array_equal(scoring_pipeline(featurizer, estimator).predict(frame), y)


def test_native_categorical_scores_unseen_and_missing_categories() -> None:
    frame = by_workclass()
    native = HistGradientBoostingConfig.model_validate({**STUMP, "native_categorical": True, "min_samples_leaf": 1})
    featurizer, estimator = fitted(native, ORDINAL, frame)
    new = frame.head(3).copy()
    new["workclass"] = pd.array(["Never-worked", None, "Private"], dtype="string")
    proba = scoring_pipeline(featurizer, estimator).predict_proba(new)[:, 1]
    assert proba.shape == (3,)
    assert np.all((proba >= 0) & (proba <= 1))


def test_native_categorical_without_category_codes_names_the_keys() -> None:
    native = HistGradientBoostingConfig.model_validate({**STUMP, "native_categorical": True})
    with pytest.raises(ConfigError, match=r"model\.native_categorical: .*features\.categorical_encoding: ordinal"):
        fitted(native, ONEHOT, by_workclass())


def test_feature_subsampling_is_passed_and_seeded() -> None:
    frame = by_workclass(rows=200)
    cfg = HistGradientBoostingConfig(name="hist_gradient_boosting", max_iter=20, max_features=0.5)
    assert build_estimator(cfg, seed=3).get_params()["max_features"] == 0.5
    featurizer = fit_featurizer(frame, ORDINAL, SCHEMA)
    train = featurize(featurizer, frame, SCHEMA)
    x = train.drop(columns=[SCHEMA.target])
    first, again, other = (fit_model(train, SCHEMA.target, cfg, seed=s).predict_proba(x) for s in (3, 3, 4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_defaults_leave_the_estimator_as_before() -> None:
    """New options off: the estimator's parameters, hence the default model's bytes, are unchanged."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    cfg = HistGradientBoostingConfig(name="hist_gradient_boosting")
    before = HistGradientBoostingClassifier(
        learning_rate=cfg.learning_rate,
        max_iter=cfg.max_iter,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf,
        l2_regularization=cfg.l2_regularization,
        early_stopping=False,
        random_state=0,
    )
    assert build_estimator(cfg, seed=0, categorical=SCHEMA.categorical).get_params() == before.get_params()
