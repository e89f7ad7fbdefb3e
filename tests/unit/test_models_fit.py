"""models: each model family builds and fits; the exported pipeline scores prepared rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from census_income.config import MODEL_NAMES, FeaturesConfig, ModelConfig, RandomForestConfig, Schema
from census_income.features import featurize, fit_featurizer
from census_income.models import build_estimator, fit_model, scoring_pipeline
from tests.unit.conftest import SMALL_MODELS


def test_every_model_family_is_covered() -> None:
    assert set(SMALL_MODELS) == set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_builds_from_the_config_with_its_parameters_and_seed(name: str) -> None:
    estimator = build_estimator(SMALL_MODELS[name], seed=11)
    params = estimator.get_params()
    assert params["random_state"] == 11
    expected = {"logistic_regression": ("C", 1.0), "random_forest": ("n_estimators", 10)}
    expected["hist_gradient_boosting"] = ("max_iter", 10)
    key, value = expected[name]
    assert params[key] == value


def test_the_discriminated_union_picks_the_family() -> None:
    adapter: TypeAdapter[ModelConfig] = TypeAdapter(ModelConfig)
    cfg = adapter.validate_python({"name": "random_forest", "n_estimators": 5})
    assert isinstance(cfg, RandomForestConfig)
    assert type(build_estimator(cfg, seed=0)).__name__ == "RandomForestClassifier"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fits_and_scores_prepared_rows(
    name: str, splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    estimator = fit_model(train, schema.target, SMALL_MODELS[name], seed=0)
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
    cfg = SMALL_MODELS["random_forest"]
    first = fit_model(train, schema.target, cfg, seed=5).predict_proba(train.drop(columns=[schema.target]))
    again = fit_model(train, schema.target, cfg, seed=5).predict_proba(train.drop(columns=[schema.target]))
    np.testing.assert_array_equal(first, again)


def test_training_frame_is_not_changed(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    before = train.copy(deep=True)
    fit_model(train, schema.target, SMALL_MODELS["logistic_regression"], seed=0)
    pd.testing.assert_frame_equal(train, before)


def test_model_bytes_do_not_depend_on_the_thread_count() -> None:
    """dvc.lock must not change between machines with different core counts."""
    import pickle

    from threadpoolctl import threadpool_limits

    from census_income.config import HistGradientBoostingConfig
    from census_income.models import fit_model

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": (rng.normal(size=200) > 0).astype(int)})
    cfg = HistGradientBoostingConfig(name="hist_gradient_boosting", max_iter=5)
    dumps = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            dumps.append(pickle.dumps(fit_model(frame, "y", cfg, seed=0)))
    assert dumps[0] == dumps[1]
