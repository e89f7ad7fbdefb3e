"""The suites at the model's boundaries: its features, its scores, and the quality bar on its
metrics (overall and per slice). Thresholds come from `validation.metrics`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from census_income.contracts import expectation_classes
from census_income.contracts.validation import MetricsValidation
from census_income.data.spec import Schema

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation


def features_suite(columns: list[str], rows: int, schema: Schema) -> list[Expectation]:
    """Model features: the columns fitted on train, one row per input row, imputed numeric
    columns without missing values, a binary label. (Encoded categorical columns cannot
    be missing by construction; checking each of them would multiply the gate's cost.)"""
    gxe = expectation_classes()
    label = schema.target
    expectations = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=columns),
        gxe.ExpectTableRowCountToBeBetween(min_value=rows, max_value=rows),
        gxe.ExpectColumnValuesToBeInSet(column=label, value_set=[0, 1]),
    ]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in schema.numeric if c in columns]
    return expectations


def predictions_suite(rows: int) -> list[Expectation]:
    """Scores: one per input row, probabilities in [0, 1], none missing."""
    gxe = expectation_classes()
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=rows, max_value=rows),
        gxe.ExpectColumnValuesToNotBeNull(column="score"),
        gxe.ExpectColumnValuesToBeBetween(column="score", min_value=0.0, max_value=1.0),
    ]


def metrics_suite(rules: MetricsValidation) -> list[Expectation]:
    """The model-quality gate on the test split's metrics (one row)."""
    gxe = expectation_classes()
    return [
        gxe.ExpectColumnValuesToBeBetween(column="roc_auc", min_value=rules.min_roc_auc, max_value=1.0),
        gxe.ExpectColumnValuesToBeBetween(column="error_rate", min_value=0.0, max_value=rules.max_error_rate),
    ]


def slice_gap_suite(rules: MetricsValidation) -> list[Expectation]:
    """No large-enough slice's metric is further than `max_slice_gap` from the overall one."""
    gxe = expectation_classes()
    return [gxe.ExpectColumnValuesToBeBetween(column="gap", min_value=0.0, max_value=rules.max_slice_gap)]


def slice_gaps(
    slices: Mapping[str, Mapping[str, Mapping[str, float | None]]],
    overall: Mapping[str, float | None],
    rules: MetricsValidation,
) -> pd.DataFrame:
    """One row per slice with at least `min_slice_rows` rows and a defined metric (an AUC is
    undefined on a one-class slice): `slice`, `rows`, `gap`."""
    whole = overall.get(rules.slice_metric)
    rows = []
    for column, by_value in slices.items():
        for value, values in by_value.items():
            metric, count = values.get(rules.slice_metric), values.get("rows") or 0
            if count >= rules.min_slice_rows and metric is not None and whole is not None:
                rows.append({"slice": f"{column}={value}", "rows": int(count), "gap": round(abs(metric - whole), 6)})
    return pd.DataFrame(rows, columns=["slice", "rows", "gap"])
