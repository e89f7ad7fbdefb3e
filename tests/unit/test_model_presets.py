"""Every shipped model preset (conf/model/, conf/experiment/): valid, unchanged, and byte-stable."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from census_income.compose import compose_params
from census_income.data.spec import Schema
from census_income.modeling.config import FeaturesConfig, ModelConfig, TrainConfig
from census_income.modeling.features import featurize, fit_featurizer
from census_income.modeling.models import build_estimator, fit_model, native_categorical
from tests.conftest import REPO_ROOT
from tests.unit.conftest import needs_estimator

CONF = REPO_ROOT / "conf"
PRESETS = [f"model={path.stem}" for path in sorted((CONF / "model").glob("*.yaml"))] + [
    f"+experiment={path.stem}" for path in sorted((CONF / "experiment").glob("*.yaml"))
]


def preset(tmp_path: Path, override: str) -> TrainConfig:
    """What train reads after `dvc exp run -S <override>`."""
    out = tmp_path / "params.yaml"
    compose_params(out, CONF, [override])
    cfg = TrainConfig.load(out)
    needs_estimator(cfg.model)
    return cfg


@pytest.mark.parametrize("override", PRESETS)
def test_every_preset_builds_its_estimator(tmp_path: Path, override: str) -> None:
    cfg = preset(tmp_path, override)
    categorical = native_categorical(cfg.model, cfg.schema_.categorical)
    estimator = build_estimator(cfg.model, cfg.seed, categorical, cfg.features_encoding)
    assert estimator.get_params()["random_state"] == cfg.seed


# The estimators the three original presets built when each family was a hand-written branch
# of `build_estimator`: a preset file must build exactly these (same defaults, same model bytes).
BEFORE: dict[str, tuple[str, dict[str, Any]]] = {
    "logistic_regression": (
        "sklearn.linear_model.LogisticRegression",
        {"C": 1.0, "max_iter": 1000, "class_weight": None},
    ),
    "random_forest": (
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 300, "max_depth": None, "min_samples_leaf": 2, "max_features": "sqrt", "n_jobs": 2},
    ),
    "hist_gradient_boosting": (
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {
            "learning_rate": 0.05,
            "max_iter": 300,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
            "max_features": 1.0,
            "early_stopping": False,
        },
    ),
}


@pytest.mark.parametrize("name", BEFORE)
def test_the_original_presets_build_what_they_built_before(tmp_path: Path, name: str) -> None:
    import importlib

    cfg = preset(tmp_path, f"model={name}")
    path, arguments = BEFORE[name]
    module, _, class_name = path.rpartition(".")
    before = getattr(importlib.import_module(module), class_name)(**arguments, random_state=cfg.seed)
    built = build_estimator(cfg.model, cfg.seed, (), cfg.features_encoding)
    assert type(built) is type(before)
    assert pickle.dumps(built) == pickle.dumps(before)


def fit_bytes(model: ModelConfig, seed: int, train: pd.DataFrame, schema: Schema, threads: int) -> bytes:
    categorical = native_categorical(model, schema.categorical)
    with threadpool_limits(limits=threads, user_api="openmp"):
        return pickle.dumps(fit_model(train, schema.target, build_estimator(model, seed, categorical), categorical))


@pytest.mark.parametrize("override", PRESETS)
def test_every_preset_pickles_to_the_same_bytes_on_any_thread_count(
    tmp_path: Path, override: str, splits: dict[str, pd.DataFrame], schema: Schema
) -> None:
    """dvc.lock must not change between runs, nor between a 2-core laptop and a 4-core CI runner."""
    cfg = preset(tmp_path, override)
    features = FeaturesConfig(categorical_encoding=cfg.features_encoding)
    featurizer = fit_featurizer(splits["train"], features, schema)
    train = featurize(featurizer, splits["train"], schema)
    first, again, two_threads = (fit_bytes(cfg.model, cfg.seed, train, schema, threads) for threads in (1, 1, 2))
    assert first == again, "two fits on one thread differ"
    assert first == two_threads, "the fit on two threads differs from the fit on one"
