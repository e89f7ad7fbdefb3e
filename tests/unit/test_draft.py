"""`census-income data draft`: format sniffed, schema and contract drafted, and the draft passes
its own gates on the file it was drafted from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from census_income.contracts.gate import Gate
from census_income.contracts.suites import prepared_suite, raw_suite, stored_as_integers
from census_income.contracts.validation import DataValidation
from census_income.data.draft import draft, sniff_format, write_draft
from census_income.data.ingest import parse_source
from census_income.data.prepare import prepare
from census_income.data.spec import Contract, Schema, SourceFormat
from census_income.errors import ConfigError, GateError

ROWS = [
    ("12", "red", "1.5", "yes"),
    ("15", "blue", "NA", "no"),
    ("NA", "red", "2.25", "no"),
    ("30", "green", "3", "no"),
    ("41", "NA", "0.5", "yes"),
    ("18", "blue", "1.75", "no"),
]


def write_csv(tmp_path: Path, delimiter: str = ",", header: bool = True, encoding: str = "utf-8") -> Path:
    lines = [delimiter.join(("count", "colour", "weight", "label"))] if header else []
    lines += [delimiter.join(row) for row in ROWS]
    path = tmp_path / "things.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def drafted(path: Path, **options: Any) -> dict[str, Any]:
    result = draft(path, options.pop("label", "label"), options.pop("positive", None), None, 0.1)
    return {str(p): yaml.safe_load(text) for p, text in result.files.items()}


@pytest.fixture(autouse=True)
def gate_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENSUS_INCOME_GATE_DIR", str(tmp_path / "gates"))


def test_format_is_sniffed(tmp_path: Path) -> None:
    content = write_csv(tmp_path, delimiter=";", encoding="latin-1").read_bytes().replace(b"red", b"r\xe9d")
    fmt = sniff_format(content, "things.csv", "label")
    assert (fmt.delimiter, fmt.header, fmt.missing_marker, fmt.encoding) == (";", True, "NA", "latin-1")
    assert fmt.columns == ["count", "colour", "weight", "label"]


def test_a_headerless_file_gets_numbered_columns(tmp_path: Path) -> None:
    fmt = sniff_format(write_csv(tmp_path, header=False).read_bytes(), "things.csv", "column_4")
    assert not fmt.header and fmt.columns == ["column_1", "column_2", "column_3", "column_4"]


def test_schema_and_contract(tmp_path: Path) -> None:
    files = drafted(write_csv(tmp_path))
    spec = files["conf/datasets/things.yaml"]
    assert spec["schema"] == {
        "categorical": ["colour"],
        "numeric": ["count", "weight"],
        "decimal": ["weight"],
        "nullable": ["count"],
        "label": {"column": "label", "positive": "yes"},  # the rarer value
    }
    contract = spec["contract"]
    assert contract["categorical"]["colour"] == {"values": ["blue", "green", "red"], "max_missing": 0.19}
    # 12..41 widened by 0.1 of 29 on each side; missing 1 of 6 plus 10%, rounded up to a percent
    assert contract["numeric"]["count"] == {"min": 9, "max": 44, "max_missing": 0.19}
    assert contract["numeric"]["weight"]["min"] == pytest.approx(0.25) and contract["numeric"]["weight"]["max"] > 3
    assert contract["label_values"] == ["no", "yes"]
    assert contract["label_rate"] == {
        "min": pytest.approx(1 / 3 - 0.1, abs=1e-4),
        "max": pytest.approx(1 / 3 + 0.1, abs=1e-4),
    }
    assert files["conf/data/things.yaml"] == {
        "name": "things",
        "source": {"train": str(tmp_path / "things.csv")},
        "generate": {},
        "spec": "conf/datasets/things.yaml",
    }
    assert set(files["conf/datasets/things.card.yaml"]) >= {"title", "intended_use", "license", "citation"}


def gated_table(path: Path, spec: dict[str, Any]) -> pd.DataFrame:
    """Run a drafted description's raw and prepared gates on its own file (raising when either
    fails) and return the prepared table."""
    fmt, schema, contract = SourceFormat(**spec["format"]), Schema(**spec["schema"]), Contract(**spec["contract"])
    raw = parse_source(path.read_bytes(), fmt, str(path))
    rules = DataValidation(max_duplicate_share=0.0)
    gate = Gate("draft", "fail")
    gate.check("raw", raw, raw_suite, fmt, schema, contract, rules, stored_as_integers(raw, fmt, schema))
    table = prepare({"train": raw}, fmt, schema)
    gate.check("prepared", table, prepared_suite, schema, contract, rules)
    return table


def test_the_draft_passes_its_own_gates(tmp_path: Path) -> None:
    path = write_csv(tmp_path)
    table = gated_table(path, drafted(path, positive="no")["conf/datasets/things.yaml"])
    assert str(table["count"].dtype) == "Int64" and str(table["weight"].dtype) == "float64"
    assert table["label"].tolist() == [0, 1, 1, 1, 0, 1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"label": "colour"}, r"label colour: 3 distinct values"),
        ({"label": "kind"}, r"--label kind: not a column"),
        ({"positive": "maybe"}, r"--positive maybe: not a value of label"),
    ],
)
def test_a_label_that_cannot_be_binary_is_one_line(tmp_path: Path, options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        drafted(write_csv(tmp_path), **options)


def test_an_existing_draft_is_kept_unless_forced(tmp_path: Path) -> None:
    result = draft(write_csv(tmp_path), "label", None, "things", 0.1)
    write_draft(result, tmp_path, force=False)
    with pytest.raises(ConfigError, match=r"conf/data/things.yaml: exists \(pass --force"):
        write_draft(result, tmp_path, force=False)
    assert write_draft(result, tmp_path, force=True) == list(result.files)


def test_a_parquet_draft_passes_its_own_gates_with_nulls_for_missing_values(tmp_path: Path) -> None:
    """A typed source stores missing values as nulls: the raw gate allows them up to `max_missing`."""
    csv_path = write_csv(tmp_path)
    typed = pd.read_csv(csv_path, na_values=["NA"]).assign(label=lambda f: f["label"].mask(f.index == 1))
    path = tmp_path / "things.parquet"
    typed.to_parquet(path)
    spec = drafted(path)["conf/datasets/things.yaml"]
    assert spec["schema"]["label"]["missing"] == "drop"
    assert spec["schema"]["decimal"] == ["count", "weight"]  # stored as floats (pandas reads NA so)
    table = gated_table(path, spec)
    assert len(table) == len(typed) - 1


def test_a_decimal_comma_file_is_drafted_with_its_decimals_and_passes_its_own_gates(tmp_path: Path) -> None:
    """`3,25` in a `;` file: numbers, not categories of text (a stranger's wine table once became
    12 categorical columns of every value, and a bad model)."""
    path = write_csv(tmp_path, delimiter=";")
    path.write_text(re.sub(r"(\d)\.(\d)", r"\1,\2", path.read_text()))
    assert sniff_format(path.read_bytes(), "things.csv", "label").decimal == ","
    spec = drafted(path, positive="no")["conf/datasets/things.yaml"]
    assert spec["format"]["decimal"] == "," and spec["schema"]["decimal"] == ["weight"]
    table = gated_table(path, spec)
    assert table["weight"].tolist()[:3] == [1.5, pytest.approx(float("nan"), nan_ok=True), 2.25]
    # a point where the file says comma is no number: the raw gate names it
    path.write_text(path.read_text().replace("2,25", "2.25"))
    with pytest.raises(GateError, match=r"column=weight .*2\.25"):
        gated_table(path, spec)


def test_columns_that_snake_case_makes_one_and_quoted_paths_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "collide.csv"
    path.write_text("A b,a_b,a-b,label\n1,2,3,yes\n4,5,6,no\n7,8,9,no\n")
    with pytest.raises(ConfigError, match=r"columns 'A b', 'a_b', 'a-b' all become 'a_b': rename them"):
        drafted(path)
    with pytest.raises(ValueError, match=r"all become 'a_b'"):
        SourceFormat(columns=["A b", "a_b", "label"])
    with pytest.raises(ValueError, match=r"decimal: ',' is also the delimiter"):
        SourceFormat(columns=["a", "b"], decimal=",")
    quoted = tmp_path / "it's.csv"
    quoted.write_text(write_csv(tmp_path).read_text())
    with pytest.raises(ConfigError, match=r"a single quote in the file's path"):
        drafted(quoted)
