"""A data set's description (the file `data.spec` names, `conf/datasets/<name>.yaml`): how its
source is delivered (`format`), the columns after prepare (`schema`) and what the data must
look like (`contract`). Nothing else in the code names a data set's columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, field_validator, model_validator

from census_income.config import Strict, to_snake_case

if TYPE_CHECKING:
    import pandas as pd


def clashing_names(names: list[str]) -> str | None:
    """Why `names` cannot all be columns once prepare renames them to snake_case (two that become
    one name, or one that becomes none), or None when they can."""
    by_snake: dict[str, list[str]] = {}
    for name in names:
        by_snake.setdefault(to_snake_case(name), []).append(name)
    if "" in by_snake:
        return f"column {by_snake[''][0]!r} has no letter or digit to name it by: rename it"
    clash = next((found for found in by_snake.values() if len(found) > 1), None)
    if clash is None:
        return None
    return f"columns {', '.join(map(repr, clash))} all become {to_snake_case(clash[0])!r}: rename them"


def with_decimal_points(text: pd.Series, decimal: str) -> pd.Series:
    """Number text as pandas parses it: a decimal comma becomes a point, and with a comma for
    decimals a point makes no number (a thousands separator is not read as one)."""
    if decimal == ".":
        return text
    return text.mask(text.str.contains(".", regex=False), "not a number").str.replace(",", ".", regex=False)


class SourceFormat(Strict):
    """How to parse a delimited source file as delivered (ingest reads this)."""

    columns: list[str] = Field(min_length=2)
    delimiter: str = ","
    header: bool = False
    comment: str | None = None
    encoding: str = "utf-8"
    missing_marker: str = "?"
    # the decimal separator of numbers as delivered: `,` for `3,25` (then a point is no number)
    decimal: Literal[".", ","] = "."

    @field_validator("columns")
    @classmethod
    def _names_that_stay_apart(cls, value: list[str]) -> list[str]:
        """Names that prepare's snake_case keeps apart (two that became one crashed ingest)."""
        problem = clashing_names(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _decimal_apart_from_delimiter(self) -> Self:
        if self.decimal == self.delimiter:
            raise ValueError(f"decimal: {self.decimal!r} is also the delimiter")
        return self

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        """An encoding Python knows, checked here rather than deep in the first parse."""
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class Label(Strict):
    """The target column and how its raw values map to the positive class."""

    column: str
    positive: str
    strip_suffix: str = ""
    # rows without a label: `refuse` stops at the raw gate (the count and the first rows),
    # `drop` leaves them out in prepare and records how many in the gate summary
    missing: Literal["refuse", "drop"] = "refuse"


class Schema(Strict):
    """Columns after prepare (snake_case): which are categorical, numeric, the label.

    A numeric column holds whole numbers (`int64`) unless listed in `decimal` (`float64`);
    a whole-number column listed in `nullable` may have missing values (`Int64`). How many
    may be missing is the contract's `max_missing`; the dtype depends on the config only.
    """

    categorical: list[str]
    numeric: list[str]
    decimal: list[str] = Field(default_factory=list)
    nullable: list[str] = Field(default_factory=list)
    # heavy-tailed numeric columns featurize passes through log1p before imputing and scaling
    log_transform: list[str] = Field(default_factory=list)
    label: Label

    @model_validator(mode="after")
    def _typed_columns_are_numeric(self) -> Self:
        for key in ("decimal", "nullable", "log_transform"):
            unknown = [c for c in getattr(self, key) if c not in self.numeric]
            if unknown:
                raise ValueError(f"{key}: {unknown[0]!r} is not one of the numeric columns")
        return self

    @property
    def features(self) -> list[str]:
        """Feature columns, categorical first."""
        return [*self.categorical, *self.numeric]

    def dtype(self, column: str) -> str:
        """The prepared dtype of a numeric column: `int64`, `Int64` (may be missing) or `float64`."""
        if column in self.decimal:
            return "float64"
        return "Int64" if column in self.nullable else "int64"

    @property
    def target(self) -> str:
        """The label's column name after prepare."""
        return to_snake_case(self.label.column)


class Bounds(Strict):
    """A closed interval; `None` leaves a side open."""

    min: float | None = None
    max: float | None = None


class NumericSpec(Bounds):
    """A numeric column's range (whole or decimal numbers) and the share that may be missing
    (more than 0 only for a column the schema lists as `decimal` or `nullable`)."""

    max_missing: float = Field(0.0, ge=0, le=1)


class CategoricalSpec(Strict):
    values: list[str] = Field(min_length=1)
    max_missing: float = Field(0.0, ge=0, le=1)


class Contract(Strict):
    """What the data must look like: the data set's part of its raw and prepared contracts."""

    rows: Bounds
    # the share of positive labels this data set may have (a rate far off means a broken file)
    label_rate: Bounds = Bounds()
    label_values: list[str] = Field(min_length=2)
    categorical: dict[str, CategoricalSpec]
    numeric: dict[str, NumericSpec]
    distribution: list[str] = Field(default_factory=list)
