"""The large-data generator: deterministic, Adult-shaped, within the contract's ranges."""

from __future__ import annotations

import pandas as pd
import pytest

from census_income.data.config import SynthesisConfig
from census_income.data.spec import Label, Schema, SourceFormat
from census_income.data.synthetic import synthesize

FORMAT = SourceFormat(columns=["age", "work-class", "fnlwgt", "income"])
SCHEMA = Schema(categorical=["work_class"], numeric=["age", "fnlwgt"], label=Label(column="income", positive=">50K"))
REFERENCE = pd.DataFrame(
    {
        "age": ["17", "35", "90", "44"],
        "work-class": ["Private", "?", "State-gov", "Private"],
        "fnlwgt": ["1000", "200000", "50000", "75000"],
        "income": ["<=50K", ">50K", "<=50K", ">50K"],
    }
)
CONFIG = SynthesisConfig(chunk_rows=700, jitter_absolute={"age": 2}, jitter_relative={"fnlwgt": 0.1})


def generate(rows: int, seed: int, cfg: SynthesisConfig = CONFIG) -> pd.DataFrame:
    return pd.concat(list(synthesize(REFERENCE, FORMAT, SCHEMA, cfg, rows=rows, seed=seed)), ignore_index=True)


def test_rows_chunks_and_columns() -> None:
    chunks = list(synthesize(REFERENCE, FORMAT, SCHEMA, CONFIG, rows=2000, seed=1))
    assert [len(c) for c in chunks] == [700, 700, 600]
    assert all(list(c.columns) == FORMAT.columns for c in chunks)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    pd.testing.assert_frame_equal(generate(1500, seed=3), generate(1500, seed=3))
    assert not generate(1500, seed=3).equals(generate(1500, seed=4))


def test_values_stay_in_the_reference_domain() -> None:
    frame = generate(3000, seed=5)
    assert frame["age"].dtype == "int64"
    assert frame["age"].between(17, 90).all()
    assert frame["fnlwgt"].between(1000, 200000).all()
    assert set(frame["work-class"].astype(str)) <= {"Private", "?", "State-gov"}
    assert set(frame["income"].astype(str)) == {"<=50K", ">50K"}
    # jitter really moves values away from the reference's
    assert frame["age"].nunique() > REFERENCE["age"].nunique()


def test_reference_is_not_changed() -> None:
    before = REFERENCE.copy()
    generate(100, seed=0)
    pd.testing.assert_frame_equal(REFERENCE, before)


@pytest.mark.parametrize("rows", [1, 699, 701])
def test_exact_row_counts(rows: int) -> None:
    assert len(generate(rows, seed=2)) == rows
