"""The few-row preparation of a request (`prepare_small`) types rows exactly as `prepare_features` does."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from census_income.data.prepare import prepare_features
from census_income.errors import PipelineError
from census_income.serving.small import prepare_small
from tests.unit.conftest import FORMAT, SCHEMA, raw_part

SCHEMAS = {
    "int64": SCHEMA,
    "Int64": SCHEMA.model_copy(update={"nullable": ["capital_gain"]}),
    "float64": SCHEMA.model_copy(update={"decimal": ["capital_gain"]}),
}


def text_rows(rows: int, seed: int) -> pd.DataFrame:
    """Raw rows as a request body gives them: text columns, numbered from 100."""
    frame = raw_part(max(rows, 2), seed).head(rows).drop(columns=["income"]).astype(str)
    frame.index = pd.RangeIndex(100, 100 + rows)
    return frame


def assert_same(raw: pd.DataFrame, schema_name: str = "int64") -> None:
    schema = SCHEMAS[schema_name]
    try:
        expected = prepare_features(raw, FORMAT, schema)
    except PipelineError as refused:
        with pytest.raises(PipelineError, match=re.escape(str(refused))):
            prepare_small(raw, FORMAT, schema)
        return
    got = prepare_small(raw, FORMAT, schema)
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_categorical=True)
    for column in expected:
        assert got[column].dtype == expected[column].dtype, column
        if isinstance(expected[column].dtype, pd.CategoricalDtype):
            assert got[column].cat.categories.dtype == expected[column].cat.categories.dtype, column
        else:  # to the bit: -0.0 equals 0.0, but its bits differ
            as_bits = [frame[column].to_numpy(dtype="float64", na_value=np.nan).tobytes() for frame in (got, expected)]
            assert as_bits[0] == as_bits[1], column


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@pytest.mark.parametrize("rows", [1, 2, 7, 40, 300])
def test_a_few_rows_are_typed_exactly_as_prepare_types_them(rows: int, schema_name: str) -> None:
    raw = text_rows(rows, seed=rows)
    for start in range(0, min(rows, 5)):
        assert_same(raw.iloc[start : start + 1], schema_name)
    assert_same(raw, schema_name)


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("workclass", ["?", "?"]),  # a whole column missing: no category at all
        ("workclass", ["  Private\t", ""]),
        ("workclass", ["\u00a0Private", "Private\u2003"]),  # whitespace beyond ASCII
        ("workclass", ["\x1fPrivate", "Private"]),
        ("native_country", ["1", "Mexico"]),
        ("age", [" 39 ", "007"]),
        ("age", ["-0", "0"]),  # pandas reads -0 as 0
        ("age", ["4.5", "40"]),
        ("age", ["1e3", "40"]),
        ("age", ["12345678901234567890", "40"]),
        ("age", ["lots", "40"]),
        ("capital-gain", ["?", "0"]),
        ("capital-gain", ["", "3.25"]),
        ("capital-gain", ["-0.0", "+5"]),
        ("capital-gain", ["-0", "0"]),  # float64: -0.0 would differ from 0.0 in its bits
    ],
)
def test_edge_values_are_typed_or_refused_exactly_as_prepare_does(
    column: str, values: list[str], schema_name: str
) -> None:
    raw = text_rows(len(values), seed=3)
    raw[column if column in raw else column.replace("_", "-")] = pd.Series(values, index=raw.index, dtype=str)
    assert_same(raw, schema_name)


def test_rows_that_are_not_text_go_through_prepare_itself() -> None:
    raw = text_rows(3, seed=4)
    raw["age"] = raw["age"].astype("int64")
    assert_same(raw)
    assert_same(raw.astype(object))


def test_a_few_rows_are_scored_on_one_thread_to_the_same_bits_and_the_limit_comes_back() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info

    from census_income.serving.scoring import score
    from census_income.serving.small import ONE_THREAD_ROWS, score_small

    def openmp_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]

    rng = np.random.default_rng(0)
    rows = pd.DataFrame(rng.normal(size=(500, 4)), columns=list("abcd"))
    model = HistGradientBoostingClassifier(max_iter=30).fit(rows, rows["a"] + rng.normal(size=500) > 0)
    before = openmp_threads()
    assert before, "scikit-learn runs on OpenMP"
    for few in (rows.head(1), rows.head(ONE_THREAD_ROWS), rows):
        assert score_small(model, few).tobytes() == score(model, few).tobytes()
    with ThreadPoolExecutor(4) as pool:  # overlapping small calls: the last one out restores the limit
        answers = list(pool.map(lambda i: score_small(model, rows.iloc[i : i + 1]), range(200)))
    assert np.concatenate(answers).tobytes() == score(model, rows.head(200)).tobytes()
    assert openmp_threads() == before
