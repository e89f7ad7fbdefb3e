"""Great Expectations' pandas engine, without the work no verdict depends on (same expectations, same values).

- A batch's fingerprint: before validating a frame under 1 GB, GX hashes every row of it for a
  marker in the result's metadata that nothing reads (4.7 s for the prepared table at 10M rows,
  more than any expectation). `dvc.lock` is what pins the bytes a stage read.
- A column's checks: GX hands each of them the whole frame, and most first drop the rows where
  the column is missing (`frame[frame[column].notnull()]`: a copy of every column, for each check).
  `column_domain` hands them that column alone, so the copy is of one column; the rows, their
  index and every value computed stay the same.
- `compound_columns.unique` (duplicate rows) runs `DataFrame.duplicated`, which factorizes every
  column again, category codes included, and compresses the combined key each time it could overflow:
  9 s on the prepared table at 10M rows. `unique_rows` gives the same answer from the category codes,
  one factorization of each other column and one 64-bit key per row.
- `column.mean` first looks for `decimal.Decimal` values one element at a time in Python (0.28 s
  per million rows, on every label-rate check). A numeric NumPy dtype cannot hold one, so such a
  column goes straight to its mean, as GX does after finding none; any other still gets GX's look.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_KINDS = "biuf"  # NumPy's bool, signed and unsigned integers, floats: never a Decimal
KEY_LIMIT = 2**64  # an exact key of several columns' codes stays below this
HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, its bits spread: 2**64 / the golden ratio
UNIQUE_ROWS = "compound_columns.unique.condition"


@functools.cache
def use_fast_metrics() -> None:
    """Take that work out of this process's Great Expectations, once."""
    from great_expectations.execution_engine import pandas_execution_engine
    from great_expectations.expectations.metrics.column_aggregate_metrics import column_mean

    pandas_execution_engine.HASH_THRESHOLD = 0  # fingerprint frames using less memory than this: none
    engine = pandas_execution_engine.PandasExecutionEngine
    engine.get_compute_domain = column_domain(engine.get_compute_domain)  # type: ignore[method-assign]
    _register_unique_rows()
    mean: Any = column_mean  # the module imports GX's step by name; its metric reads it there
    mean.convert_pandas_series_decimal_to_float_dtype = decimals_to_float(
        mean.convert_pandas_series_decimal_to_float_dtype
    )


def decimals_to_float(convert: Any) -> Any:
    """`convert` (GX's Decimal-to-float step, in place on `data` or returning it), skipped for a
    column whose dtype rules Decimal values out."""

    @functools.wraps(convert)
    def skipping(data: pd.Series, inplace: bool = False) -> pd.Series | None:
        if isinstance(data.dtype, np.dtype) and data.dtype.kind in NUMERIC_KINDS:
            return None if inplace else data
        result: pd.Series | None = convert(data=data, inplace=inplace)
        return result

    return skipping


def column_domain(get_compute_domain: Any) -> Any:
    """`get_compute_domain` (frame, compute and accessor kwargs of a metric's domain) with the frame of a
    column's metric cut to that column: all such a metric reads of it."""

    @functools.wraps(get_compute_domain)
    def narrowed(self: Any, domain_kwargs: dict[str, Any], domain_type: Any, accessor_keys: Any = None) -> Any:
        frame, compute, accessor = get_compute_domain(self, domain_kwargs, domain_type, accessor_keys)
        column = accessor.get("column")
        if str(getattr(domain_type, "value", domain_type)) == "column" and column in frame.columns:
            frame = frame[[column]]
        return frame, compute, accessor

    return narrowed


def unique_rows(frame: pd.DataFrame) -> np.ndarray:
    """Whether each row's values occur in no other row (`~frame.duplicated(keep=False)`: missing
    values equal each other).

    Each row gets one 64-bit key from its columns' codes: exact (mixed radix) while the codes fit,
    a hash of them beyond. Equal rows always get equal keys, so rows with a unique key are unique;
    after hashing, the rows sharing a key are compared again, value by value, among themselves.
    """
    key = np.zeros(len(frame), dtype=np.uint64)
    size, exact = 1, True
    for name in frame.columns:
        codes, count = _codes(frame[name])
        if exact and size * count < KEY_LIMIT:
            key = key * np.uint64(count) + codes
            size *= count
        else:  # wraps around 2**64: equal rows still get equal keys
            exact = False
            key = key * HASH_MULTIPLIER + codes
    repeated: np.ndarray = pd.Series(key).duplicated(keep=False).to_numpy(copy=True)
    if not exact:
        shared = np.flatnonzero(repeated)
        repeated[shared] = frame.iloc[shared].duplicated(keep=False).to_numpy()
    return ~repeated


def _codes(column: pd.Series) -> tuple[np.ndarray, int]:
    """One code per row (0 for a missing value, equal codes for equal values) and how many codes there are."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, count = column.cat.codes.to_numpy(), len(column.cat.categories)
    else:
        codes, uniques = pd.factorize(column)
        count = len(uniques)
    return codes.astype(np.uint64) + np.uint64(1), count + 1


def _register_unique_rows() -> None:
    """Compute GX's duplicate-rows condition on pandas with `unique_rows`."""
    import logging

    from great_expectations.core.metric_function_types import MetricPartialFunctionTypes
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
    from great_expectations.expectations.metrics.map_metric_provider.multicolumn_condition_partial import (
        multicolumn_condition_partial,
    )
    from great_expectations.expectations.metrics.multicolumn_map_metrics.compound_columns_unique import (
        CompoundColumnsUnique,
    )
    from great_expectations.expectations.registry import register_metric

    registry = logging.getLogger("great_expectations.expectations.registry")
    level = registry.level
    registry.setLevel(logging.ERROR)  # it warns that the provider changes: that is the point
    try:
        register_metric(
            metric_name=UNIQUE_ROWS,
            metric_domain_keys=CompoundColumnsUnique.condition_domain_keys,
            metric_value_keys=CompoundColumnsUnique.condition_value_keys,
            execution_engine=PandasExecutionEngine,
            metric_class=CompoundColumnsUnique,
            metric_provider=multicolumn_condition_partial(engine=PandasExecutionEngine)(_unique_rows_condition),
            metric_fn_type=MetricPartialFunctionTypes.MAP_CONDITION_SERIES,
        )
    finally:
        registry.setLevel(level)


def _unique_rows_condition(cls: Any, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
    """GX's condition: for each row of the columns compared, whether it occurs once."""
    return pd.Series(unique_rows(column_list), index=column_list.index)
