"""The `model` config group as scikit-learn estimators, and the exported scoring pipeline."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.pipeline import Pipeline

from census_income.config import (
    HistGradientBoostingConfig,
    LogisticRegressionConfig,
    ModelConfig,
    RandomForestConfig,
)
from census_income.errors import ConfigError


def build_estimator(cfg: ModelConfig, seed: int, categorical: Sequence[str] = ()) -> ClassifierMixin:
    """An unfitted classifier for the configured model family (imported only when chosen).

    `categorical`: the feature columns that hold category codes, for models that split on
    categories themselves (gradient boosting with `native_categorical`).
    """
    if isinstance(cfg, LogisticRegressionConfig):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, class_weight=cfg.class_weight, random_state=seed)
    if isinstance(cfg, RandomForestConfig):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=cfg.n_estimators,
            max_depth=cfg.max_depth,
            min_samples_leaf=cfg.min_samples_leaf,
            max_features=cfg.max_features,
            n_jobs=cfg.n_jobs,
            random_state=seed,
        )
    if isinstance(cfg, HistGradientBoostingConfig):
        from sklearn.ensemble import HistGradientBoostingClassifier

        # only when asked: the default ("from_dtype") stays in the pickled model, so its bytes do not change
        native = {"categorical_features": list(categorical)} if cfg.native_categorical else {}
        return HistGradientBoostingClassifier(
            learning_rate=cfg.learning_rate,
            max_iter=cfg.max_iter,
            max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=cfg.min_samples_leaf,
            l2_regularization=cfg.l2_regularization,
            max_features=cfg.max_features,
            early_stopping=False,
            random_state=seed,
            **native,
        )
    raise TypeError(f"no estimator for {type(cfg).__name__}")


def fit_model(
    features: pd.DataFrame, label: str, cfg: ModelConfig, seed: int, categorical: Sequence[str] = ()
) -> ClassifierMixin:
    """Fit the configured classifier on featurized training rows.

    `categorical`: the schema's categorical columns; with ordinal codes the featurizer keeps
    their names, so a model that splits on categories finds them among the features.
    """
    inputs = features.drop(columns=[label])
    codes = [column for column in categorical if column in inputs.columns]
    if isinstance(cfg, HistGradientBoostingConfig) and cfg.native_categorical and not codes:
        raise ConfigError("model.native_categorical: needs category codes: set features.categorical_encoding: ordinal")
    estimator = build_estimator(cfg, seed, codes)
    estimator.fit(inputs, features[label].to_numpy())
    _forget_fitting_machine(estimator)
    return estimator


def _forget_fitting_machine(estimator: ClassifierMixin) -> None:
    """Make the pickled model the same bytes on any machine.

    Histogram gradient boosting keeps the fitting machine's OpenMP thread count in its bin
    mapper; it does not change any prediction, but it would make `dvc.lock` differ between
    a 2-core laptop and a 4-core CI runner. `None` means "decide when used".
    """
    bin_mapper = getattr(estimator, "_bin_mapper", None)
    if bin_mapper is not None:
        bin_mapper.n_threads = None


def scoring_pipeline(featurizer: Pipeline, estimator: ClassifierMixin) -> Pipeline:
    """One artifact that scores prepared rows end to end: preprocessing, then the model."""
    return Pipeline([("featurize", featurizer), ("model", estimator)])
