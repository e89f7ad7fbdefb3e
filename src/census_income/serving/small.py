"""The few rows of a request, fast: `prepare_features` in plain Python, a model call on one thread.

`prepare_features` spends a fixed ~2-3 ms of pandas work per column whatever the rows (it
cleans text per distinct value, right for a file); on one row that is most of a request's time.
`prepare_small` builds the identical frame (names, order, dtypes, categories, index) value by
value, and hands anything it is not sure to type identically to `prepare_features` instead:
non-text columns, a whole column missing, whitespace other than ASCII, numbers that are not
plain integer text, a missing value in a number column, more than `SMALL_ROWS` rows. Tests
compare the two, to the bit, on generated rows and edge cases.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from census_income.config import to_snake_case
from census_income.data.prepare import prepare_features
from census_income.data.spec import Schema, SourceFormat
from census_income.serving.scoring import score

SMALL_ROWS = 256
# a model call on this few rows runs on one OpenMP thread: HistGradientBoosting enters a parallel
# region per tree, and on a busy machine waiting for a second thread 300 times costs more than it
# saves (1 row: p50 28 -> 25 ms, p99 92 -> 46 ms). Rows are scored independently: same bits.
ONE_THREAD_ROWS = 64
ASCII_SPACE = " \t\n\r\x0b\x0c"
# integer text that float64 holds exactly, so parsing it here and in pandas agrees to the bit
PLAIN_INTEGER = re.compile(r"(?!-0+$)-?\d{1,15}")  # not -0: pandas reads it as 0, Python as -0.0


def prepare_small(raw: pd.DataFrame, fmt: SourceFormat, schema: Schema) -> pd.DataFrame:
    """`prepare_features(raw, fmt, schema)`, without its per-column fixed cost on a few text rows."""
    named = {to_snake_case(c): c for c in raw.columns}  # the renaming, without copying the frame
    typed = None
    if 0 < len(raw) <= SMALL_ROWS and len(named) == len(raw.columns):  # (a file's chunk: never read as lists)
        text = {c: raw[named[c]].tolist() for c in schema.features if c in named and _is_text(raw[named[c]])}
        typed = typed_values(text, fmt, schema)
    return prepare_features(raw, fmt, schema) if typed is None else prepared_frame(typed, schema, raw.index)


@dataclass(frozen=True)
class Prepared:
    """A few rows' prepared values (`typed_values`), numbered from 0: what the drift window and
    the batcher read, the prepared frame itself made only when asked (`frame`)."""

    values: dict[str, list[Any]]
    schema: Schema

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    @property
    def columns(self) -> list[str]:
        return list(self.values)

    def __getitem__(self, column: str) -> list[Any]:
        return self.values[column]

    @staticmethod
    def concat(parts: list[Prepared]) -> Prepared:
        """The rows of `parts` one after the other (a frame of them all has their categories)."""
        values = {column: [v for part in parts for v in part.values[column]] for column in parts[0].values}
        return Prepared(values, parts[0].schema)

    def rows(self, start: int, end: int) -> Prepared:
        """Rows `start..end-1`, numbered from 0 again."""
        return Prepared({column: values[start:end] for column, values in self.values.items()}, self.schema)

    def frame(self) -> pd.DataFrame:
        return prepared_frame(self.values, self.schema, pd.RangeIndex(len(self)))


def prepared_frame(typed: dict[str, list[Any]], schema: Schema, index: pd.Index) -> pd.DataFrame:
    """The prepared frame whose plain values `typed_values` gave (names, order, dtypes, categories)."""
    columns = {
        column: _category(values) if column in schema.categorical else _number(values, schema.dtype(column))
        for column, values in typed.items()
    }
    prepared = pd.DataFrame(columns)
    prepared.index = index
    return prepared


def typed_values(text: dict[str, list[Any]], fmt: SourceFormat, schema: Schema) -> dict[str, list[Any]] | None:
    """The feature columns of a few raw text rows (by snake_case name) as the plain values of the
    prepared frame (`tolist()`): stripped text or None, int (int64/Int64) or float; None when this
    path is not sure to type them as `prepare_features` does (see the module)."""
    typed: dict[str, list[Any]] = {}
    for column in schema.features:
        cleaned = _cleaned(text[column], fmt.missing_marker) if column in text else None
        if cleaned is None:
            return None
        if column in schema.categorical:
            if all(value is None for value in cleaned):  # no category: pandas types it apart
                return None
            typed[column] = cleaned
        elif column in schema.numeric and schema.dtype(column) in ("int64", "Int64", "float64"):
            if any(value is None or not PLAIN_INTEGER.fullmatch(value) for value in cleaned):
                return None
            whole = schema.dtype(column) != "float64"
            typed[column] = [int(value) if whole else float(value) for value in cleaned]  # type: ignore[arg-type]
        else:
            return None
    return typed


def _is_text(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.StringDtype)


def _cleaned(values: list[object], missing_marker: str) -> list[str | None] | None:
    """Stripped text, None for missing (the marker, empty); None when a value is not plain text."""
    out: list[str | None] = []
    for value in values:
        if not isinstance(value, str):
            if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                out.append(None)
                continue
            return None
        text = value.strip(ASCII_SPACE)
        if text != text.strip():  # other whitespace: leave it to pandas' own stripping
            return None
        out.append(None if text in (missing_marker, "") else text)
    return out


def _category(cleaned: list[str | None]) -> pd.Series:
    # what `pd.Categorical(values)` makes (sorted categories, -1 for missing), without its factorizing
    present = sorted({text for text in cleaned if text is not None})
    where = {text: code for code, text in enumerate(present)}
    codes = np.array([-1 if text is None else where[text] for text in cleaned], dtype="int64")
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(present), validate=False))


def _number(values: list[Any], dtype: str) -> pd.Series:
    numbers = np.array(values, dtype="float64")
    typed: pd.Series = pd.Series(numbers).astype(dtype)  # type: ignore[call-overload]
    return typed


def score_small(model: Any, prepared: pd.DataFrame) -> np.ndarray:
    """`score(model, prepared)`, on one OpenMP thread for `ONE_THREAD_ROWS` rows or fewer."""
    with few_threads(len(prepared)):
        return score(model, prepared)


def few_threads(rows: int) -> AbstractContextManager[None]:
    """One OpenMP thread for a model call on `ONE_THREAD_ROWS` rows or fewer (see above)."""
    return _one_thread() if rows <= ONE_THREAD_ROWS else nullcontext()


@cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


_limited: list[Any] = []  # the limiter while any small call runs (the limit is per process)
_inside = [0]
_limit_lock = threading.Lock()


@contextmanager
def _one_thread() -> Iterator[None]:
    """One OpenMP thread while any small call runs: the first in sets it, the last out restores it
    (two limiters overlapping would otherwise restore each other's limit and keep one thread)."""
    with _limit_lock:
        if not _inside[0]:
            _limited.append(_controller().limit(limits=1, user_api="openmp"))
        _inside[0] += 1
    try:
        yield
    finally:
        with _limit_lock:
            _inside[0] -= 1
            if not _inside[0]:
                _limited.pop().restore_original_limits()
