"""The data's expectation suites, one function per boundary (raw, typed, prepared, rows to
score), built from configuration.

Nothing here is specific to one data set: column names, allowed values and ranges
come from the data set's `contract`, thresholds from `validation`. The split's suite
is in `profile`, the model's in `model_suites`; `on_spark` translates any of them for a
Spark frame.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

from census_income.config import to_snake_case
from census_income.contracts import expectation_classes
from census_income.contracts.validation import DataValidation
from census_income.data.prepare import PART, ROW_ID
from census_income.data.spec import Contract, Schema, SourceFormat

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation

INTEGER_TEXT = r"^-?\d+$"
DECIMAL_TEXT = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"
DECIMAL_COMMA_TEXT = DECIMAL_TEXT.replace(r"\.", ",")  # `format.decimal: ","`


def stored_as_integers(raw: pd.DataFrame, fmt: SourceFormat, schema: Schema) -> frozenset[str]:
    """Raw numeric columns a typed source (Parquet) already stores as numbers: integers, or
    floats for a decimal column (their values are then checked as numbers, not as text)."""
    by_snake = {to_snake_case(c): c for c in fmt.columns}
    return frozenset(
        by_snake[name]
        for name in schema.numeric
        if by_snake.get(name) in raw
        and (
            pd.api.types.is_integer_dtype(raw[by_snake[name]].dtype)
            or (name in schema.decimal and pd.api.types.is_float_dtype(raw[by_snake[name]].dtype))
        )
    )


def raw_suite(
    fmt: SourceFormat,
    schema: Schema,
    contract: Contract,
    rules: DataValidation,
    integer_columns: frozenset[str] = frozenset(),
) -> list[Expectation]:
    """A source as delivered: columns, row count, completeness, number format (integer
    text, or an integer type where the source stores types), allowed values (the missing
    marker allowed up to its share), label values, duplicates."""
    gxe = expectation_classes()
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=fmt.columns, exact_match=True),
        gxe.ExpectTableRowCountToBeBetween(min_value=contract.rows.min, max_value=contract.rows.max),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=fmt.columns, mostly=1 - rules.max_duplicate_share),
    ]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - share)
        for column, share in _raw_missing_shares(fmt, schema, contract).items()
        if share < 1
    ]
    expectations += _raw_value_checks(fmt, schema, contract, integer_columns)
    unlabelled = [fmt.missing_marker, ""] if schema.label.missing == "drop" else []
    expectations.append(
        gxe.ExpectColumnValuesToBeInSet(column=schema.label.column, value_set=[*contract.label_values, *unlabelled])
    )
    return expectations


def _raw_missing_shares(fmt: SourceFormat, schema: Schema, contract: Contract) -> dict[str, float]:
    """The share of nulls each delivered column may hold: none in text (a missing value is the
    marker there), but a typed source (Parquet) stores missing values as nulls."""
    by_raw = {c: to_snake_case(c) for c in fmt.columns}
    allowed: dict[str, float] = {}
    for column, name in by_raw.items():
        spec = contract.categorical.get(name) or contract.numeric.get(name)
        allowed[column] = spec.max_missing if spec else 0.0
    if schema.label.missing == "drop":
        allowed[schema.label.column] = 1.0
    return allowed


def _raw_value_checks(
    fmt: SourceFormat, schema: Schema, contract: Contract, integer_columns: frozenset[str], per_row: bool = False
) -> list[Expectation]:
    """Number format (or integer type) and allowed values of the delivered columns; the
    missing marker's share too, unless `per_row` keeps only what a single row can fail."""
    gxe = expectation_classes()
    by_snake = {to_snake_case(c): c for c in fmt.columns}
    expectations = []
    for name in schema.numeric:
        column = by_snake[name]
        max_missing = contract.numeric[name].max_missing if name in contract.numeric else 0.0
        decimal = name in schema.decimal
        if column in integer_columns:
            expectations.append(
                gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=["int64", "float64"])
                if decimal
                else gxe.ExpectColumnTypeToBe(column=column, type_="int64")
            )
            continue
        number = (DECIMAL_COMMA_TEXT if fmt.decimal == "," else DECIMAL_TEXT) if decimal else INTEGER_TEXT
        if max_missing > 0:
            number = f"{number}|^{re.escape(fmt.missing_marker)}$"
            if not per_row:
                expectations.append(
                    gxe.ExpectColumnValuesToNotBeInSet(
                        column=column, value_set=[fmt.missing_marker], mostly=1 - max_missing
                    )
                )
        expectations.append(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=number))
    for name, spec in contract.categorical.items():
        column = by_snake[name]
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[*spec.values, fmt.missing_marker])
        )
        if not per_row or spec.max_missing == 0:
            expectations.append(
                gxe.ExpectColumnValuesToNotBeInSet(
                    column=column, value_set=[fmt.missing_marker], mostly=1 - spec.max_missing
                )
            )
    return expectations


def raw_schema_suite(fmt: SourceFormat) -> list[Expectation]:
    """A raw part that passed the raw contract in ingest: the source's columns, not empty."""
    gxe = expectation_classes()
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=fmt.columns, exact_match=True),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=None),
    ]


def prepared_suite(schema: Schema, contract: Contract, rules: DataValidation) -> list[Expectation]:
    """The typed table: columns and dtypes, ranges, allowed values, missing shares,
    label rate, unique row ids, duplicates."""
    gxe = expectation_classes()
    label = schema.target
    expectations = [
        *_table_schema(schema),
        gxe.ExpectTableRowCountToBeBetween(min_value=contract.rows.min, max_value=None),
        gxe.ExpectColumnValuesToBeUnique(column=ROW_ID),
        gxe.ExpectColumnValuesToBeInSet(column=label, value_set=[0, 1]),
        gxe.ExpectColumnMeanToBeBetween(
            column=label, min_value=contract.label_rate.min, max_value=contract.label_rate.max
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*schema.features, label], mostly=1 - rules.max_duplicate_share
        ),
    ]
    expectations += _prepared_value_checks(schema, contract)
    return expectations


def typed_suite(schema: Schema, contract: Contract, rules: DataValidation) -> list[Expectation]:
    """A raw part in its typed form, for what the text cannot show: dtypes, numeric ranges, the
    label's values and rate. (Allowed values, missing shares and duplicates: the raw suite
    checks them on the text; the prepared suite again on the whole table prepare writes.)"""
    gxe = expectation_classes()
    label = schema.target
    expectations = [
        *table_schema_suite(schema),
        gxe.ExpectColumnValuesToBeInSet(column=label, value_set=[0, 1]),
        gxe.ExpectColumnMeanToBeBetween(
            column=label, min_value=contract.label_rate.min, max_value=contract.label_rate.max
        ),
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(column=name, min_value=spec.min, max_value=spec.max)
        for name, spec in contract.numeric.items()
    ]
    return expectations


def table_schema_suite(schema: Schema) -> list[Expectation]:
    """A prepared table or split part that passed its full contract where it was written:
    the columns in order, their dtypes, not empty."""
    gxe = expectation_classes()
    return [
        *_table_schema(schema),
        *(gxe.ExpectColumnTypeToBe(column=name, type_="category") for name in schema.categorical),
        *(gxe.ExpectColumnTypeToBe(column=name, type_=schema.dtype(name)) for name in schema.numeric),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=None),
    ]


def _table_schema(schema: Schema) -> list[Expectation]:
    """Column order and the dtypes of the row id and the label (the features' come with their values)."""
    gxe = expectation_classes()
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=[ROW_ID, PART, *schema.features, schema.target]),
        gxe.ExpectColumnTypeToBe(column=ROW_ID, type_="int64"),
        gxe.ExpectColumnTypeToBe(column=schema.target, type_="int8"),
    ]


def _prepared_value_checks(schema: Schema, contract: Contract, per_row: bool = False) -> list[Expectation]:
    """Dtypes, allowed values, ranges and completeness of the typed feature columns; missing
    shares too, unless `per_row` keeps only what a single row can fail."""
    gxe = expectation_classes()
    expectations = []
    for name in schema.categorical:
        expectations.append(gxe.ExpectColumnTypeToBe(column=name, type_="category"))
        spec = contract.categorical.get(name)
        if spec is not None:
            expectations.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=spec.values))
        max_missing = spec.max_missing if spec else 0
        if not per_row or max_missing == 0:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=1 - max_missing))
    for name in schema.numeric:
        # `int64` cannot hold a missing value: for it the dtype check is the completeness check
        dtype = schema.dtype(name)
        expectations.append(gxe.ExpectColumnTypeToBe(column=name, type_=dtype))
        bounds = contract.numeric.get(name)
        if bounds is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=bounds.min, max_value=bounds.max)
            )
        max_missing = bounds.max_missing if bounds else 0.0
        if dtype != "int64" and (not per_row or max_missing == 0):
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=1 - max_missing))
    return expectations


def input_suite(
    fmt: SourceFormat, schema: Schema, contract: Contract, integer_columns: frozenset[str] = frozenset()
) -> list[Expectation]:
    """Rows to score, as delivered, without the label (dropped before, when present): the
    source's columns, none empty, and the raw contract's checks that one row can fail on its
    own. Row count, duplicates and missing shares describe a data set, not a row: scoring
    reports them as drift instead."""
    gxe = expectation_classes()
    columns = [c for c in fmt.columns if c != schema.label.column]
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in columns),
        *_raw_value_checks(fmt, schema, contract, integer_columns, per_row=True),
    ]


def input_prepared_suite(schema: Schema, contract: Contract) -> list[Expectation]:
    """Typed rows to score: the feature columns in order, and the prepared contract's dtypes,
    allowed values, ranges and completeness, row by row."""
    gxe = expectation_classes()
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=schema.features),
        *_prepared_value_checks(schema, contract, per_row=True),
    ]
