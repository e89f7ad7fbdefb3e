"""Normalise raw parts into one typed table: the frame every later stage starts from."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from census_income.config import to_snake_case
from census_income.data.spec import Schema, SourceFormat, with_decimal_points
from census_income.errors import PipelineError

ROW_ID = "row_id"
PART = "part"


def prepare(raw_parts: dict[str, pd.DataFrame], fmt: SourceFormat, schema: Schema) -> pd.DataFrame:
    """Concatenate raw parts (`train`, `test`, ...) and normalise them.

    snake_case names, stripped text, the missing marker as a missing value, the label as
    0/1 (after removing `label.strip_suffix`), categoricals as `category`, numbers as the
    schema declares them (`int64`, `Int64`, `float64`), plus `part` (which source each row
    came from) and a unique `row_id`.
    Text is cleaned per distinct value (through categories), so the cost grows with the
    number of distinct values, not rows. The inputs are not changed.
    """
    ordered = sorted(raw_parts.items(), key=lambda item: item[0] != "train")
    parts = [_normalise(part, raw, fmt, schema) for part, raw in ordered]
    table = concat_parts(parts)
    table.insert(0, ROW_ID, pd.RangeIndex(len(table), dtype="int64").to_numpy())
    return table


def unlabelled(raw: pd.DataFrame, fmt: SourceFormat, schema: Schema) -> pd.Series:
    """Rows of a raw part without a label (missing, empty or the missing marker)."""
    values = raw[schema.label.column] if schema.label.column in raw else raw[schema.target]
    text = values.astype("string").str.strip()
    return (text.isna() | text.isin([fmt.missing_marker, ""])).fillna(True).astype(bool)


def _normalise(part: str, raw: pd.DataFrame, fmt: SourceFormat, schema: Schema) -> pd.DataFrame:
    frame = raw.rename(columns=to_snake_case)
    missing = [c for c in [*schema.features, schema.target] if c not in frame]
    if missing:
        raise PipelineError(f"prepare: columns missing from raw part {part}: {missing}")
    without = unlabelled(frame, fmt, schema)
    if without.any():
        if schema.label.missing == "refuse":
            rows = without[without].index.tolist()[:3]
            raise PipelineError(
                f"prepare: part {part}: {int(without.sum())} rows without a label in {schema.label.column} "
                f"(rows {rows}); set schema.label.missing: drop to leave them out"
            )
        frame = frame[~without.to_numpy()]
    out: dict[str, pd.Series] = {PART: pd.Series(pd.Categorical([part] * len(frame))), **_typed(frame, fmt, schema)}
    out[schema.target] = _binary_label(frame[schema.target], schema)
    return pd.DataFrame(out)[[PART, *schema.features, schema.target]]


def prepare_features(raw: pd.DataFrame, fmt: SourceFormat, schema: Schema) -> pd.DataFrame:
    """Rows to score: the feature columns typed exactly as `prepare` types them.

    No label is needed (one that is present is ignored), and there is no `part` or `row_id`:
    the index of `raw` is kept instead, so each row traces back to its input row.
    """
    frame = raw.rename(columns=to_snake_case)
    missing = [c for c in schema.features if c not in frame]
    if missing:
        raise PipelineError(f"prepare: columns missing from the rows to score: {missing}")
    typed = pd.DataFrame(_typed(frame, fmt, schema))[schema.features]
    typed.index = raw.index
    return typed


def _typed(frame: pd.DataFrame, fmt: SourceFormat, schema: Schema) -> dict[str, pd.Series]:
    """The feature columns of a raw frame (snake_case names) as `category` and the numeric
    dtypes the schema declares (`Schema.dtype`)."""
    out: dict[str, pd.Series] = {}
    for column in schema.categorical:
        out[column] = _clean_text(frame[column], fmt.missing_marker)
    for column in schema.numeric:
        out[column] = _to_number(frame[column], fmt, column, schema.dtype(column))
    return out


def concat_parts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one after the other (numbered from 0), categorical columns still categorical with
    the union of the parts' categories. A part whose column is all missing has no category
    (pandas types its empty categories as numbers): it adds none, rather than failing the union.
    `pd.concat` would make categories that differ text, or objects that a model reads as numbers."""
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    columns = {}
    for column in parts[0].columns:
        pieces = [part[column] for part in parts]
        if isinstance(pieces[0].dtype, pd.CategoricalDtype):
            kind = next((p.cat.categories.dtype for p in pieces if len(p.cat.categories)), "str")
            empty = pd.Index([], dtype=kind)
            pieces = [p if len(p.cat.categories) else p.cat.set_categories(empty) for p in pieces]
            columns[column] = pd.Series(union_categoricals(pieces, ignore_order=True))
        else:
            columns[column] = pd.concat(pieces, ignore_index=True)
    return pd.DataFrame(columns)


def _clean_text(values: pd.Series, missing_marker: str) -> pd.Series:
    """Stripped text as `category`; the missing marker and empty strings become missing."""
    categorical = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    names = categorical.cat.categories.to_series().astype("string").str.strip()
    cleaned = names.mask(names.isin([missing_marker, ""]))
    mapped = categorical.cat.rename_categories(range(len(names))).map(dict(enumerate(cleaned)))
    return mapped.astype("category").reset_index(drop=True)


def _to_number(values: pd.Series, fmt: SourceFormat, column: str, dtype: str) -> pd.Series:
    """Numbers as `dtype` (`int64`, `Int64` or `float64`); text is parsed once per distinct value.

    Only the declared dtype is ever produced, whatever the data holds: a fraction in a
    whole-number column, or a missing value where none may be, is an error naming the column.
    """
    if dtype == "int64" and pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return values.astype("int64").reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
        numbers = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan))
        return _checked(numbers, column, dtype)
    text = _clean_text(
        values.astype("string") if not isinstance(values.dtype, pd.CategoricalDtype) else values, fmt.missing_marker
    )
    distinct = text.cat.categories.to_series()
    parsed = pd.to_numeric(with_decimal_points(distinct, fmt.decimal), errors="coerce")
    bad = distinct[parsed.isna()]
    if not bad.empty:
        raise PipelineError(f"prepare: column {column}: not a number: {bad.tolist()[:3]}")
    codes = text.cat.codes.to_numpy()
    numbers = pd.Series(np.where(codes >= 0, parsed.to_numpy(dtype="float64")[codes.clip(min=0)], np.nan))
    return _checked(numbers, column, dtype)


def _checked(numbers: pd.Series, column: str, dtype: str) -> pd.Series:
    """float64 values (NaN for missing) as `dtype`, or an error naming the first offending rows."""
    missing = numbers.isna()
    if dtype == "int64" and missing.any():
        rows = missing[missing].index.tolist()[:3]
        raise PipelineError(f"prepare: column {column}: {int(missing.sum())} missing values (rows {rows})")
    if dtype != "float64":
        fraction = numbers.notna() & (numbers % 1 != 0)
        if fraction.any():
            rows = fraction[fraction].index.tolist()[:3]
            raise PipelineError(
                f"prepare: column {column}: not a whole number: {numbers[fraction].tolist()[:3]} (rows {rows})"
            )
    typed: pd.Series = numbers.astype(dtype)  # type: ignore[call-overload]
    return typed.reset_index(drop=True)


def _binary_label(values: pd.Series, schema: Schema) -> pd.Series:
    """1 for the positive label (after removing `strip_suffix`), else 0, as int8."""
    categorical = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    names = categorical.cat.categories.to_series().astype("string").str.strip()
    if schema.label.strip_suffix:
        names = names.str.removesuffix(schema.label.strip_suffix)
    positive = (names == schema.label.positive).to_numpy()
    codes = categorical.cat.codes.to_numpy()
    return pd.Series(((codes >= 0) & positive[codes.clip(min=0)]).astype("int8"))
