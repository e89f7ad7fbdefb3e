"""Tiny inline data for unit tests: an Adult-shaped format and schema, a few dozen rows.

Configs are the typed models of `census_income.config`, exactly what stages pass below
their config edge; frames are built in code so every test states its own data.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from census_income.data.config import SplitConfig
from census_income.data.prepare import prepare
from census_income.data.spec import Bounds, CategoricalSpec, Contract, Label, NumericSpec, Schema, SourceFormat
from census_income.modeling.config import FeaturesConfig, ModelConfig
from tests.conftest import REPO_ROOT

FORMAT = SourceFormat(
    columns=["age", "workclass", "capital-gain", "native-country", "income"], comment="|", missing_marker="?"
)
SCHEMA = Schema(
    categorical=["workclass", "native_country"],
    numeric=["age", "capital_gain"],
    log_transform=["capital_gain"],
    label=Label(column="income", positive=">50K", strip_suffix="."),
)
WORKCLASSES = ["Private", "State-gov", "Self-emp-inc", "?"]
COUNTRIES = ["United-States", "Mexico", "Canada"]
# the data contract of that format: allowed values, ranges, row bounds
CONTRACT = Contract(
    rows=Bounds(min=20, max=10_000),
    label_rate=Bounds(min=0.3, max=0.8),
    label_values=["<=50K", ">50K", "<=50K.", ">50K."],
    categorical={
        "workclass": CategoricalSpec(values=["Private", "State-gov", "Self-emp-inc"], max_missing=0.4),
        "native_country": CategoricalSpec(values=["United-States", "Mexico", "Canada"]),
    },
    numeric={"age": NumericSpec(min=17, max=90), "capital_gain": NumericSpec(min=0, max=99999)},
    distribution=["age"],
)
# one small configuration per shipped model family (conf/model/): fits in milliseconds on a few dozen rows
SMALL_MODELS: dict[str, ModelConfig] = {
    "logistic_regression": ModelConfig(
        name="logistic_regression", estimator="sklearn.linear_model.LogisticRegression", encoding="onehot", max_iter=200
    ),
    "random_forest": ModelConfig(
        name="random_forest",
        estimator="sklearn.ensemble.RandomForestClassifier",
        encoding="onehot",
        n_estimators=10,
        max_depth=3,
        n_jobs=1,
    ),
    "extra_trees": ModelConfig(
        name="extra_trees",
        estimator="sklearn.ensemble.ExtraTreesClassifier",
        encoding="onehot",
        n_estimators=10,
        max_depth=3,
        n_jobs=1,
    ),
    "hist_gradient_boosting": ModelConfig(
        name="hist_gradient_boosting",
        estimator="sklearn.ensemble.HistGradientBoostingClassifier",
        encoding="onehot",
        max_iter=10,
        max_leaf_nodes=4,
        min_samples_leaf=2,
    ),
    "lightgbm": ModelConfig(
        name="lightgbm",
        estimator="lightgbm.LGBMClassifier",
        encoding="onehot",
        n_estimators=10,
        num_leaves=4,
        min_child_samples=2,
        n_jobs=1,
    ),
}


def needs_estimator(cfg: ModelConfig) -> None:
    """Skip, with the reason, a test of a family whose optional extra is not installed (LightGBM)."""
    module = cfg.estimator.split(".")[0]
    pytest.importorskip(module, reason=f"{cfg.estimator} needs the optional extra: uv sync --extra {module}")


def raw_part(rows: int, seed: int, label_suffix: str = "") -> pd.DataFrame:
    """Text as ingest delivers it: leading spaces, `?` for missing, label suffix on test.

    The label depends on age, so a model has something to learn; both classes occur.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 90, rows)
    positive = (age > 45) ^ (rng.random(rows) < 0.1)
    positive[:2] = [True, False]
    return pd.DataFrame(
        {
            "age": [str(a) for a in age],
            "workclass": [f" {w}" for w in rng.choice(WORKCLASSES, rows)],
            "capital-gain": [str(g) for g in rng.choice([0, 0, 0, 2174, 15024], rows)],
            "native-country": [f" {c}" for c in rng.choice(COUNTRIES, rows)],
            "income": [f" {'>50K' if p else '<=50K'}{label_suffix}" for p in positive],
        },
        dtype="string",
    )


@pytest.fixture(autouse=True, scope="session")
def one_openmp_thread() -> Iterator[None]:
    """Tiny fits gain nothing from threads, and idle OpenMP workers spinning on a shared
    2-core machine made one 60-row gradient boosting fit take seconds instead of 0.1 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture
def fmt() -> SourceFormat:
    return FORMAT


@pytest.fixture
def schema() -> Schema:
    return SCHEMA


@pytest.fixture
def raw_parts() -> dict[str, pd.DataFrame]:
    """The two delivered parts of a tiny data set (test labels end in `.`, as in Adult)."""
    return {"train": raw_part(80, seed=1), "test": raw_part(40, seed=2, label_suffix=".")}


@pytest.fixture
def prepared(raw_parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return prepare(raw_parts, FORMAT, SCHEMA)


@pytest.fixture
def splits(prepared: pd.DataFrame) -> dict[str, pd.DataFrame]:
    from census_income.data.split import split

    return split(prepared, SplitConfig(method="official", validation_size=0.25), SCHEMA.target, seed=0)


@pytest.fixture
def features_cfg() -> FeaturesConfig:
    return FeaturesConfig(categorical_encoding="onehot", scale_numeric=True)


def load_benchmark(name: str) -> ModuleType:
    """A script of `benchmarks/` as a module, for testing its pure parts (they are not a package)."""
    if str(REPO_ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # the scripts import `common` from their folder
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module
