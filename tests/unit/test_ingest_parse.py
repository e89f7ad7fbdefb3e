"""parse_source: a delimited file as delivered, whatever its line endings and spacing."""

from __future__ import annotations

import pandas as pd
import pytest

from census_income.data.ingest import parse_source
from census_income.data.spec import SourceFormat
from census_income.errors import SourceError

FMT = SourceFormat(columns=["age", "workclass", "income"], comment="|")
PLAIN = b"39,State-gov,<=50K\n50,Self-emp-inc,>50K\n"
EXPECTED = pd.DataFrame(
    {"age": ["39", "50"], "workclass": ["State-gov", "Self-emp-inc"], "income": ["<=50K", ">50K"]}, dtype="string"
)


def parse(content: bytes, fmt: SourceFormat = FMT) -> pd.DataFrame:
    return parse_source(content, fmt, where="tiny.data")


def assert_same(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame.astype("string"), EXPECTED)


def test_headerless_rows_get_the_configured_names_and_stay_text() -> None:
    frame = parse(PLAIN)
    assert list(frame.columns) == FMT.columns
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in frame.dtypes)
    assert_same(frame)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"|1x0 Cross validator\n" + PLAIN, id="comment-line"),
        pytest.param(PLAIN.replace(b"\n", b"\r\n"), id="windows-line-endings"),
        pytest.param(PLAIN + b"\n", id="trailing-blank-line"),
        pytest.param(b"39, State-gov, <=50K\n50, Self-emp-inc, >50K\n", id="space-after-comma"),
        pytest.param(b"|comment\r\n39, State-gov, <=50K\r\n50, Self-emp-inc, >50K\r\n\r\n", id="all-at-once"),
    ],
)
def test_format_variants_parse_the_same(content: bytes) -> None:
    assert_same(parse(content))


def test_header_row_when_configured() -> None:
    frame = parse(b"age,workclass,income\n" + PLAIN, SourceFormat(columns=FMT.columns, header=True))
    assert_same(frame)


def test_values_are_not_edited() -> None:
    """Raw data stays as delivered: `?` and the test label's `.` are prepare's business."""
    frame = parse(b"39, ?, <=50K.\n")
    assert frame.iloc[0].tolist() == ["39", "?", "<=50K."]


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   \r\n"], ids=["empty", "blank-lines", "whitespace"])
def test_empty_file_is_a_source_error(content: bytes) -> None:
    with pytest.raises(SourceError, match=r"^source tiny\.data: empty file$"):
        parse(content)


def test_non_utf8_bytes_name_the_source_and_the_byte() -> None:
    content = b"39,State-gov,<=50K\n50,Self\xff\xfeemp,>50K\n"
    with pytest.raises(SourceError) as caught:
        parse(content)
    message = str(caught.value)
    assert message.startswith("source tiny.data: not utf-8 text at byte ")
    bad_byte = content.index(b"\xff")
    assert f"byte {bad_byte}:" in message
    assert "\n" not in message


def test_surplus_column_is_named_unexpected_n() -> None:
    frame = parse(b"39,State-gov,<=50K,x\n50,Self-emp-inc,>50K,y\n")
    assert list(frame.columns) == [*FMT.columns, "unexpected_4"]
    assert frame["unexpected_4"].tolist() == ["x", "y"]


def test_ragged_rows_are_a_one_line_source_error() -> None:
    with pytest.raises(SourceError, match=r"^source tiny\.data: cannot parse: ") as caught:
        parse(b"39,State-gov,<=50K\n50,Self-emp-inc,>50K,extra\n")
    assert "\n" not in str(caught.value)


def test_garbage_parquet_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"^source part\.parquet: not a readable Parquet file"):
        parse_source(b"PAR1 not really", FMT, where="part.parquet")
