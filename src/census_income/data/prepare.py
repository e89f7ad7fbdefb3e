"""Normalise raw parts into one typed table: the frame every later stage starts from."""

from __future__ import annotations

import pandas as pd

from census_income.config import Schema, SourceFormat, to_snake_case
from census_income.errors import PipelineError

ROW_ID = "row_id"
PART = "part"


def prepare(raw_parts: dict[str, pd.DataFrame], fmt: SourceFormat, schema: Schema) -> pd.DataFrame:
    """Concatenate raw parts (`train`, `test`, ...) and normalise them.

    snake_case names, stripped text, the missing marker as a missing value, the label as
    0/1 (after removing `label.strip_suffix`), categoricals as `category`, numbers as
    `Int64`, plus `part` (which source each row came from) and a unique `row_id`.
    The inputs are not changed.
    """
    frames = []
    for part, raw in sorted(raw_parts.items(), key=lambda item: item[0] != "train"):
        frame = raw.rename(columns=to_snake_case)
        frame.insert(0, PART, part)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    missing = [c for c in [*schema.features, schema.target] if c not in table]
    if missing:
        raise PipelineError(f"prepare: columns missing from raw data: {missing}")

    out = pd.DataFrame({ROW_ID: pd.RangeIndex(len(table), dtype="int64"), PART: table[PART]})
    out[PART] = out[PART].astype("category")
    for column in schema.numeric:
        out[column] = _to_integer(_clean_text(table[column], fmt.missing_marker), column)
    for column in schema.categorical:
        out[column] = _clean_text(table[column], fmt.missing_marker).astype("category")
    label = schema.target
    out[label] = _binary_label(table[label], schema)
    return out[[ROW_ID, PART, *schema.features, label]]


def _clean_text(values: pd.Series, missing_marker: str) -> pd.Series:
    stripped = values.astype("string").str.strip()
    return stripped.mask(stripped.isin([missing_marker, ""]))


def _to_integer(values: pd.Series, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna() & values.notna()]
    if not bad.empty:
        raise PipelineError(f"prepare: column {column}: not a number: {bad.unique()[:3].tolist()}")
    if (numbers.dropna() % 1 != 0).any():
        raise PipelineError(f"prepare: column {column}: not an integer")
    return numbers.astype("Int64")


def _binary_label(values: pd.Series, schema: Schema) -> pd.Series:
    text = values.astype("string").str.strip()
    suffix = schema.label.strip_suffix
    if suffix:
        text = text.str.removesuffix(suffix)
    return (text == schema.label.positive).astype("int8")
