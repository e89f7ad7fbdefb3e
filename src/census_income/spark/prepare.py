"""Normalise raw parts into one typed table on Spark: `census_income.data.prepare` in Spark.

Same rows, same values: snake_case names, stripped text, the missing marker (and empty
text) as null, numbers as 64-bit integers, the label as 0/1 (int8), `part`, and `row_id`
= the row's position in the concatenation (train first, then the other parts by name),
taken from each part's row positions (`io.POSITION`) plus the sizes of the parts before it.
Text columns stay strings here; `io.write_parquet` stores them dictionary-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from census_income.config import to_snake_case
from census_income.data.prepare import PART, ROW_ID
from census_income.data.spec import Schema, SourceFormat
from census_income.errors import PipelineError
from census_income.spark.io import POSITION

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Python's str.strip() whitespace, as Java regex
_EDGES = r"^[\s\x1c-\x1f\x85\xa0]+|[\s\x1c-\x1f\x85\xa0]+$"


def prepare(parts: Mapping[str, DataFrame], fmt: SourceFormat, schema: Schema) -> DataFrame:
    """Concatenate raw parts (each with a `POSITION` column) and normalise them; the inputs are
    not changed. Raises `PipelineError` as the pandas engine does (missing columns, numbers
    that are not integers or missing)."""
    unsupported = [*schema.decimal, *schema.nullable]
    if unsupported or schema.label.missing != "refuse" or fmt.decimal != ".":
        what = f"decimal or nullable column {unsupported[0]}" if unsupported else "schema.label.missing: drop"
        what = what if unsupported or fmt.decimal == "." else f"format.decimal {fmt.decimal!r}"
        raise PipelineError(f"prepare: engine=spark takes whole, complete numbers and labels only: {what}")
    ordered = sorted(parts.items(), key=lambda item: (item[0] != "train", item[0]))
    offset, typed = 0, []
    for part, raw in ordered:
        typed.append(_normalise(part, raw, fmt, schema, offset))
        offset += raw.count()
    table = typed[0]
    for more in typed[1:]:
        table = table.unionByName(more)
    return table


def _normalise(part: str, raw: DataFrame, fmt: SourceFormat, schema: Schema, offset: int) -> DataFrame:
    from pyspark.sql import functions as F  # noqa: N812

    frame = raw.toDF(*[c if c == POSITION else to_snake_case(c) for c in raw.columns])
    missing = [c for c in [*schema.features, schema.target] if c not in frame.columns]
    if missing:
        raise PipelineError(f"prepare: columns missing from raw part {part}: {missing}")
    _check_integers(frame, fmt, schema)
    return frame.select(
        (F.lit(offset).cast("long") + F.col(POSITION).cast("long")).alias(ROW_ID),
        F.lit(part).alias(PART),
        *(clean_text(F.col(c), fmt.missing_marker).alias(c) for c in schema.categorical),
        *(_integer(frame, c, fmt.missing_marker).alias(c) for c in schema.numeric),
        binary_label(F.col(schema.target), schema).alias(schema.target),
    )


def clean_text(column: Column, missing_marker: str) -> Column:
    """Stripped text; the missing marker and empty strings become null."""
    from pyspark.sql import functions as F  # noqa: N812

    stripped = F.regexp_replace(column.cast("string"), _EDGES, "")
    return F.when(stripped.isin(missing_marker, ""), F.lit(None).cast("string")).otherwise(stripped)


def _integer(frame: DataFrame, name: str, missing_marker: str) -> Column:
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.types import IntegralType

    if isinstance(frame.schema[name].dataType, IntegralType):
        return F.col(name).cast("long")
    return whole_number(clean_text(F.col(name), missing_marker))


def whole_number(text: Column) -> Column:
    """Text to a 64-bit integer, `39` and `39.0` alike (as pandas' to_numeric); null when it is
    missing or not a whole number."""
    from pyspark.sql import functions as F  # noqa: N812

    as_double = text.try_cast("double")
    return F.coalesce(text.try_cast("bigint"), F.when(as_double == F.floor(as_double), as_double.cast("bigint")))


def _check_integers(frame: DataFrame, fmt: SourceFormat, schema: Schema) -> None:
    """Stop on numbers that are missing or not whole, naming the column, as the pandas engine
    does: one Spark job for all columns, a second for a few offending values when there are any."""
    from pyspark.sql import functions as F  # noqa: N812

    values = {c: _integer(frame, c, fmt.missing_marker) for c in schema.numeric}
    counts = frame.agg(*(F.sum(F.when(v.isNull(), 1).otherwise(0)).alias(c) for c, v in values.items())).first()
    for column in schema.numeric:
        if counts is None or not counts[column]:
            continue
        text = clean_text(F.col(column), fmt.missing_marker)
        bad = [
            row[0]
            for row in frame.select(text.alias("v"))
            .where(F.col("v").isNotNull() & whole_number(F.col("v")).isNull())
            .distinct()
            .limit(3)
            .collect()
        ]
        if bad:
            raise PipelineError(f"prepare: column {column}: not an integer: {bad}")
        raise PipelineError(f"prepare: column {column}: {counts[column]} missing values")


def binary_label(column: Column, schema: Schema) -> Column:
    """1 for the positive label (after removing `label.strip_suffix`), else 0, as int8."""
    from pyspark.sql import functions as F  # noqa: N812

    text = F.regexp_replace(column.cast("string"), _EDGES, "")
    suffix = schema.label.strip_suffix
    if suffix:
        text = F.when(text.endswith(suffix), text.substr(F.lit(1), F.length(text) - len(suffix))).otherwise(text)
    return F.when(text == F.lit(schema.label.positive), 1).otherwise(0).cast("byte")
