"""The gates' generic tolerances (`validation` in params.yaml, `conf/validation/`): how far data
may drift and how good a model must be. A data set's own bounds are in its contract."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from census_income.config import Strict


class DataValidation(Strict):
    """Generic data tolerances (the data set's own bounds are in its contract)."""

    max_duplicate_share: float = Field(ge=0, le=1)


class SplitValidation(Strict):
    label_rate_tolerance: float = Field(gt=0)
    quantiles: list[float] = Field(min_length=1)
    quantile_tolerance: float = Field(gt=0)


class MetricsValidation(Strict):
    min_roc_auc: float = Field(ge=0, le=1)
    max_error_rate: float = Field(ge=0, le=1)
    slice_metric: Literal["roc_auc", "average_precision", "accuracy", "error_rate", "f1", "log_loss", "brier"]
    max_slice_gap: float = Field(ge=0)
    min_slice_rows: int = Field(ge=1)


GateMode = Literal["fail", "warn"]
