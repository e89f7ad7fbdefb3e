"""The gate's faster Great Expectations metrics give GX's own answers, and the gate skips the work no
verdict needs (the offending rows' index of a passing check, the batch fingerprint)."""

from __future__ import annotations

import decimal
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from census_income.contracts import expectation_classes, gx_metrics
from census_income.contracts.gate import Gate
from census_income.contracts.gx_metrics import unique_rows
from census_income.errors import GateError


@pytest.fixture(autouse=True)
def gate_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "gates"
    monkeypatch.setenv("CENSUS_INCOME_GATE_DIR", str(folder))
    return folder


def mixed_frame(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every kind of column a gate sees, each with missing values and repeats."""
    return pd.DataFrame(
        {
            "category": pd.Categorical(rng.choice(["a", "b", None], rows), categories=["a", "b", "unused"]),
            "text": pd.array(rng.choice(["x", "y", None], rows), dtype="str"),
            "integer": rng.integers(0, 3, rows),
            "float": rng.choice([0.5, np.nan, 1.0], rows),
            "nullable": pd.array(rng.choice([1, 2, None], rows), dtype="Int64"),
            "object": pd.Series(rng.choice(["p", None, np.nan], rows), dtype=object),
        }
    )


def test_unique_rows_is_pandas_duplicated_on_every_kind_of_column() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        frame = mixed_frame(int(rng.integers(0, 50)), rng)
        columns = list(rng.permutation(frame.columns)[: int(rng.integers(1, 7))])
        expected = ~frame[columns].duplicated(keep=False).to_numpy()
        assert (unique_rows(frame[columns]) == expected).all(), columns


def test_unique_rows_when_the_combined_key_would_overflow() -> None:
    """Eight columns of 5,000 values: the key is compressed on the way, rows still compare exactly."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f"c{i}": rng.integers(0, 5_000, 20_000) for i in range(8)})
    frame.iloc[5] = frame.iloc[77]
    unique = unique_rows(frame)
    assert (unique == ~frame.duplicated(keep=False).to_numpy()).all()
    assert not unique[5] and not unique[77] and unique.sum() == len(frame) - 2


def test_unique_rows_compares_rows_whose_hashed_keys_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a multiplier of 1 the hashed key is a sum of codes: many different rows share one, and
    only comparing them value by value tells which are duplicates."""
    monkeypatch.setattr(gx_metrics, "HASH_MULTIPLIER", np.uint64(1))
    monkeypatch.setattr(gx_metrics, "KEY_LIMIT", 1)  # hash from the first column on
    rng = np.random.default_rng(5)
    frame = mixed_frame(300, rng)
    unique = unique_rows(frame)
    assert (unique == ~frame.duplicated(keep=False).to_numpy()).all()
    assert unique.any() and not unique.all()


def check(frame: pd.DataFrame, *expectations: Any) -> Gate:
    gate = Gate("unit", "fail")
    gate.check("suite", frame, lambda: list(expectations))
    return gate


def test_duplicate_rows_fail_the_gate_with_their_count() -> None:
    gxe = expectation_classes()
    frame = pd.DataFrame({"a": pd.Categorical(["x", "y", "x", "y"]), "b": [1, 2, 1, 3]})
    check(frame, gxe.ExpectCompoundColumnsToBeUnique(column_list=["a", "b"], mostly=0.5))
    with pytest.raises(GateError) as failed:
        check(frame, gxe.ExpectCompoundColumnsToBeUnique(column_list=["a", "b"]))
    assert "expect_compound_columns_to_be_unique unexpected=2 (50.00%)" in str(failed.value)


def test_a_mean_is_the_same_on_numbers_and_on_decimals() -> None:
    """A numeric column goes straight to its mean; GX still converts Decimal values itself."""
    gxe = expectation_classes()
    for column in (pd.Series([0, 1, 1, 0], dtype="int8"), pd.Series([decimal.Decimal("0.5")] * 4, dtype=object)):
        frame = pd.DataFrame({"label": column})
        check(frame, gxe.ExpectColumnMeanToBeBetween(column="label", min_value=0.5, max_value=0.5))
        with pytest.raises(GateError, match=r"expect_column_mean_to_be_between column=label observed=0\.5"):
            check(frame, gxe.ExpectColumnMeanToBeBetween(column="label", min_value=0.6, max_value=1))


def test_a_passing_check_keeps_offending_values_but_no_row_index_or_fingerprint(gate_dir: Path) -> None:
    """Only a failing check pays for the offending rows' index (its report names them); no check
    pays for hashing every row into a fingerprint."""
    gxe = expectation_classes()
    frame = pd.DataFrame({"sex": ["Male", "?", "Female", "Male"]})
    check(frame, gxe.ExpectColumnValuesToNotBeInSet(column="sex", value_set=["?"], mostly=0.7))
    kept = json.loads((gate_dir / "unit" / "suite.json").read_text())
    result = kept["results"][0]["result"]
    assert result["partial_unexpected_list"] == ["?"] and "partial_unexpected_index_list" not in result
    assert "pandas_data_fingerprint" not in json.dumps(kept)
    with pytest.raises(GateError, match=r'e\.g\. \["\?"\] at rows \[1\]'):
        check(frame, gxe.ExpectColumnValuesToNotBeInSet(column="sex", value_set=["?"]))


def test_a_column_metric_gets_its_column_alone_and_a_table_metric_the_whole_frame() -> None:
    """What GX's pandas engine hands a metric, through `column_domain`: the same rows and index."""
    from great_expectations.core.metric_domain_types import MetricDomainTypes
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    gx_metrics.use_fast_metrics()  # what a gate does before its first check
    frame = pd.DataFrame({"a": [1, None, 3], "b": ["x", "y", "z"]}, index=[7, 8, 9])
    engine = PandasExecutionEngine()
    engine.load_batch_data("batch", frame)
    column, _, accessor = engine.get_compute_domain({"column": "a"}, MetricDomainTypes.COLUMN)
    assert list(column.columns) == ["a"] and accessor == {"column": "a"}
    assert column.index.tolist() == [7, 8, 9]
    table, _, _ = engine.get_compute_domain({}, MetricDomainTypes.TABLE)
    assert list(table.columns) == ["a", "b"]
