"""The HTTP service's pure parts on tiny frames: the compiled per-row contract against Great
Expectations, request bodies, canary keys, the drift window and the batcher."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from census_income.contracts import rows as row_checks
from census_income.contracts.rows import Failure, RowChecks
from census_income.contracts.suites import input_prepared_suite, input_suite
from census_income.data.prepare import prepare_features
from census_income.errors import RequestError
from census_income.serving.batching import Batcher
from census_income.serving.bodies import TextRows, parse_body
from census_income.serving.reload import bucket
from census_income.serving.scorer import Scored, failing_rows
from census_income.serving.scoring import DriftMonitor, DriftWindow, feature_bins
from tests.unit.conftest import CONTRACT, FORMAT, SCHEMA, raw_part

LABEL = "income"


def delivered(rows: int = 30, seed: int = 1) -> pd.DataFrame:
    """Raw rows as parsed (text, spaces after the delimiter skipped), numbered from 100."""
    frame = raw_part(rows, seed).apply(lambda column: column.str.strip()).drop(columns=[LABEL])
    frame.index = pd.RangeIndex(100, 100 + rows)
    return frame


@pytest.mark.parametrize("value_by_value", [True, False], ids=["few-rows", "pandas"])
def test_compiled_rows_blame_what_great_expectations_blames(
    value_by_value: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(row_checks, "SMALL_ROWS", 64 if value_by_value else 0)
    raw = delivered()
    raw.loc[101, "workclass"] = "Astronaut"
    raw.loc[103, "capital-gain"] = "lots"
    raw.loc[103, "native-country"] = "Atlantis"
    raw.loc[104, "age"] = "4.5"
    raw.loc[106, "native-country"] = "?"  # no missing value allowed there
    raw.loc[107, "workclass"] = "?"  # allowed: the contract's max_missing > 0
    suite = input_suite(FORMAT, SCHEMA, CONTRACT)
    expected, whole = failing_rows(raw, suite)
    assert whole == []
    compiled, whole = RowChecks(suite).failures(raw)
    assert whole == []
    assert sorted({f.row for f in compiled}) == [101, 103, 104, 106]
    assert sorted(map(str, compiled)) == sorted(map(str, expected))
    assert [(f.row, f.field) for f in compiled] == sorted((f.row, f.field) for f in compiled)

    good = raw.drop(index=[101, 103, 104, 106])
    good.loc[102, "age"] = "150"
    good.loc[105, "age"] = "16"
    prepared = prepare_features(good, FORMAT, SCHEMA)
    suite = input_prepared_suite(SCHEMA, CONTRACT)
    expected, whole = failing_rows(prepared, suite)
    assert whole == []
    compiled, whole = RowChecks(suite).failures(prepared)
    assert whole == []
    assert list(map(str, compiled)) == list(map(str, expected))
    assert [str(f) for f in compiled if f.row == 102] == [
        "age=150 outside [17.0, 90.0] (expect_column_values_to_be_between)"
    ]


def test_compiled_rows_fail_the_table_on_missing_columns_and_refuse_data_set_checks() -> None:
    checks = RowChecks(input_suite(FORMAT, SCHEMA, CONTRACT))
    failures, whole = checks.failures(delivered().drop(columns=["age"]))
    assert failures == []
    assert whole == ["expect_table_columns_to_match_set"]
    import great_expectations.expectations as gxe

    with pytest.raises(ValueError, match="not an expectation one row can be checked against"):
        RowChecks([gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=2)])
    with pytest.raises(ValueError, match="`mostly` describes a data set"):
        RowChecks([gxe.ExpectColumnValuesToNotBeNull(column="age", mostly=0.9)])


RECORD = {"age": 39, "workclass": "State-gov", "capital-gain": 2174, "native-country": "United-States"}


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_json_records_become_text_columns_like_a_delivered_file() -> None:
    rows = parse_body(
        body([RECORD, {**RECORD, "workclass": None, LABEL: ">50K"}]), "application/json", FORMAT, LABEL, 10
    )
    assert rows.key is None
    assert rows.frame.to_dict("list") == {
        "age": ["39", "39"],
        "workclass": ["State-gov", "?"],
        "capital-gain": ["2174", "2174"],
        "native-country": ["United-States", "United-States"],
    }
    wrapped = parse_body(
        body({"rows": [RECORD], "key": "client-7"}), "application/json; charset=utf-8", FORMAT, LABEL, 10
    )
    assert wrapped.key == "client-7"
    assert len(wrapped.frame) == 1


def test_csv_bodies_are_read_in_the_data_sets_format_with_or_without_a_header() -> None:
    text = b"39, State-gov, 2174, United-States\n50, Private, 0, Mexico\n"
    plain = parse_body(text, "text/csv", FORMAT, LABEL, 10).frame
    headed = parse_body(b"age,workclass,capital-gain,native-country\n" + text, "text/csv", FORMAT, LABEL, 10).frame
    assert plain["workclass"].tolist() == headed["workclass"].tolist() == ["State-gov", "Private"]
    assert list(headed.index) == [0, 1]


@pytest.mark.parametrize(
    ("content", "kind", "status", "message"),
    [
        (b"", "application/json", 400, "empty body"),
        (b"{not json", "application/json", 400, "malformed JSON"),
        (b"[]", "application/json", 422, "non-empty list of records"),
        (b"<xml/>", "application/xml", 415, "content type 'application/xml'"),
        (body([RECORD] * 11), "application/json", 413, "at most 10 rows"),
        (b"1, Private, 0, Mexico\n" * 11, "text/csv", 413, "at most 10 rows"),
        (body({"rows": [RECORD], "extra": 1}), "application/json", 422, "unknown top-level fields ['extra']"),
    ],
)
def test_bad_bodies_get_their_status_and_message(content: bytes, kind: str, status: int, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_body(content, kind, FORMAT, LABEL, 10)
    assert caught.value.status == status
    assert message in caught.value.detail


def test_wrong_types_unknown_and_missing_fields_name_the_row_and_field() -> None:
    records = [RECORD, {**RECORD, "age": [39]}, {**RECORD, "colour": "red"}, {"age": 40}, "a string"]
    with pytest.raises(RequestError) as caught:
        parse_body(body(records), "application/json", FORMAT, LABEL, 10)
    problem = caught.value
    assert problem.status == 422
    errors = {(e.row, e.field): e.reason for e in problem.errors}
    assert errors[(1, "age")] == "wrong type: expected text or a number"
    assert errors[(2, "colour")] == "unknown field"
    assert errors[(3, "workclass")] == "missing field"
    assert errors[(4, "")].startswith("not an object")
    assert 0 not in {row for row, _ in errors}
    assert problem.body()["errors"][0] == {"row": 1, "field": "age", "value": [39], "reason": errors[(1, "age")]}


def test_a_request_key_always_gets_the_same_bucket_and_shares_hold() -> None:
    keys = [f"client-{i}" for i in range(10_000)]
    assert [bucket(k) for k in keys[:50]] == [bucket(k) for k in keys[:50]]
    share = sum(bucket(k) < 0.1 for k in keys) / len(keys)
    assert 0.09 < share < 0.11


def test_the_drift_window_describes_the_last_rows_only() -> None:
    train = prepare_features(delivered(200, seed=3), FORMAT, SCHEMA)
    bins = feature_bins(train, SCHEMA.categorical, SCHEMA.numeric)
    window = DriftWindow(bins, rows=50)
    old = train.assign(age=np.int64(89))  # everyone 89: a shift
    window.update(old.head(60))
    assert window.psi()["age"] > 1
    for start in range(0, 60, 10):
        window.update(train.iloc[start : start + 10])
    assert window.rows == 50  # the last whole requests that hold at least 50 rows
    recent = DriftMonitor(bins)
    recent.update(train.iloc[10:60])
    assert window.psi()["age"] == pytest.approx(recent.summary()["features"]["age"]["psi"], abs=1e-6)


def test_drift_bins_count_category_codes_as_they_count_text() -> None:
    train = prepare_features(delivered(200, seed=3), FORMAT, SCHEMA)
    bins = {b.name: b for b in feature_bins(train, SCHEMA.categorical, SCHEMA.numeric)}
    served = pd.Series(["Private", None, "Never-worked", "State-gov", "Private", None, "Atlantis"])
    as_category = served.astype("category")
    assert isinstance(as_category.dtype, pd.CategoricalDtype)
    for column in SCHEMA.categorical:
        counts = bins[column].counts(as_category)
        assert counts.tolist() == bins[column].counts(served.astype("string")).tolist()
        assert counts.sum() == len(served) and counts[-2] == 2  # missing, then unseen


@pytest.mark.parametrize("kind", ["frames", "text", "mixed"])
def test_the_batcher_groups_concurrent_requests_and_answers_each_its_own_rows_and_failures(kind: str) -> None:
    passes: list[int] = []

    def process(model: float, rows: pd.DataFrame | TextRows) -> Scored:
        """A stand-in for the scoring path: negative x fails, the rest scores x * model."""
        passes.append(len(rows))
        # a pass of JSON bodies only: their text, numbered from 0; of mixed ones: a frame, text in part
        rows = (rows.frame() if isinstance(rows, TextRows) else rows).astype("int64")
        bad = rows.index[rows["x"] < 0]
        good = rows.drop(index=bad)
        scores = good["x"].to_numpy(dtype="float64") * model
        failures = [Failure(int(row), "x", int(rows.loc[row, "x"]), "negative") for row in bad]
        return Scored(good, scores, (scores > 10).astype("int8"), failures)

    answered: list[tuple[float, list[int]]] = []  # what the drift window is told, per pass
    batcher = Batcher(
        process, max_rows=1000, max_wait=0.2, answered=lambda m, rows: answered.append((m, list(rows["x"])))
    )
    answers: dict[int, Scored] = {}
    sent = {i: pd.DataFrame({"x": [i * 10 + k for k in range(i + 1)]}) for i in range(8)}
    sent[5].loc[2, "x"] = -1

    def client(i: int) -> None:
        as_text = kind == "text" or (kind == "mixed" and i % 3 == 0)
        rows = TextRows({"x": [str(x) for x in sent[i]["x"]]}) if as_text else sent[i]
        answers[i] = batcher.submit(2.0 if i % 2 else 3.0, rows)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(8):
        expected = sent[i]["x"][sent[i]["x"] >= 0]
        np.testing.assert_array_equal(answers[i].scores, expected.to_numpy() * (2.0 if i % 2 else 3.0))
        assert list(answers[i].prepared.index) == list(expected.index)
    assert answers[5].failures == [Failure(2, "x", -1, "negative")]
    assert all(not answers[i].failures for i in range(8) if i != 5)
    assert len(passes) < 8  # grouped (two models: at least two passes)
    assert sum(passes) == sum(i + 1 for i in range(8))
    # once per pass, the rows of the answered requests only: none of request 5, refused for one row
    assert len(answered) == len(passes)
    for model in (2.0, 3.0):
        told = sorted(x for m, rows in answered if m == model for x in rows)
        assert told == sorted(x for i in range(8) if (2.0 if i % 2 else 3.0) == model and i != 5 for x in sent[i]["x"])

    passes.clear()
    answered.clear()
    off = Batcher(
        process, max_rows=1000, max_wait=0.2, enabled=False, answered=lambda m, rows: answered.append((m, []))
    )
    np.testing.assert_array_equal(off.submit(1.0, pd.DataFrame({"x": [1, 2]})).scores, [1, 2])
    off.submit(1.0, pd.DataFrame({"x": [1, -2]}))
    assert passes == [2, 2]
    assert answered == [(1.0, [])]
