"""A per-row suite (`input_suite`, `input_prepared_suite`) evaluated on a few rows in microseconds.

A Great Expectations validation costs about half a second whatever the rows (a context, a
batch, a metric graph): right for a batch file, far too slow for an HTTP request of one row.
`RowChecks` reads the same `Expectation` objects, the contract's own, and evaluates each with
the pandas semantics Great Expectations gives it (missing values are not checked by value
expectations, ranges are inclusive, a regex is searched in the text); it blames rows the way
`unexpected_index_list` does. Any expectation kind it does not know is refused when the
suite is compiled, never skipped. A test checks it blames what Great Expectations blames.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation


@dataclass(frozen=True)
class Failure:
    """One row failing one expectation: which row, field and value, and why (with the kind)."""

    row: int
    field: str
    value: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.field}={self.value!r} {self.reason}"


def why(kind: str, kwargs: dict[str, Any]) -> str:
    """A few words for a failed row-level expectation, with its name for the full story."""
    if kind == "expect_column_values_to_be_between":
        text = f"outside [{kwargs.get('min_value')}, {kwargs.get('max_value')}]"
    elif kind == "expect_column_values_to_be_in_set":
        text = "not an allowed value"
    elif kind == "expect_column_values_to_not_be_in_set":
        text = f"is one of {kwargs.get('value_set')}"
    elif kind == "expect_column_values_to_match_regex":
        text = f"does not match {kwargs.get('regex')}"
    elif kind == "expect_column_values_to_not_be_null":
        text = "is missing"
    else:
        return f"({kind})"
    return f"{text} ({kind})"


# row-level kinds: a mask of the failing rows among the column's values
def _not_null(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    return np.asarray(values.isna())


def _in_set(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    return np.asarray(values.notna() & ~values.isin(kwargs["value_set"]))


def _not_in_set(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    return np.asarray(values.notna() & values.isin(kwargs["value_set"]))


def _regex(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    pattern = re.compile(kwargs["regex"])
    present = values.notna().to_numpy()
    return np.array([ok and not pattern.search(str(v)) for ok, v in zip(present, values, strict=True)], dtype=bool)


def _between(values: pd.Series, kwargs: dict[str, Any]) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    bad = np.zeros(len(numbers), dtype=bool)
    if low is not None:
        bad |= numbers < low
    if high is not None:
        bad |= numbers > high
    return bad


# the same kinds on the few plain values of a request (`tolist()`), value by value: None when a value
# is not one whose answer is certain to be the pandas one (then the pandas function answers)
def _not_null_values(values: list[Any], kwargs: dict[str, Any]) -> list[bool] | None:
    return [bool(pd.isna(v)) for v in values]


def _in_set_values(values: list[Any], kwargs: dict[str, Any]) -> list[bool] | None:
    allowed = kwargs["_text_set"]
    if allowed is None or not all(isinstance(v, str) or _missing(v) for v in values):
        return None
    return [isinstance(v, str) and v not in allowed for v in values]


def _not_in_set_values(values: list[Any], kwargs: dict[str, Any]) -> list[bool] | None:
    refused = kwargs["_text_set"]
    if refused is None or not all(isinstance(v, str) or _missing(v) for v in values):
        return None
    return [isinstance(v, str) and v in refused for v in values]


def _regex_values(values: list[Any], kwargs: dict[str, Any]) -> list[bool] | None:
    if not all(isinstance(v, str) or _missing(v) for v in values):
        return None
    pattern = re.compile(kwargs["regex"])
    return [isinstance(v, str) and not pattern.search(v) for v in values]


def _between_values(values: list[Any], kwargs: dict[str, Any]) -> list[bool] | None:
    if not all(type(v) in (int, float) for v in values):
        return None
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    return [(low is not None and float(v) < low) or (high is not None and float(v) > high) for v in values]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


SMALL_ROWS = 64
ROW_LEVEL_VALUES: dict[str, Callable[[list[Any], dict[str, Any]], list[bool] | None]] = {
    "expect_column_values_to_not_be_null": _not_null_values,
    "expect_column_values_to_be_in_set": _in_set_values,
    "expect_column_values_to_not_be_in_set": _not_in_set_values,
    "expect_column_values_to_match_regex": _regex_values,
    "expect_column_values_to_be_between": _between_values,
}


ROW_LEVEL: dict[str, Callable[[pd.Series, dict[str, Any]], np.ndarray]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": _not_in_set,
    "expect_column_values_to_match_regex": _regex,
    "expect_column_values_to_be_between": _between,
}


# table-level kinds: whether the frame passes (no row can be blamed), from its columns' dtypes
# (read once: a column taken out of a frame per expectation cost more than the checks)
def _columns_set(columns: list[str], dtypes: dict[str, str], kwargs: dict[str, Any]) -> bool:
    return set(columns) == set(kwargs["column_set"])


def _columns_ordered(columns: list[str], dtypes: dict[str, str], kwargs: dict[str, Any]) -> bool:
    return columns == list(kwargs["column_list"])


def _type(columns: list[str], dtypes: dict[str, str], kwargs: dict[str, Any]) -> bool:
    return kwargs["column"] in dtypes and dtypes[kwargs["column"]] == kwargs["type_"]


def _type_list(columns: list[str], dtypes: dict[str, str], kwargs: dict[str, Any]) -> bool:
    return kwargs["column"] in dtypes and dtypes[kwargs["column"]] in kwargs["type_list"]


TABLE_LEVEL: dict[str, Callable[[list[str], dict[str, str], dict[str, Any]], bool]] = {
    "expect_table_columns_to_match_set": _columns_set,
    "expect_table_columns_to_match_ordered_list": _columns_ordered,
    "expect_column_type_to_be": _type,
    "expect_column_values_to_be_in_type_list": _type_list,
}


class RowChecks:
    """A per-row suite, compiled once: `failures(frame)` gives the rows that fail and why."""

    def __init__(self, expectations: list[Expectation]) -> None:
        self.table: list[tuple[str, dict[str, Any]]] = []
        self.rows: list[tuple[str, dict[str, Any], str]] = []
        for expectation in expectations:
            config = expectation.configuration
            kind, kwargs = config.type, dict(config.kwargs)
            if kwargs.get("mostly", 1) != 1:
                raise ValueError(f"{kind} on {kwargs.get('column')}: `mostly` describes a data set, not a row")
            if kind in TABLE_LEVEL:
                self.table.append((kind, kwargs))
            elif kind in ROW_LEVEL:
                reason = why(kind, kwargs)
                given = kwargs.get("value_set")
                text_set = frozenset(given) if given is not None and all(isinstance(v, str) for v in given) else None
                self.rows.append((kind, {**kwargs, "_text_set": text_set}, reason))
            else:
                raise ValueError(f"{kind}: not an expectation one row can be checked against")

    def failures(self, frame: pd.DataFrame) -> tuple[list[Failure], list[str]]:
        """Failures by row (in row then expectation order), and the table-level expectations
        that failed (then no row is checked: the columns are not the contract's)."""
        columns = list(frame.columns)
        dtypes = {column: str(dtype) for column, dtype in zip(columns, frame.dtypes, strict=True)}
        few = len(frame) <= SMALL_ROWS
        plain: dict[str, list[Any]] = {}

        def plain_of(column: str) -> list[Any] | None:
            if few and column not in plain:
                plain[column] = frame[column].tolist()
            return plain.get(column)

        checked = self._check(columns, dtypes, list(frame.index), plain_of, frame.__getitem__)
        assert checked is not None  # every expectation has its pandas function
        return checked

    def failures_of(
        self, dtypes: dict[str, str], values: dict[str, list[Any]]
    ) -> tuple[list[Failure], list[str]] | None:
        """`failures` of the frame with these columns (in order), dtypes and plain values (rows
        numbered from 0), without the frame; None when a value needs the pandas semantics."""
        rows = len(next(iter(values.values()))) if values else 0
        return self._check(list(values), dtypes, list(range(rows)), values.get, lambda column: None)

    def _check(
        self,
        columns: list[str],
        dtypes: dict[str, str],
        index: list[Any],
        plain_of: Callable[[str], list[Any] | None],
        series_of: Callable[[str], pd.Series | None],
    ) -> tuple[list[Failure], list[str]] | None:
        whole = [
            f"{kind}" + (f" on {kwargs['column']}" if "column" in kwargs else "")
            for kind, kwargs in self.table
            if not TABLE_LEVEL[kind](columns, dtypes, kwargs)
        ]
        if whole:
            return [], whole
        found: list[Failure] = []
        for kind, kwargs, reason in self.rows:
            column = kwargs["column"]
            values = plain_of(column) if kind in ROW_LEVEL_VALUES else None
            bad = ROW_LEVEL_VALUES[kind](values, kwargs) if values is not None else None
            if bad is not None:
                assert values is not None
                found += [
                    Failure(int(row), column, _plain(value), reason)
                    for row, value, wrong in zip(index, values, bad, strict=True)
                    if wrong
                ]
                continue
            series = series_of(column)
            if series is None:
                return None
            mask = ROW_LEVEL[kind](series, kwargs)
            if mask.any():
                found += [
                    Failure(int(row), column, _plain(value), reason)
                    for row, value in zip(series.index[mask], series[mask], strict=True)
                ]
        found.sort(key=lambda failure: failure.row)
        return found, []


def _plain(value: Any) -> Any:
    """A value as JSON can carry it (numpy scalars as Python ones, missing as None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value
