"""Batch scoring on tiny frames: PSI and the drift monitor, chunked reading and scoring against
one pass, shadow disagreement counting, the input contract row by row, the quality-gate check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from census_income.contracts.gate import Gate
from census_income.contracts.suites import input_prepared_suite, input_suite
from census_income.data.prepare import prepare_features
from census_income.errors import GateError
from census_income.modeling.config import EvaluateConfig
from census_income.modeling.features import fit_featurizer
from census_income.modeling.models import build_estimator, fit_model, scoring_pipeline
from census_income.serving.predict import gate_keep, rejected_rows
from census_income.serving.reading import input_digest, names_header, read_chunks
from census_income.serving.registry import gate_failures
from census_income.serving.scorer import ScoringConfig, checked_rows, failing_rows
from census_income.serving.scoring import (
    MISSING,
    PSI_DRIFT,
    PSI_MODERATE,
    UNSEEN,
    DriftMonitor,
    ShadowComparison,
    drift_status,
    feature_bins,
    psi,
    score,
)
from tests.unit.conftest import CONTRACT, FORMAT, SCHEMA, SMALL_MODELS, raw_part

CFG = ScoringConfig.model_validate(
    {"format": FORMAT, "schema": SCHEMA, "contract": CONTRACT, "evaluate": EvaluateConfig(), "slices": ["workclass"]}
)


@pytest.fixture(autouse=True)
def gate_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Full gate results go under tmp_path, never into the project's logs/."""
    folder = tmp_path / "gates"
    monkeypatch.setenv("CENSUS_INCOME_GATE_DIR", str(folder))
    return folder


def delivered_text(rows: int, seed: int) -> str:
    """Rows as a headerless source file holds them (`, ` after each delimiter), with a comment line."""
    frame = raw_part(rows, seed)
    lines = [", ".join(str(v).strip() for v in row) for row in frame.itertuples(index=False)]
    return "|a comment line, as adult.test starts with\n" + "\n".join(lines) + "\n"


def checked(raw: pd.DataFrame, skip: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """`predict`'s gate on one chunk: prepared rows, and the rejected rows (None: none)."""
    prepared, failures = checked_rows(raw, CFG, gate_keep(Gate("unit", "fail"), skip))
    return prepared, rejected_rows(raw, failures, "income") if failures else None


# ------------------------------------------------------------------------ PSI
def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    expected = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(expected, expected * 40) == pytest.approx(0.0)  # counts or shares: same index
    small = psi(expected, np.array([0.3, 0.2, 0.25, 0.25]))
    large = psi(expected, np.array([0.7, 0.1, 0.1, 0.1]))
    assert 0 < small < PSI_MODERATE
    assert large > PSI_DRIFT
    # an empty bin gives a large but finite index
    assert np.isfinite(psi(expected, np.array([0.0, 0.0, 0.5, 0.5])))


def test_drift_status_thresholds() -> None:
    assert [drift_status(v) for v in (0.05, 0.1, 0.2, 0.25, 3.0)] == [
        "stable",
        "moderate",
        "moderate",
        "drift",
        "drift",
    ]
    assert drift_status(0.2, threshold=0.15) == "drift"


def train_frame(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(20, 60, rows).astype("int64"),
            "capital_gain": np.where(rng.random(rows) < 0.9, 0, rng.integers(1, 5000, rows)).astype("int64"),
            "workclass": pd.Categorical(rng.choice(["Private", "State-gov", None], rows, p=[0.7, 0.2, 0.1])),
        }
    )


def test_drift_monitor_flags_a_shifted_feature_only() -> None:
    train = train_frame()
    bins = feature_bins(train, categorical=["workclass"], numeric=["age", "capital_gain"])
    same = DriftMonitor(bins)
    same.update(train_frame(seed=1))
    assert same.summary()["drifted"] == []
    shifted = train_frame(seed=1).assign(age=lambda f: f["age"] + 30)
    monitor = DriftMonitor(bins)
    monitor.update(shifted)
    summary = monitor.summary()
    assert summary["drifted"] == ["age"]
    assert next(iter(summary["features"])) == "age"  # largest first
    assert summary["features"]["capital_gain"]["status"] == "stable"
    assert summary["rows"] == len(shifted)


def test_zero_inflated_numbers_keep_a_bin_for_the_tied_value() -> None:
    """capital_gain is 0 in 90% of rows: 0 gets its own bin, so a batch without any gain drifts."""
    train = train_frame()
    (gain,) = [b for b in feature_bins(train, [], ["capital_gain"]) if b.name == "capital_gain"]
    assert gain.labels[0] == "<= 0"
    assert gain.expected[0] == pytest.approx((train["capital_gain"] == 0).mean())
    monitor = DriftMonitor([gain])
    monitor.update(train.assign(capital_gain=np.int64(4000)))
    assert monitor.summary()["drifted"] == ["capital_gain"]


def test_categories_count_missing_and_unseen_values_apart() -> None:
    (workclass,) = feature_bins(train_frame(), ["workclass"], [])
    batch = pd.Series(pd.Categorical(["Private", None, "Astronaut", "Private"]))
    counts = dict(zip(workclass.labels, workclass.counts(batch), strict=True))
    assert counts == {"Private": 2, "State-gov": 0, MISSING: 1, UNSEEN: 1}


def test_chunked_drift_counts_equal_one_pass() -> None:
    train = train_frame()
    bins = feature_bins(train, ["workclass"], ["age", "capital_gain"])
    batch = train_frame(seed=3)
    whole, chunked = DriftMonitor(bins), DriftMonitor(bins)
    whole.update(batch)
    for start in range(0, len(batch), 333):
        chunked.update(batch.iloc[start : start + 333])
    assert chunked.summary() == whole.summary()


# ----------------------------------------------------------- chunked scoring
@pytest.fixture
def model(prepared: pd.DataFrame, features_cfg: Any) -> Any:
    from census_income.modeling.features import featurize

    featurizer = fit_featurizer(prepared, features_cfg, SCHEMA)
    estimator = fit_model(
        featurize(featurizer, prepared, SCHEMA), SCHEMA.target, build_estimator(SMALL_MODELS["random_forest"], 0)
    )
    return scoring_pipeline(featurizer, estimator)


def test_read_chunks_cuts_at_line_ends_and_numbers_rows(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(delivered_text(50, seed=4), encoding="utf-8")
    whole = pd.concat(read_chunks(str(source), FORMAT, "income", chunk_rows=1000))
    chunks = list(read_chunks(str(source), FORMAT, "income", chunk_rows=7))
    assert [len(c) for c in chunks] == [7] * 7 + [1]
    assert [c.index[0] for c in chunks] == list(range(0, 50, 7))
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    assert list(whole.index) == list(range(50))
    assert list(whole.columns) == FORMAT.columns


@pytest.mark.parametrize("label", [True, False], ids=["with-label", "without-label"])
def test_a_header_row_in_a_headerless_format_is_read_as_the_header(tmp_path: Path, label: bool) -> None:
    """An ordinary CSV whose first row names the columns (in another order, as `to_csv` may
    write them) scores like the headerless file: the names are not taken for a row of values."""
    plain, headed = tmp_path / "plain.csv", tmp_path / "headed.csv"
    text = delivered_text(30, seed=5)
    plain.write_text(text, encoding="utf-8")
    table = pd.concat(read_chunks(str(plain), FORMAT, "income"))
    columns = list(reversed(FORMAT.columns)) if label else [c for c in FORMAT.columns if c != "income"]
    table[columns].to_csv(headed, index=False)
    assert names_header(headed.read_bytes().splitlines()[0], FORMAT)
    assert not names_header(plain.read_bytes().splitlines()[0], FORMAT)
    read = pd.concat(read_chunks(str(headed), FORMAT, "income", chunk_rows=7))
    assert list(read.index) == list(range(30))
    pd.testing.assert_frame_equal(read[columns], table[columns].astype(read[columns].dtypes.to_dict()))
    assert input_digest(str(headed), FORMAT)[1] == 30


def test_read_chunks_reads_parquet_by_batches_with_its_stored_types(tmp_path: Path) -> None:
    frame = raw_part(25, seed=8).apply(lambda column: column.str.strip()).assign(age=lambda f: f["age"].astype("int64"))
    source = tmp_path / "rows.parquet"
    frame.to_parquet(source, index=False)
    chunks = list(read_chunks(str(source), FORMAT, "income", chunk_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert list(whole.index) == list(range(25))
    assert whole["age"].dtype == "int64"
    assert whole["workclass"].tolist() == frame["workclass"].tolist()
    # a stored integer type passes the input contract's type check instead of the text format check
    prepared, bad = checked(chunks[1], skip=False)
    assert bad is None
    assert list(prepared.index) == list(range(10, 20))
    assert prepared["age"].tolist() == frame["age"].iloc[10:20].tolist()


def test_a_file_without_the_label_column_gets_the_other_names(tmp_path: Path) -> None:
    source = tmp_path / "unlabelled.csv"
    text = delivered_text(10, seed=5)
    source.write_text("\n".join(line.rsplit(",", 1)[0] for line in text.splitlines()) + "\n", encoding="utf-8")
    (frame,) = read_chunks(str(source), FORMAT, "income")
    assert list(frame.columns) == [c for c in FORMAT.columns if c != "income"]


def test_chunked_scoring_gives_the_same_predictions_as_one_pass(tmp_path: Path, model: Any) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(delivered_text(60, seed=6), encoding="utf-8")

    def scores(chunk_rows: int) -> np.ndarray:
        parts = []
        for raw in read_chunks(str(source), FORMAT, "income", chunk_rows):
            prepared, bad = checked(raw, skip=False)
            assert bad is None
            parts.append(score(model, prepared))
        return np.concatenate(parts)

    one_pass = scores(1000)
    assert len(one_pass) == 60
    np.testing.assert_array_equal(scores(11), one_pass)


# ------------------------------------------------------------------ shadow
def test_shadow_counts_disagreements_overall_by_slice_and_by_score_band() -> None:
    prepared = pd.DataFrame(
        {"workclass": pd.Categorical(["Private", "Private", "State-gov", None])}, index=[10, 11, 12, 13]
    )
    primary = np.array([0.10, 0.60, 0.40, 0.95])
    shadow = np.array([0.20, 0.40, 0.60, 0.90])
    compare = ShadowComparison(primary_threshold=0.5, shadow_threshold=0.5, slices=["workclass"])
    compare.update(prepared.iloc[:2], primary[:2], shadow[:2])  # two chunks
    compare.update(prepared.iloc[2:], primary[2:], shadow[2:])
    summary = compare.summary()
    assert (summary["rows"], summary["disagreements"], summary["rate"]) == (4, 2, 0.5)
    assert summary["example_rows"] == [11, 12]
    assert summary["by_slice"]["workclass"] == {
        "Private": {"rows": 2, "disagreements": 1, "rate": 0.5},
        "State-gov": {"rows": 1, "disagreements": 1, "rate": 1.0},
        MISSING: {"rows": 1, "disagreements": 0, "rate": 0.0},
    }
    assert summary["by_score_band"]["0.6-0.7"] == {"rows": 1, "disagreements": 1, "rate": 1.0}
    assert summary["mean_abs_score_diff"] == pytest.approx(np.mean(np.abs(primary - shadow)))
    assert summary["positive_rate"] == {"primary": 0.5, "shadow": 0.5}


def test_shadow_uses_each_models_own_threshold() -> None:
    prepared = pd.DataFrame({"workclass": pd.Categorical(["Private"] * 2)})
    compare = ShadowComparison(primary_threshold=0.5, shadow_threshold=0.3, slices=[])
    compare.update(prepared, np.array([0.4, 0.2]), np.array([0.4, 0.2]))
    assert compare.summary()["disagreements"] == 1


# --------------------------------------------------------- the input contract
def delivered(rows: int = 30, seed: int = 1) -> pd.DataFrame:
    """Raw rows as parsed (text, spaces after the delimiter skipped), numbered from 100."""
    frame = raw_part(rows, seed).apply(lambda column: column.str.strip())
    frame.index = pd.RangeIndex(100, 100 + rows)
    return frame


def test_input_suite_needs_no_label_and_passes_on_good_rows() -> None:
    raw = delivered().drop(columns=["income"])
    Gate("unit", "fail").check("input", raw, input_suite, FORMAT, SCHEMA, CONTRACT)
    typed = prepare_features(raw, FORMAT, SCHEMA)
    assert list(typed.index) == list(raw.index)
    Gate("unit", "fail").check("typed", typed, input_prepared_suite, SCHEMA, CONTRACT)


def test_bad_rows_refuse_the_batch_by_default_with_the_report() -> None:
    raw = delivered()
    raw.loc[103, "age"] = "150"
    with pytest.raises(GateError, match=r"expect_column_values_to_be_between column=age .*at rows \[103\]"):
        checked(raw, skip=False)


def test_skip_scores_the_good_rows_and_gives_each_bad_row_its_reasons() -> None:
    raw = delivered()
    raw.loc[103, "age"] = "150"  # out of range: seen on typed rows
    raw.loc[105, "workclass"] = "Astronaut"  # not allowed: seen on the text
    raw.loc[107, "capital-gain"] = "lots"  # not a number
    raw.loc[107, "native-country"] = "Atlantis"
    prepared, bad = checked(raw, skip=True)
    assert bad is not None
    assert list(bad["row"]) == [103, 105, 107]
    assert "income" not in bad.columns
    reasons = dict(zip(bad["row"], bad["reasons"], strict=True))
    assert reasons[103] == "age=150 outside [17.0, 90.0] (expect_column_values_to_be_between)"
    assert reasons[105].startswith("workclass='Astronaut' not an allowed value")
    assert "capital-gain='lots' does not match" in reasons[107]
    assert "native-country='Atlantis' not an allowed value" in reasons[107]
    assert list(prepared.index) == [r for r in range(100, 130) if r not in (103, 105, 107)]


def test_a_missing_column_cannot_be_skipped_row_by_row() -> None:
    raw = delivered().drop(columns=["native-country"])
    with pytest.raises(GateError, match=r"no single row to skip for: .*expect_table_columns_to_match_set"):
        checked(raw, skip=True)


def test_failing_rows_reads_great_expectations_unexpected_index_list() -> None:
    raw = delivered(10).drop(columns=["income"])
    raw.loc[[101, 104], "workclass"] = "Astronaut"
    failures, whole = failing_rows(raw, input_suite(FORMAT, SCHEMA, CONTRACT))
    assert [f.row for f in failures] == [101, 104]
    assert whole == []


# ---------------------------------------------------------- registry checks
def test_gate_failures_name_each_suite_that_did_not_pass() -> None:
    summaries = {
        "reports/gates/evaluate.json": {
            "metrics-test": {"evaluated": 2, "passed": 1, "success": False},
            "slices-test": {"evaluated": 1, "passed": 1, "success": True},
        }
    }
    assert gate_failures(summaries) == ["reports/gates/evaluate.json: metrics-test"]
    summaries["reports/gates/evaluate.json"]["metrics-test"]["success"] = True
    assert gate_failures(summaries) == []


def test_registry_and_predict_modules_import_no_heavy_library() -> None:
    """The CLI imports them to list its commands: `--help` must not pay for pandas, GX, DVC or gto."""
    code = (
        "import sys, census_income.serving.registry, census_income.serving.predict, census_income.serving.serve; "
        "heavy = [m for m in ('pandas', 'great_expectations', 'sklearn', 'dvc', 'gto') if m in sys.modules]; "
        "sys.exit(str(heavy) if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
