"""prepare: raw text parts into one typed, normalised table, without touching the inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from census_income.data.prepare import PART, ROW_ID, prepare, unlabelled
from census_income.data.spec import Label, Schema, SourceFormat
from census_income.errors import PipelineError


def tiny_raw(**overrides: list[str]) -> pd.DataFrame:
    """Three raw rows with the raw (hyphenated, padded) column names."""
    columns = {
        "age": ["39", " 50", "38 "],
        "workclass": [" State-gov", "?", " Private "],
        "capital-gain": ["2174", "0", "0"],
        "native-country": [" United-States", " ?", ""],
        "income": [" <=50K", " >50K.", ">50K"],
    }
    columns.update(overrides)
    return pd.DataFrame(columns, dtype="string")


def test_names_are_snake_case_and_columns_ordered(fmt: SourceFormat, schema: Schema) -> None:
    table = prepare({"train": tiny_raw()}, fmt, schema)
    assert list(table.columns) == [ROW_ID, PART, *schema.features, schema.target]
    assert "native_country" in table and "capital_gain" in table


def test_text_is_stripped_and_missing_marker_becomes_na(fmt: SourceFormat, schema: Schema) -> None:
    table = prepare({"train": tiny_raw()}, fmt, schema)
    assert table["workclass"].tolist()[0] == "State-gov"
    assert table["workclass"].tolist()[2] == "Private"
    assert table["workclass"].isna().tolist() == [False, True, False]
    # ` ?` (padded marker) and an empty field are missing too
    assert table["native_country"].isna().tolist() == [False, True, True]
    assert "?" not in set(table["workclass"].cat.categories)


def test_label_suffix_removed_and_binary(fmt: SourceFormat, schema: Schema) -> None:
    table = prepare({"train": tiny_raw()}, fmt, schema)
    assert table["income"].tolist() == [0, 1, 1]
    assert set(table["income"].unique()) <= {0, 1}


def test_label_suffix_is_kept_when_not_configured(fmt: SourceFormat) -> None:
    schema = Schema(
        categorical=["workclass", "native_country"],
        numeric=["age", "capital_gain"],
        label=Label(column="income", positive=">50K"),
    )
    table = prepare({"train": tiny_raw()}, fmt, schema)
    assert table["income"].tolist() == [0, 0, 1]


def test_dtypes(fmt: SourceFormat, schema: Schema) -> None:
    table = prepare({"train": tiny_raw(), "test": tiny_raw()}, fmt, schema)
    for column in schema.categorical:
        assert isinstance(table[column].dtype, pd.CategoricalDtype), column
    for column in schema.numeric:
        assert table[column].dtype == "int64", column
    assert table[schema.target].dtype == "int8"
    assert table[ROW_ID].dtype == "int64"
    assert table["age"].tolist() == [39, 50, 38, 39, 50, 38]


@pytest.mark.parametrize("missing_in", ["train", "test"])
def test_a_part_whose_category_column_is_all_missing_joins_the_others(
    fmt: SourceFormat, schema: Schema, missing_in: str
) -> None:
    """A part with no category at all in a column (every value missing) once failed the union of
    categories with a TypeError; its rows are missing there, the others' categories stay."""
    parts = {"train": tiny_raw(), "test": tiny_raw()}
    parts[missing_in] = tiny_raw(workclass=["?", " ", "?"])
    table = prepare(parts, fmt, schema)
    assert isinstance(table["workclass"].dtype, pd.CategoricalDtype)
    assert list(table["workclass"].cat.categories) == ["Private", "State-gov"]
    missing = table[PART] == missing_in
    assert table.loc[missing, "workclass"].isna().all() and table.loc[~missing, "workclass"].notna().sum() == 2


def test_parts_and_unique_row_ids(raw_parts: dict[str, pd.DataFrame], fmt: SourceFormat, schema: Schema) -> None:
    # the order of the mapping does not matter: train rows come first
    table = prepare({"test": raw_parts["test"], "train": raw_parts["train"]}, fmt, schema)
    assert len(table) == len(raw_parts["train"]) + len(raw_parts["test"])
    assert table[ROW_ID].is_unique
    assert table[ROW_ID].tolist() == list(range(len(table)))
    assert table[PART].astype(str).tolist() == ["train"] * 80 + ["test"] * 40
    # the test part's `<=50K.` / `>50K.` labels count the same as train's
    assert 0 < table.loc[table[PART] == "test", "income"].mean() < 1


def test_categories_are_the_union_of_the_parts(fmt: SourceFormat, schema: Schema) -> None:
    train = tiny_raw(workclass=["Private", "Private", "Private"])
    test = tiny_raw(workclass=["Never-worked", "Private", "?"])
    table = prepare({"train": train, "test": test}, fmt, schema)
    assert set(table["workclass"].cat.categories) == {"Private", "Never-worked"}
    assert table["workclass"].tolist()[3] == "Never-worked"


def test_inputs_are_not_changed(raw_parts: dict[str, pd.DataFrame], fmt: SourceFormat, schema: Schema) -> None:
    before = {name: frame.copy(deep=True) for name, frame in raw_parts.items()}
    prepare(raw_parts, fmt, schema)
    assert raw_parts.keys() == before.keys()
    for name, frame in raw_parts.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_non_numeric_value_names_the_column(fmt: SourceFormat, schema: Schema) -> None:
    raw = tiny_raw(**{"capital-gain": ["0", "12x", "0"]})
    with pytest.raises(PipelineError, match=r"column capital_gain: not a number: \['12x'\]"):
        prepare({"train": raw}, fmt, schema)


def test_fractional_value_is_not_an_integer(fmt: SourceFormat, schema: Schema) -> None:
    with pytest.raises(PipelineError, match=r"column age: not a whole number: \[40.5\] \(rows \[1\]\)"):
        prepare({"train": tiny_raw(age=["39", "40.5", "41"])}, fmt, schema)


def test_missing_number_is_an_error_naming_the_column(fmt: SourceFormat, schema: Schema) -> None:
    """Numeric columns are complete by contract: a `?` there is reported, not silently filled."""
    with pytest.raises(PipelineError, match=r"column age: 1 missing values \(rows \[1\]\)"):
        prepare({"train": tiny_raw(age=["39", "?", "41"])}, fmt, schema)


def test_missing_column_is_named(fmt: SourceFormat, schema: Schema) -> None:
    raw = tiny_raw().drop(columns=["capital-gain"])
    with pytest.raises(PipelineError, match=r"columns missing from raw part train: \['capital_gain'\]"):
        prepare({"train": raw}, fmt, schema)


def test_typed_input_from_parquet_sources(fmt: SourceFormat, schema: Schema) -> None:
    """A Parquet source keeps its integer columns: they pass through unchanged."""
    raw = tiny_raw().astype({"age": "string"})
    raw["age"] = [39, 50, 38]
    table = prepare({"train": raw}, fmt, schema)
    assert table["age"].dtype == "int64"
    assert table["age"].tolist() == [39, 50, 38]


def decimal_schema(schema: Schema) -> Schema:
    """The test schema with `age` as a decimal column and `capital_gain` a nullable integer."""
    return schema.model_copy(update={"decimal": ["age"], "nullable": ["capital_gain"]})


def test_declared_numeric_dtypes_hold_decimals_and_missing_values(fmt: SourceFormat, schema: Schema) -> None:
    raw = tiny_raw(age=["39.5", "?", "1e2"], **{"capital-gain": ["2174", "?", " 0"]})
    table = prepare({"train": raw}, fmt, decimal_schema(schema))
    assert table["age"].dtype == "float64"
    assert table["age"].tolist()[0::2] == [39.5, 100.0] and pd.isna(table["age"][1])
    assert table["capital_gain"].dtype == "Int64"
    assert table["capital_gain"].isna().tolist() == [False, True, False]


def test_declared_dtypes_do_not_depend_on_the_values(fmt: SourceFormat, schema: Schema) -> None:
    """Whole numbers in a decimal column stay float64; a complete nullable column stays Int64."""
    table = prepare({"train": tiny_raw()}, fmt, decimal_schema(schema))
    assert (table["age"].dtype, table["capital_gain"].dtype) == ("float64", "Int64")


def test_fraction_in_a_nullable_integer_column_names_the_column(fmt: SourceFormat, schema: Schema) -> None:
    raw = tiny_raw(**{"capital-gain": ["1", "?", "2.5"]})
    with pytest.raises(PipelineError, match=r"column capital_gain: not a whole number: \[2.5\] \(rows \[2\]\)"):
        prepare({"train": raw}, fmt, decimal_schema(schema))


def test_typed_decimal_source_keeps_its_missing_values(fmt: SourceFormat, schema: Schema) -> None:
    raw = tiny_raw()
    raw["age"] = [39.5, None, 38.0]
    table = prepare({"train": raw}, fmt, decimal_schema(schema))
    assert table["age"].dtype == "float64" and table["age"].isna().tolist() == [False, True, False]


def test_a_decimal_or_nullable_column_must_be_numeric() -> None:
    with pytest.raises(ValueError, match="decimal: 'workclass' is not one of the numeric columns"):
        Schema(categorical=["workclass"], numeric=["age"], decimal=["workclass"], label=Label(column="y", positive="1"))


def test_rows_without_a_label_are_refused_by_default(fmt: SourceFormat, schema: Schema) -> None:
    raw = tiny_raw(income=[" <=50K", " ?", ""])
    with pytest.raises(PipelineError, match=r"part train: 2 rows without a label in income \(rows \[1, 2\]\)"):
        prepare({"train": raw}, fmt, schema)


def test_rows_without_a_label_are_dropped_when_declared(fmt: SourceFormat, schema: Schema) -> None:
    dropping = schema.model_copy(update={"label": schema.label.model_copy(update={"missing": "drop"})})
    raw = tiny_raw(income=[" <=50K", " ?", ">50K"])
    assert unlabelled(raw, fmt, dropping).tolist() == [False, True, False]
    table = prepare({"train": raw}, fmt, dropping)
    assert table["income"].tolist() == [0, 1]
    assert table["age"].tolist() == [39, 38]
    assert table[ROW_ID].tolist() == [0, 1]


def test_any_two_label_values(fmt: SourceFormat, schema: Schema) -> None:
    other = schema.model_copy(update={"label": Label(column="income", positive="malignant")})
    table = prepare({"train": tiny_raw(income=["benign", "malignant", " malignant "])}, fmt, other)
    assert table["income"].tolist() == [0, 1, 1]


def test_a_decimal_comma_is_read_and_a_point_is_then_no_number(fmt: SourceFormat, schema: Schema) -> None:
    comma = fmt.model_copy(update={"decimal": ",", "delimiter": ";"})
    decimals = schema.model_copy(update={"decimal": ["capital_gain"]})
    table = prepare({"train": tiny_raw(**{"capital-gain": ["2174,5", "0", "-1,25"]})}, comma, decimals)
    assert table["capital_gain"].tolist() == [2174.5, 0.0, -1.25]
    with pytest.raises(PipelineError, match=r"column capital_gain: not a number: \['1.5'\]"):
        prepare({"train": tiny_raw(**{"capital-gain": ["1.5", "0", "0"]})}, comma, decimals)
