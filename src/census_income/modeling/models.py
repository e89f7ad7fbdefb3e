"""The `model` config group as a scikit-learn estimator, and the exported scoring pipeline.

A family is a config file (`conf/model/<name>.yaml`): the estimator class by import path and
its arguments. Everything is checked against the estimator itself before any data is read.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sklearn.base import ClassifierMixin, is_classifier
from sklearn.pipeline import Pipeline

from census_income.errors import ConfigError
from census_income.modeling.config import CategoricalEncoding, ModelConfig
from census_income.paths import PARAMS_FILE

# what `model.encoding` needs from featurize
FEATURES_ENCODING: dict[str, CategoricalEncoding] = {"onehot": "onehot", "ordinal": "ordinal", "native": "ordinal"}
# how an estimator is told which columns are categories (`encoding: native`): scikit-learn's
# histogram gradient boosting takes them as an argument, LightGBM as an argument of `fit`
CATEGORICAL_ARGUMENT = "categorical_features"
CATEGORICAL_FIT_ARGUMENT = "categorical_feature"
_PARAMETER = re.compile(r"The '(\w+)' parameter of \w+ (.*)")


def _error(key: str, message: str) -> ConfigError:
    return ConfigError(f"{PARAMS_FILE}: model.{key}: {message}")


def estimator_class(cfg: ModelConfig) -> type[Any]:
    """The class `model.estimator` names, imported (a bad path is a config error naming the key)."""
    module_name, _, class_name = cfg.estimator.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise _error("estimator", f"cannot import {module_name} ({exc.msg}) (got {cfg.estimator!r})") from None
    except AttributeError:
        raise _error("estimator", f"{module_name} has no {class_name} (got {cfg.estimator!r})") from None
    if not inspect.isclass(found):
        raise _error("estimator", f"not a class (got {cfg.estimator!r})")
    return found


def native_categorical(cfg: ModelConfig, categorical: Sequence[str]) -> list[str]:
    """The columns the estimator splits as categories: the schema's categorical ones with
    `model.encoding: native` (ordinal codes keep the column names), none otherwise."""
    return list(categorical) if cfg.encoding == "native" else []


def build_estimator(
    cfg: ModelConfig, seed: int, categorical: Sequence[str] = (), features_encoding: CategoricalEncoding | None = None
) -> ClassifierMixin:
    """An unfitted classifier as configured, checked before any work.

    Unknown arguments (against the estimator's `get_params()`), values its own parameter
    constraints reject, a class that is no classifier with `predict_proba`, and an encoding
    that featurize does not produce are `ConfigError`s naming the key. `seed` becomes the
    `random_state` of any estimator that has one. `categorical`: `native_categorical`'s
    columns, for an estimator that takes them as an argument.
    """
    if features_encoding is not None and FEATURES_ENCODING[cfg.encoding] != features_encoding:
        raise _error(
            "encoding",
            f"{cfg.encoding} needs features.categorical_encoding: {FEATURES_ENCODING[cfg.encoding]} "
            f"(got {features_encoding!r})",
        )
    cls = estimator_class(cfg)
    try:
        estimator = cls()
    except TypeError as exc:
        raise _error("estimator", f"cannot be built without arguments ({exc}) (got {cfg.estimator!r})") from None
    if not (hasattr(estimator, "__sklearn_tags__") and is_classifier(estimator) and hasattr(cls, "predict_proba")):
        raise _error("estimator", f"not a scikit-learn classifier with predict_proba (got {cfg.estimator!r})")
    names = set(estimator.get_params(deep=False))
    arguments = cfg.arguments
    for key in arguments:
        if key not in names:
            raise _error(key, f"not an argument of {cls.__name__} (it takes: {', '.join(sorted(names))})")
    if "random_state" in arguments:
        raise _error("random_state", "set by the top-level `seed`, not per model")
    if "random_state" in names:
        arguments["random_state"] = seed
    if cfg.encoding == "native":
        if CATEGORICAL_ARGUMENT in names:
            arguments[CATEGORICAL_ARGUMENT] = list(categorical)
        elif CATEGORICAL_FIT_ARGUMENT not in inspect.signature(cls.fit).parameters:
            raise _error("encoding", f"native: {cls.__name__} takes no categorical columns (use onehot or ordinal)")
    estimator.set_params(**arguments)
    _check_values(estimator, cfg)
    if not hasattr(estimator, "predict_proba"):  # e.g. SVC without probability=True
        raise _error("estimator", f"{cls.__name__} gives no predict_proba with these arguments")
    return estimator


def _check_values(estimator: Any, cfg: ModelConfig) -> None:
    """The estimator's own parameter constraints, now rather than at fit (scikit-learn checks there)."""
    if not hasattr(type(estimator), "_parameter_constraints"):
        return  # not a scikit-learn estimator (LightGBM): its values are checked when it fits
    try:
        estimator._validate_params()
    except ValueError as exc:  # scikit-learn's InvalidParameterError
        found = _PARAMETER.match(str(exc))
        if found is None:
            raise _error("estimator", str(exc)) from None
        key, message = found.groups()
        got = cfg.arguments.get(key, "")
        raise _error(key, f"{message.split(' Got ')[0].rstrip('.')} (got {got!r})") from None


def fit_model(
    features: pd.DataFrame, label: str, estimator: ClassifierMixin, categorical: Sequence[str] = ()
) -> ClassifierMixin:
    """Fit a built estimator on featurized training rows (in place; the frame is not changed).

    `categorical`: `native_categorical`'s columns; an estimator that did not take them as an
    argument (LightGBM) gets them as an argument of `fit`.
    """
    inputs = features.drop(columns=[label])
    native = bool(categorical) and CATEGORICAL_ARGUMENT not in estimator.get_params(deep=False)
    extra = {CATEGORICAL_FIT_ARGUMENT: list(categorical)} if native else {}
    estimator.fit(inputs, features[label].to_numpy(), **extra)
    _forget_fitting_machine(estimator)
    return estimator


def _forget_fitting_machine(estimator: ClassifierMixin) -> None:
    """Make the pickled model the same bytes on any machine.

    A fitted part may keep the fitting machine's OpenMP thread count (histogram gradient
    boosting's bin mapper does); it changes no prediction, but it would make `dvc.lock`
    differ between a 2-core laptop and a 4-core CI runner. Such a count (`n_threads` on any
    fitted part) becomes `None`, "decide when used"; a thread count given as an argument
    (`n_jobs`) is configuration and stays.
    """
    arguments = estimator.get_params(deep=False)
    for key, part in vars(estimator).items():
        if key not in arguments and "n_threads" in getattr(part, "__dict__", {}):
            part.n_threads = None


def scoring_pipeline(featurizer: Pipeline, estimator: ClassifierMixin) -> Pipeline:
    """One artifact that scores prepared rows end to end: preprocessing, then the model."""
    return Pipeline([("featurize", featurizer), ("model", estimator)])
