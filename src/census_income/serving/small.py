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
from contextlib import contextmanager
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
    if len(raw) > SMALL_ROWS or len(raw) == 0:
        return prepare_features(raw, fmt, schema)
    named = {to_snake_case(c): c for c in raw.columns}  # the renaming, without copying the frame
    if len(named) != len(raw.columns):
        return prepare_features(raw, fmt, schema)
    columns: dict[str, pd.Series] = {}
    for column in schema.features:
        if column not in named or not _is_text(raw[named[column]]):
            return prepare_features(raw, fmt, schema)
        cleaned = _cleaned(raw[named[column]].tolist(), fmt.missing_marker)
        typed = (
            _number(cleaned, schema.dtype(column))
            if column in schema.numeric
            else _category(cleaned)
            if column in schema.categorical
            else None
        )
        if typed is None:
            return prepare_features(raw, fmt, schema)
        columns[column] = typed
    prepared = pd.DataFrame(columns)
    prepared.index = raw.index
    return prepared


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


def _category(cleaned: list[str | None] | None) -> pd.Series | None:
    if cleaned is None or all(text is None for text in cleaned):  # no category: pandas types it apart
        return None
    # what `pd.Categorical(values)` makes (sorted categories, -1 for missing), without its factorizing
    present = sorted({text for text in cleaned if text is not None})
    where = {text: code for code, text in enumerate(present)}
    codes = np.array([-1 if text is None else where[text] for text in cleaned], dtype="int64")
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(present), validate=False))


def _number(cleaned: list[str | None] | None, dtype: str) -> pd.Series | None:
    if cleaned is None or dtype not in ("int64", "Int64", "float64"):
        return None
    if any(text is None or not PLAIN_INTEGER.fullmatch(text) for text in cleaned):
        return None
    numbers = np.array([float(text) for text in cleaned if text is not None], dtype="float64")
    typed: pd.Series = pd.Series(numbers).astype(dtype)  # type: ignore[call-overload]
    return typed


def score_small(model: Any, prepared: pd.DataFrame) -> np.ndarray:
    """`score(model, prepared)`, on one OpenMP thread for `ONE_THREAD_ROWS` rows or fewer."""
    if len(prepared) > ONE_THREAD_ROWS:
        return score(model, prepared)
    with _one_thread():
        return score(model, prepared)


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
