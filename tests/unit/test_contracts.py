"""Contracts: every suite on tiny frames (passes on good data, names the right expectation
on bad data), the failure report, mode `warn`, the kept results and the summary file."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from census_income.contracts.gate import Gate, failure_report
from census_income.contracts.inputs import check_split_parts
from census_income.contracts.model_suites import (
    features_suite,
    metrics_suite,
    predictions_suite,
    slice_gap_suite,
    slice_gaps,
)
from census_income.contracts.profile import reference_profile, split_suite
from census_income.contracts.suites import (
    prepared_suite,
    raw_schema_suite,
    raw_suite,
    stored_as_integers,
    table_schema_suite,
    typed_suite,
)
from census_income.contracts.validation import DataValidation, GateMode, MetricsValidation, SplitValidation
from census_income.data.prepare import prepare
from census_income.data.spec import NumericSpec, Schema, SourceFormat
from census_income.errors import GateError
from census_income.modeling.config import FeaturesConfig
from census_income.stages.harness import StageRun
from tests.unit.conftest import CONTRACT, FORMAT, SCHEMA, raw_part

DATA_RULES = DataValidation(max_duplicate_share=0.05)
SPLIT_RULES = SplitValidation(label_rate_tolerance=0.2, quantiles=[0.25, 0.5, 0.75], quantile_tolerance=0.3)
METRICS_RULES = MetricsValidation(
    min_roc_auc=0.8, max_error_rate=0.2, slice_metric="roc_auc", max_slice_gap=0.1, min_slice_rows=10
)


@pytest.fixture(autouse=True)
def gate_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Full results go under tmp_path, never into the project's logs/."""
    folder = tmp_path / "gates"
    monkeypatch.setenv("CENSUS_INCOME_GATE_DIR", str(folder))
    return folder


def delivered(rows: int = 80, seed: int = 1, label_suffix: str = "") -> pd.DataFrame:
    """A raw part as ingest parses it: text, spaces after the delimiter already skipped."""
    return raw_part(rows, seed, label_suffix).apply(lambda column: column.str.strip())


def check(
    suite: str, frame: pd.DataFrame, build: Callable[..., list[Any]], *config: Any, mode: GateMode = "fail"
) -> Gate:
    gate = Gate("unit", mode)
    gate.check(suite, frame, build, *config)
    return gate


def failed(suite: str, frame: pd.DataFrame, build: Callable[..., list[Any]], *config: Any) -> str:
    """The report of a gate that must fail."""
    with pytest.raises(GateError) as caught:
        check(suite, frame, build, *config)
    return str(caught.value)


def first_line(report: str) -> str:
    return report.splitlines()[0]


def failed_lines(report: str) -> list[str]:
    return [line for line in report.splitlines()[1:] if line.startswith("  - ")]


# ------------------------------------------------------------------------ raw
def raw_check(frame: pd.DataFrame, fmt: SourceFormat = FORMAT, schema: Schema = SCHEMA) -> tuple[Any, ...]:
    return (frame, raw_suite, fmt, schema, CONTRACT, DATA_RULES, stored_as_integers(frame, fmt, schema))


def test_missing_and_unexpected_columns_are_named_first() -> None:
    """A missing column was named only through the checks on it, after others (`... on s6`)."""
    line = first_line(failed("raw", *raw_check(delivered().drop(columns=["capital-gain"]).assign(extra="1"))))
    assert line.startswith(
        "gate unit/raw failed: 4 of 15 expectations "
        "(expect_table_columns_to_match_set: missing capital-gain; unexpected extra, "
    ), line


def test_raw_suite_passes_on_delivered_text() -> None:
    gate = check("raw", *raw_check(delivered()))
    assert gate.summary["raw"]["success"] is True
    assert gate.summary["raw"]["evaluated"] == gate.summary["raw"]["passed"] > 10


@pytest.mark.parametrize(
    ("corrupt", "expectation", "offending"),
    [
        pytest.param(
            lambda f: f.drop(columns=["capital-gain"]), "expect_table_columns_to_match_set", None, id="missing-column"
        ),
        pytest.param(lambda f: f.assign(extra="1"), "expect_table_columns_to_match_set", None, id="extra-column"),
        pytest.param(lambda f: f.head(5), "expect_table_row_count_to_be_between", None, id="too-few-rows"),
        pytest.param(
            lambda f: f.assign(age=f["age"].mask(f.index % 10 == 0, "forty")),
            "expect_column_values_to_match_regex column=age",
            '"forty"',
            id="age-as-text",
        ),
        pytest.param(
            lambda f: f.assign(workclass=f["workclass"].mask(f.index % 10 == 0, "Space-agency")),
            "expect_column_values_to_be_in_set column=workclass",
            '"Space-agency"',
            id="unseen-category",
        ),
        pytest.param(
            lambda f: f.assign(**{"native-country": f["native-country"].mask(f.index % 10 == 0, "?")}),
            "expect_column_values_to_not_be_in_set column=native-country",
            '"?"',
            id="missing-burst",
        ),
        pytest.param(
            lambda f: f.assign(income=f["income"].replace({">50K": "rich"})),
            "expect_column_values_to_be_in_set column=income",
            '"rich"',
            id="label-set",
        ),
        pytest.param(
            lambda f: pd.concat([f, f.head(20)], ignore_index=True),
            "expect_compound_columns_to_be_unique",
            None,
            id="duplicate-burst",
        ),
        pytest.param(
            lambda f: f.assign(income=f["income"].mask(f.index == 3, None)),
            "expect_column_values_to_not_be_null column=income",
            None,
            id="null-value",
        ),
    ],
)
def test_raw_suite_names_the_broken_expectation(
    corrupt: Callable[[pd.DataFrame], pd.DataFrame], expectation: str, offending: str | None
) -> None:
    report = failed("raw", *raw_check(corrupt(delivered())))
    assert first_line(report).startswith("gate unit/raw failed: ")
    line = next(line for line in failed_lines(report) if expectation in line)
    if offending:
        assert f"e.g. [{offending}" in line


def test_raw_suite_checks_the_stored_type_of_a_typed_source() -> None:
    """A Parquet source stores numbers as integers: their type is checked, not their text."""
    typed = delivered().astype({"age": "int64", "capital-gain": "int64"})
    assert stored_as_integers(typed, FORMAT, SCHEMA) == {"age", "capital-gain"}
    check("raw", *raw_check(typed))
    floats = typed.astype({"age": "float64"})
    report = failed("raw", floats, raw_suite, FORMAT, SCHEMA, CONTRACT, DATA_RULES, frozenset({"age", "capital-gain"}))
    assert "expect_column_type_to_be column=age" in report
    assert '"type_": "int64"' in report


def test_raw_suite_takes_its_columns_from_the_format_not_from_adult() -> None:
    """Another data set: different names, the same machinery."""
    fmt = SourceFormat(columns=["Age", "Work Class", "Gain", "Country", "Label"])
    frame = delivered().set_axis(fmt.columns, axis=1)
    schema = SCHEMA.model_copy(update={"label": SCHEMA.label.model_copy(update={"column": "Label"})})
    contract = CONTRACT.model_copy(
        update={
            "categorical": {
                "work_class": CONTRACT.categorical["workclass"],
                "country": CONTRACT.categorical["native_country"],
            }
        }
    )
    schema = schema.model_copy(update={"categorical": ["work_class", "country"], "numeric": ["age", "gain"]})
    check("raw", frame, raw_suite, fmt, schema, contract, DATA_RULES)
    bad = frame.assign(Country="Atlantis")
    with pytest.raises(GateError, match="expect_column_values_to_be_in_set column=Country"):
        check("raw", bad, raw_suite, fmt, schema, contract, DATA_RULES)


# ------------------------------------------------------------------- prepared
@pytest.fixture
def table() -> pd.DataFrame:
    return prepare({"train": delivered(80, 1), "test": delivered(40, 2, ".")}, FORMAT, SCHEMA)


def test_prepared_suite_passes_on_the_prepared_table(table: pd.DataFrame) -> None:
    gate = check("prepared", table, prepared_suite, SCHEMA, CONTRACT, DATA_RULES)
    assert gate.summary["prepared"]["success"] is True


@pytest.mark.parametrize(
    ("corrupt", "expectation"),
    [
        pytest.param(
            lambda t: t.assign(age=t["age"].mask(t.index % 10 == 0, 120)),
            "expect_column_values_to_be_between column=age",
            id="age-out-of-range",
        ),
        pytest.param(
            lambda t: t.assign(capital_gain=t["capital_gain"].mask(t.index == 0, -1)),
            "expect_column_values_to_be_between column=capital_gain",
            id="negative-number",
        ),
        pytest.param(
            lambda t: t.assign(income=t["income"].mask(t.index % 4 != 0, 1)),
            "expect_column_mean_to_be_between column=income",
            id="label-rate",
        ),
        pytest.param(
            lambda t: t.assign(row_id=t["row_id"] // 2), "expect_column_values_to_be_unique column=row_id", id="row-id"
        ),
        pytest.param(
            lambda t: t.assign(age=t["age"].astype("float64")),
            "expect_column_type_to_be column=age",
            id="age-as-float",
        ),
        pytest.param(
            lambda t: t.assign(native_country=t["native_country"].mask(t.index % 5 == 0)),
            "expect_column_values_to_not_be_null column=native_country",
            id="missing-share",
        ),
        pytest.param(
            lambda t: t[[c for c in t.columns if c != "part"]],
            "expect_table_columns_to_match_ordered_list",
            id="column-list",
        ),
    ],
)
def test_prepared_suite_names_the_broken_expectation(
    table: pd.DataFrame, corrupt: Callable[[pd.DataFrame], pd.DataFrame], expectation: str
) -> None:
    report = failed("prepared", corrupt(table), prepared_suite, SCHEMA, CONTRACT, DATA_RULES)
    assert any(expectation in line for line in failed_lines(report)), report


def test_typed_suite_checks_what_only_the_typed_form_shows(table: pd.DataFrame) -> None:
    check("typed", table, typed_suite, SCHEMA, CONTRACT, DATA_RULES)
    report = failed(
        "typed",
        table.assign(age=table["age"].mask(table.index % 10 == 0, 120)),
        typed_suite,
        SCHEMA,
        CONTRACT,
        DATA_RULES,
    )
    assert "expect_column_values_to_be_between column=age" in report
    flipped = table.assign(income=1)
    assert "expect_column_mean_to_be_between column=income" in failed(
        "typed", flipped, typed_suite, SCHEMA, CONTRACT, DATA_RULES
    )
    assert len(typed_suite(SCHEMA, CONTRACT, DATA_RULES)) < len(prepared_suite(SCHEMA, CONTRACT, DATA_RULES))


def test_schema_suites_check_columns_and_dtypes_only(table: pd.DataFrame) -> None:
    """What a stage reads from an output dvc.lock pins: values are not looked at, dtypes are."""
    out_of_range = table.assign(age=table["age"].mask(table.index % 10 == 0, 120))
    gate = check("prepared", out_of_range, table_schema_suite, SCHEMA)
    assert gate.summary["prepared"]["evaluated"] < len(prepared_suite(SCHEMA, CONTRACT, DATA_RULES))
    report = failed("prepared", table.assign(age=table["age"].astype("float64")), table_schema_suite, SCHEMA)
    assert "expect_column_type_to_be column=age" in report
    assert "expect_table_row_count_to_be_between" in failed("prepared", table.iloc[:0], table_schema_suite, SCHEMA)
    check("raw-train", delivered(), raw_schema_suite, FORMAT)
    assert "expect_table_columns_to_match_set" in failed("raw-train", delivered().iloc[:, 1:], raw_schema_suite, FORMAT)


def test_a_suite_checked_on_every_chunk_adds_up_in_one_summary_entry(table: pd.DataFrame) -> None:
    gate = Gate("unit", "fail")
    for chunk in (table.iloc[:60], table.iloc[60:]):
        gate.check("prepared", chunk, table_schema_suite, SCHEMA)
    single = len(table_schema_suite(SCHEMA))
    assert gate.summary["prepared"] == {"evaluated": 2 * single, "passed": 2 * single, "success": True, "chunks": 2}
    with pytest.raises(GateError, match="expect_column_type_to_be column=age"):
        gate.check("prepared", table.assign(age=table["age"].astype("float64")), table_schema_suite, SCHEMA)


# ---------------------------------------------------------------------- split
def test_split_suite_passes_when_parts_agree_with_train(splits: dict[str, pd.DataFrame]) -> None:
    for name, part in splits.items():
        check(f"split-{name}", part, split_suite, splits["train"], SCHEMA, CONTRACT, SPLIT_RULES)


def test_split_suite_catches_a_shift_against_train(splits: dict[str, pd.DataFrame]) -> None:
    shifted = splits["test"].assign(age=(splits["test"]["age"] + 30).clip(upper=90))
    report = failed("split-test", shifted, split_suite, splits["train"], SCHEMA, CONTRACT, SPLIT_RULES)
    assert "expect_column_quantile_values_to_be_between column=age" in report
    assert "observed=" in report  # the shifted quantiles are shown


def test_split_suite_catches_a_label_rate_far_from_train(splits: dict[str, pd.DataFrame]) -> None:
    positive = splits["test"].assign(income=splits["test"]["income"].mask(splits["test"].index > 1, 1))
    report = failed("split-test", positive, split_suite, splits["train"], SCHEMA, CONTRACT, SPLIT_RULES)
    assert "expect_column_mean_to_be_between column=income" in report


def test_split_parts_are_held_to_one_profile_of_train(splits: dict[str, pd.DataFrame]) -> None:
    """Train is profiled once for all parts (its quantiles are the dear part), and a shifted part still fails."""
    profiled: list[int] = []

    def counting(reference: pd.DataFrame, label: str, columns: list[str], quantiles: list[float]) -> Any:
        profiled.append(len(reference))
        return reference_profile(reference, label, columns, quantiles)

    cfg: Any = SimpleNamespace(schema_=SCHEMA, contract=CONTRACT, split_rules=SPLIT_RULES)
    gate = Gate("unit", "fail")
    check_split_parts(gate, splits, cfg, counting)
    assert profiled == [len(splits["train"])]
    assert [gate.summary[f"split-{name}"]["success"] for name in splits] == [True, True, True]
    shifted = {**splits, "test": splits["test"].assign(age=(splits["test"]["age"] + 30).clip(upper=90))}
    with pytest.raises(GateError, match="gate unit/split-test failed"):
        check_split_parts(Gate("unit", "fail"), shifted, cfg, counting)


# ------------------------------------------------------- features, predictions
@pytest.fixture
def features(splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig) -> pd.DataFrame:
    from census_income.modeling.features import featurize, fit_featurizer

    return featurize(fit_featurizer(splits["train"], features_cfg, SCHEMA), splits["train"], SCHEMA)


def test_features_suite(features: pd.DataFrame) -> None:
    columns = list(features.columns)
    check("features", features, features_suite, columns, len(features), SCHEMA)
    report = failed("features", features.head(-1), features_suite, columns, len(features), SCHEMA)
    assert "expect_table_row_count_to_be_between" in report
    holed = features.assign(age=features["age"].mask(features.index == 0))
    assert "expect_column_values_to_not_be_null column=age" in failed(
        "features", holed, features_suite, columns, len(features), SCHEMA
    )


def test_predictions_suite() -> None:
    scores = pd.DataFrame({"score": [0.0, 0.25, 0.5, 1.0]})
    check("predictions", scores, predictions_suite, 4)
    report = failed("predictions", pd.DataFrame({"score": [0.1, 1.5, -0.2, 0.3]}), predictions_suite, 4)
    line = next(line for line in failed_lines(report) if "expect_column_values_to_be_between column=score" in line)
    assert "unexpected=2" in line and "1.5" in line and "-0.2" in line


# -------------------------------------------------------------------- metrics
def test_metrics_suite_is_the_model_quality_gate() -> None:
    check("metrics", pd.DataFrame([{"roc_auc": 0.9, "error_rate": 0.15}]), metrics_suite, METRICS_RULES)
    report = failed("metrics", pd.DataFrame([{"roc_auc": 0.7, "error_rate": 0.15}]), metrics_suite, METRICS_RULES)
    assert "expect_column_values_to_be_between column=roc_auc" in report
    assert '"min_value": 0.8' in report and "e.g. [0.7]" in report
    assert "error_rate" not in report.split("\n", 1)[1]  # only the failed expectation is listed


def test_slice_gaps_leave_out_small_slices_and_gate_the_rest() -> None:
    overall = {"roc_auc": 0.9}
    slices = {
        "sex": {"Male": {"rows": 50, "roc_auc": 0.88}, "Female": {"rows": 40, "roc_auc": 0.75}},
        "race": {"Other": {"rows": 5, "roc_auc": 0.2}},  # too small to gate
    }
    gaps = slice_gaps(slices, overall, METRICS_RULES)
    assert list(gaps["slice"]) == ["sex=Male", "sex=Female"]
    assert gaps["gap"].tolist() == pytest.approx([0.02, 0.15])
    report = failed("slices", gaps, slice_gap_suite, METRICS_RULES)
    assert "expect_column_values_to_be_between column=gap" in report and "e.g. [0.15]" in report
    check("slices", gaps.head(1), slice_gap_suite, METRICS_RULES)


# ---------------------------------------------------------- report and modes
def test_failure_report_format(gate_dir: Path) -> None:
    """First line: stage, suite, how many failed and which; then one line per failed
    expectation with column, observed/unexpected, a few offending values and what was
    expected; last, where the full result is."""
    frame = delivered()
    frame["workclass"] = [f"Bad-{i}" for i in range(len(frame))]
    frame["age"] = frame["age"].mask(frame.index == 7, "x")
    report = failed("raw", *raw_check(frame))
    lines = report.splitlines()
    assert lines[0] == (
        "gate unit/raw failed: 2 of 15 expectations (expect_column_values_to_match_regex on age, "
        "expect_column_values_to_be_in_set on workclass)"
    )
    assert len(failed_lines(report)) == 2
    workclass = next(line for line in lines if "expect_column_values_to_be_in_set column=workclass" in line)
    assert "unexpected=80 (100.00%)" in workclass
    assert 'e.g. ["Bad-0", "Bad-1", "Bad-2", "Bad-3", "Bad-4"]' in workclass  # five offending values, no more
    assert '"Bad-5"' not in workclass
    assert 'expected {"value_set": ["Private", "State-gov", "Self-emp-inc", "?"]}' in workclass
    age = next(line for line in lines if "column=age" in line)
    assert 'e.g. ["x"]' in age and "unexpected=1 " in age
    assert lines[-1] == f"  full result: {gate_dir / 'unit' / 'raw.json'}"


def test_failure_report_shows_the_observed_value_of_an_aggregate() -> None:
    table = pd.DataFrame({"roc_auc": [0.5], "error_rate": [0.4]})
    report = failed("metrics", table, metrics_suite, METRICS_RULES)
    assert first_line(report).startswith("gate unit/metrics failed: 2 of 2 expectations (")
    assert "column=error_rate" in report and 'expected {"min_value": 0.0, "max_value": 0.2' in report


def test_failure_report_lists_at_most_three_names_on_the_first_line() -> None:
    results = [
        {
            "success": False,
            "expectation_config": {"type": f"expect_{i}", "kwargs": {"column": f"c{i}"}},
            "result": {"observed_value": i},
        }
        for i in range(5)
    ]
    report = failure_report("stage", "suite", results, Path("logs/gates/stage/suite.json"))
    lines = report.splitlines()
    assert lines[0] == (
        "gate stage/suite failed: 5 of 5 expectations (expect_0 on c0, expect_1 on c1, expect_2 on c2, ...)"
    )
    assert lines[1] == "  - expect_0 column=c0 observed=0 expected {}"
    assert len(lines) == 7


def test_failure_report_shows_distinct_offending_values_and_where_they_are() -> None:
    """One bad value in every row is one offending value, not five copies of it; a share of
    a few rows in many never reads as 0.00%."""
    result = {
        "success": False,
        "expectation_config": {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "workclass"}},
        "result": {
            "unexpected_count": 3,
            "unexpected_percent": 3 / 32561 * 100,
            "partial_unexpected_list": ["Space-agency", "Space-agency", "Moon", "Space-agency"],
            "partial_unexpected_index_list": [0, 48, 123],
        },
    }
    line = failure_report("ingest", "raw", [result], Path("r.json")).splitlines()[1]
    assert 'unexpected=3 (<0.01%) e.g. ["Space-agency", "Moon"] at rows [0, 48, 123]' in line


def test_full_result_is_kept_as_json(gate_dir: Path) -> None:
    with pytest.raises(GateError):
        check("predictions", pd.DataFrame({"score": [2.0]}), predictions_suite, 1)
    saved = json.loads((gate_dir / "unit" / "predictions.json").read_text())
    assert saved["success"] is False
    assert saved["suite_name"] == "unit.predictions"
    assert saved["statistics"]["evaluated_expectations"] == 3
    assert {r["expectation_config"]["type"] for r in saved["results"] if not r["success"]} == {
        "expect_column_values_to_be_between"
    }


def test_warn_mode_logs_the_report_and_goes_on(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    bad = pd.DataFrame({"score": [0.5, 7.0]})
    with caplog.at_level(logging.INFO, logger="census_income"):
        gate = check("predictions", bad, predictions_suite, 2, mode="warn")
        gate.check("metrics", pd.DataFrame([{"roc_auc": 0.95, "error_rate": 0.1}]), metrics_suite, METRICS_RULES)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("gate unit/predictions failed: 1 of 3 expectations")
    assert gate.summary == {
        "predictions": {"evaluated": 3, "passed": 2, "success": False},
        "metrics": {"evaluated": 2, "passed": 2, "success": True},
    }
    gate.write_summary(tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text()) == gate.summary


def test_summary_counts_every_suite_and_times_the_gate(tmp_path: Path) -> None:
    run = StageRun(stage="unit")
    assert (run.gate, run.gate_seconds) == ("none", 0)
    gate = run.watch(Gate("unit", "fail"))
    gate.check("predictions", pd.DataFrame({"score": [0.5]}), predictions_suite, 1)
    gate.check("metrics", pd.DataFrame([{"roc_auc": 0.95, "error_rate": 0.1}]), metrics_suite, METRICS_RULES)
    path = tmp_path / "reports" / "gates" / "unit.json"
    gate.write_summary(path)
    text = path.read_text()
    assert json.loads(text) == {
        "metrics": {"evaluated": 2, "passed": 2, "success": True},
        "predictions": {"evaluated": 3, "passed": 3, "success": True},
    }
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"  # stable bytes for DVC
    assert gate.outcome() == run.gate == "predictions 3/3, metrics 2/2"  # the harness logs what the gate kept
    assert run.gate_seconds == gate.seconds > 0


def test_contract_modules_do_not_import_great_expectations() -> None:
    """Great Expectations (seconds to import) loads only when a gate runs."""
    code = (
        "import sys, census_income.contracts.gate, census_income.contracts.suites, "
        "census_income.stages.ingest, census_income.stages.evaluate; "
        "sys.exit('great_expectations' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_gate_imports_great_expectations_in_the_background_and_checks_while_it_runs() -> None:
    """Making a gate starts the import in a thread; a check made at once, in a fresh process (the
    import still under way), waits for it rather than importing Great Expectations' circular
    modules a second time beside it (which failed with a half-made module)."""
    code = (
        "import sys, threading, pandas as pd\n"
        "from census_income.contracts.gate import Gate, start_import\n"
        "from census_income.contracts.model_suites import predictions_suite\n"
        "gate = Gate('unit', 'fail')\n"
        "thread = start_import()\n"
        "assert thread is not threading.main_thread() and start_import() is thread\n"
        "gate.check('predictions', pd.DataFrame({'score': [0.5]}), predictions_suite, 1)\n"
        "assert not thread.is_alive() and gate.summary['predictions']['success']\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


# ------------------------------------------------- decimal and missing numbers
DECIMAL_SCHEMA = SCHEMA.model_copy(update={"decimal": ["age"], "nullable": ["capital_gain"]})
DECIMAL_CONTRACT = CONTRACT.model_copy(
    update={
        "numeric": {
            "age": NumericSpec(min=16.5, max=90.5, max_missing=0.1),
            "capital_gain": NumericSpec(min=0, max=99999, max_missing=0.1),
        }
    }
)


def with_decimals(frame: pd.DataFrame, missing_every: int = 20) -> pd.DataFrame:
    """Ages with a fraction, and every `missing_every`-th age and gain missing (`?`)."""
    gaps = frame.index % missing_every == 0
    return frame.assign(
        age=(frame["age"] + ".5").mask(gaps, "?"), **{"capital-gain": frame["capital-gain"].mask(gaps, "?")}
    )


def decimal_raw_check(frame: pd.DataFrame) -> tuple[Any, ...]:
    typed = stored_as_integers(frame, FORMAT, DECIMAL_SCHEMA)
    return (frame, raw_suite, FORMAT, DECIMAL_SCHEMA, DECIMAL_CONTRACT, DATA_RULES, typed)


def test_decimal_and_missing_numbers_pass_up_to_their_declared_share() -> None:
    raw = with_decimals(delivered())
    check("raw", *decimal_raw_check(raw))
    table = prepare({"train": raw}, FORMAT, DECIMAL_SCHEMA)
    check("prepared", table, prepared_suite, DECIMAL_SCHEMA, DECIMAL_CONTRACT, DATA_RULES)
    check("schema", table, table_schema_suite, DECIMAL_SCHEMA)


def test_more_missing_numbers_than_declared_fail_the_raw_and_prepared_gates() -> None:
    raw = with_decimals(delivered(), missing_every=4)
    report = failed("raw", *decimal_raw_check(raw))
    assert "expect_column_values_to_not_be_in_set column=age" in report
    table = prepare({"train": raw}, FORMAT, DECIMAL_SCHEMA)
    report = failed("prepared", table, prepared_suite, DECIMAL_SCHEMA, DECIMAL_CONTRACT, DATA_RULES)
    assert "expect_column_values_to_not_be_null column=capital_gain" in report


def test_a_decimal_in_an_integer_column_fails_the_raw_gate_naming_it() -> None:
    raw = delivered().assign(age=lambda f: f["age"].mask(f.index == 3, "40.5"))
    report = failed("raw", *raw_check(raw))
    line = next(line for line in failed_lines(report) if "expect_column_values_to_match_regex column=age" in line)
    assert 'e.g. ["40.5"] at rows [3]' in line


def test_a_typed_decimal_source_is_checked_by_its_stored_type() -> None:
    typed = delivered().astype({"age": "float64", "capital-gain": "int64"})
    assert stored_as_integers(typed, FORMAT, DECIMAL_SCHEMA) == {"age", "capital-gain"}
    check("raw", *decimal_raw_check(typed))


def test_rows_without_a_label_fail_the_raw_gate_unless_dropped() -> None:
    raw = delivered().assign(income=lambda f: f["income"].mask(f.index == 5, "?"))
    line = next(line for line in failed_lines(failed("raw", *raw_check(raw))) if "column=income" in line)
    assert 'e.g. ["?"] at rows [5]' in line
    dropping = SCHEMA.model_copy(update={"label": SCHEMA.label.model_copy(update={"missing": "drop"})})
    check("raw", *raw_check(raw, schema=dropping))
