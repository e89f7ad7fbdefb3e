"""What the model stages read (featurize, train, evaluate): the preprocessing, the model family
and the evaluation settings, and each stage's config (the `params.yaml` keys it declares)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from census_income.config import StageConfig, Strict
from census_income.contracts.validation import GateMode, MetricsValidation, SplitValidation
from census_income.data.spec import Contract, Schema
from census_income.engines import PANDAS_ENGINE, EngineConfig

# ------------------------------------------------------------------ features
CategoricalEncoding = Literal["onehot", "ordinal"]


class FeaturesConfig(Strict):
    """Preprocessing fitted on train only."""

    categorical_encoding: CategoricalEncoding = "onehot"
    min_frequency: float | int | None = None
    scale_numeric: bool = True

    @field_validator("min_frequency")
    @classmethod
    def _a_count_or_a_share(cls, value: float | None) -> float | None:
        """What OneHotEncoder takes, checked before any work (it failed the fit with a traceback)."""
        if (isinstance(value, int) and value < 1) or (isinstance(value, float) and not 0.0 <= value <= 1.0):
            raise ValueError(f"{value}: a count of at least 1 or a share between 0.0 and 1.0")
        return value


# --------------------------------------------------------------------- model
class ModelConfig(BaseModel):
    """A model family as `conf/model/<name>.yaml` gives it: the estimator class by import path,
    the category encoding it wants, and every other key an argument of that class.

    The arguments are checked against the estimator itself (`models.build_estimator`: its
    `get_params()` names and its own parameter constraints), not copied into a class here.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)  # the preset's name, shown by `dvc exp show` and sweeps
    estimator: str = Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")  # e.g. sklearn.ensemble.ExtraTreesClassifier
    # what the estimator is fed: one-hot columns, ordinal codes split as numbers, or ordinal
    # codes the estimator splits as categories (`native`); must match features.categorical_encoding
    encoding: Literal["onehot", "ordinal", "native"]

    @property
    def arguments(self) -> dict[str, Any]:
        """The estimator's keyword arguments: every key but `name`, `estimator` and `encoding`."""
        return dict(self.model_extra or {})


# ------------------------------------------------------------------ evaluate
class EvaluateConfig(Strict):
    """Decision threshold, importance settings and plot sizes for evaluate."""

    threshold: float = Field(0.5, gt=0, lt=1)
    calibration_bins: int = Field(10, gt=1)
    importance_repeats: int = Field(3, gt=0)
    importance_max_rows: int = Field(5000, gt=0)
    curve_max_points: int = Field(1000, gt=1)


# ------------------------------------------------------ what each stage reads
class FeaturizeConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "features": "features",
        "chunk_rows": "chunk_rows",
        "schema": "data.schema",
        "contract": "data.contract",
        "split_rules": "validation.split",
        "mode": "validation.mode",
        "engine": "engine",
    }

    features: FeaturesConfig
    chunk_rows: int = Field(gt=0)
    schema_: Schema = Field(alias="schema")
    contract: Contract
    split_rules: SplitValidation
    mode: GateMode
    engine: EngineConfig = PANDAS_ENGINE


class TrainConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "model": "model",
        "features_encoding": "features.categorical_encoding",
        "schema": "data.schema",
        "seed": "seed",
        "mode": "validation.mode",
    }

    model: ModelConfig
    features_encoding: CategoricalEncoding
    schema_: Schema = Field(alias="schema")
    seed: int
    mode: GateMode


class EvaluateStageConfig(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {
        "evaluate": "evaluate",
        "chunk_rows": "chunk_rows",
        "schema": "data.schema",
        "slices": "data.slices",
        "seed": "seed",
        "contract": "data.contract",
        "split_rules": "validation.split",
        "rules": "validation.metrics",
        "mode": "validation.mode",
    }

    evaluate: EvaluateConfig
    chunk_rows: int = Field(gt=0)
    schema_: Schema = Field(alias="schema")
    slices: list[str]
    seed: int
    contract: Contract
    split_rules: SplitValidation
    rules: MetricsValidation
    mode: GateMode
