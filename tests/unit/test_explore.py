"""explore: the notebooks' summaries on frames small enough to count by hand, and run tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from census_income.experiments.explore import (
    MISSING,
    Run,
    RunRef,
    best_run,
    label_rate_by_slice,
    metric_table,
    missing_values,
    numeric_summary,
    param_table,
    run_refs,
    runs_table,
    slice_table,
)


def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": pd.Categorical(["F", "F", "M", "M", "M", None]),
            "race": pd.Categorical(["A", "B", "A", "A", "B", "A"]),
            "age": [20, 30, 40, 50, 60, 70],
            "capital_gain": [0.0, 0.0, 0.0, 100.0, None, 0.0],
            "income": pd.array([0, 1, 0, 1, 1, 0], dtype="int8"),
        }
    )


# ------------------------------------------------------------------ data
def test_missing_values_counts_and_orders_every_column() -> None:
    frame = people()
    table = missing_values(frame)
    assert table["column"].tolist() == ["capital_gain", "sex", "age", "income", "race"]
    assert table["missing"].tolist() == [1, 1, 0, 0, 0]
    assert table["share"].iloc[0] == pytest.approx(1 / 6)
    pd.testing.assert_frame_equal(frame, people())  # the input is unchanged


def test_missing_values_of_an_empty_frame_is_zero_not_an_error() -> None:
    table = missing_values(pd.DataFrame({"a": pd.Series([], dtype="float64")}))
    assert table.to_dict("records") == [{"column": "a", "missing": 0, "share": 0.0}]


def test_numeric_summary_by_hand() -> None:
    summary = numeric_summary(people(), ["age", "capital_gain"])
    age, gain = summary.loc["age"], summary.loc["capital_gain"]
    assert (age["count"], age["missing"], age["min"], age["max"]) == (6, 0, 20, 70)
    assert age["mean"] == 45 and age["median"] == 45 and age["p25"] == 32.5 and age["p75"] == 57.5
    assert age["zero_share"] == 0
    assert (gain["count"], gain["missing"]) == (5, 1)
    assert gain["zero_share"] == pytest.approx(4 / 5)  # zeros among the values present
    assert gain["mean"] == pytest.approx(20.0)


def test_numeric_summary_refuses_text() -> None:
    with pytest.raises(ValueError, match="Unable to parse"):
        numeric_summary(pd.DataFrame({"age": ["39", "forty"]}), ["age"])


def test_label_rate_by_slice_by_hand() -> None:
    frame = people()
    table = label_rate_by_slice(frame, "income", ["sex", "race"])
    assert table.columns.tolist() == ["slice", "value", "rows", "share", "positives", "label_rate"]
    sex = table[table["slice"] == "sex"].set_index("value")
    # largest group first; missing is a group of its own
    assert sex.index.tolist() == ["M", "F", MISSING]
    assert sex.loc["M", "rows"] == 3 and sex.loc["M", "positives"] == 2
    assert sex.loc["M", "label_rate"] == pytest.approx(2 / 3)
    assert sex.loc["F", "label_rate"] == 0.5 and sex.loc[MISSING, "label_rate"] == 0.0
    assert sex["share"].sum() == pytest.approx(1.0)
    race = table[table["slice"] == "race"].set_index("value")
    assert race.loc["A", "rows"] == 4 and race.loc["B", "label_rate"] == 1.0
    pd.testing.assert_frame_equal(frame, people())


def test_label_rate_by_slice_without_slices_is_an_empty_table() -> None:
    table = label_rate_by_slice(people(), "income", [])
    assert table.empty and "label_rate" in table.columns


def test_label_rate_by_slice_needs_a_0_1_label() -> None:
    frame = people().assign(income=["<=50K", ">50K", "<=50K", ">50K", ">50K", "<=50K"])
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        label_rate_by_slice(frame, "income", ["sex"])


# ------------------------------------------------------------------ runs
# the shape `dvc.api.exp_show` returns: flat rows, each commit followed by its experiments
EXP_SHOW = [
    {"Experiment": None, "rev": "workspace", "typ": "baseline", "State": None},
    {"Experiment": None, "rev": "main", "typ": "baseline", "State": None},
    {"Experiment": "thr045", "rev": "b6cb582", "typ": "branch_base", "State": None},
    {"Experiment": "queued-1", "rev": "c0ffee0", "typ": "branch_base", "State": "Queued"},
    {"Experiment": "broken", "rev": "dead000", "typ": "branch_base", "State": "Failed"},
    {"Experiment": None, "rev": "6fdd1b1", "typ": "baseline", "State": None},
    {"Experiment": "lr", "rev": "a1b2c3d", "typ": "branch_commit", "State": "Success"},
]


def test_run_refs_keep_commits_and_finished_experiments() -> None:
    refs = run_refs(EXP_SHOW)
    assert refs == [
        RunRef(name="main", rev="main", kind="commit", baseline="main"),
        RunRef(name="thr045", rev="b6cb582", kind="experiment", baseline="main"),
        RunRef(name="6fdd1b1", rev="6fdd1b1", kind="commit", baseline="6fdd1b1"),
        RunRef(name="lr", rev="a1b2c3d", kind="experiment", baseline="6fdd1b1"),
    ]


def test_run_refs_of_a_workspace_only_repository_is_empty() -> None:
    assert run_refs(EXP_SHOW[:1]) == []


def run(name: str, threshold: float, error_rate: float, female_auc: float, **params: object) -> Run:
    return Run(
        ref=RunRef(name=name, rev=name, kind="experiment", baseline="main"),
        params={
            "model": {"name": "hist_gradient_boosting", "max_iter": 300, **params},
            "evaluate": {"threshold": threshold},
            "features": {"log_transform": ["capital_gain", "capital_loss"]},
        },
        metrics={"validation": {"error_rate": error_rate, "roc_auc": 0.9}, "test": {"error_rate": error_rate + 0.01}},
        slices={
            "test": {
                "sex": {
                    "Female": {"rows": 500, "roc_auc": female_auc},
                    "Male": {"rows": 1000, "roc_auc": 0.9},
                }
            }
        },
    )


RUNS = [
    run("a", 0.5, 0.13, 0.92),
    run("b", 0.45, 0.12, 0.93),
    Run(ref=RunRef(name="old", rev="0ld0000", kind="commit", baseline="0ld0000"), error="DataIndexDirError: gone"),
]


def test_runs_table_says_which_runs_could_not_be_read() -> None:
    table = runs_table(RUNS)
    assert table.index.tolist() == ["a", "b", "old"]
    assert table.loc["old", "error"].startswith("DataIndexDirError") and table.loc["a", "error"] == ""


def test_param_table_keeps_only_differing_keys() -> None:
    table = param_table(RUNS)
    assert table.index.tolist() == ["a", "b"]  # unreadable runs have no parameters to show
    assert table.columns.tolist() == ["evaluate.threshold"]
    assert table["evaluate.threshold"].tolist() == [0.5, 0.45]
    every = param_table(RUNS, only_differing=False)
    assert every.loc["a", "features.log_transform"] == "capital_gain,capital_loss"
    assert every.loc["a", "model.max_iter"] == 300


def test_param_table_counts_a_missing_key_as_differing() -> None:
    table = param_table([run("a", 0.5, 0.1, 0.9), run("c", 0.5, 0.1, 0.9, max_depth=3)])
    assert table.columns.tolist() == ["model.max_depth"]
    assert math.isnan(table.loc["a", "model.max_depth"]) and table.loc["c", "model.max_depth"] == 3


def test_metric_table_and_best_run() -> None:
    table = metric_table(RUNS, ["validation", "test"], ["error_rate", "roc_auc"])
    assert table.columns.tolist() == ["validation.error_rate", "validation.roc_auc", "test.error_rate", "test.roc_auc"]
    assert table.loc["b", "validation.error_rate"] == 0.12
    assert table.loc["b", "test.error_rate"] == pytest.approx(0.13)
    assert table["test.roc_auc"].isna().all()  # not in these metrics: NaN, not an error
    assert best_run(table, "validation.error_rate") == "b"  # lower is better
    assert best_run(table.assign(**{"validation.roc_auc": [0.8, 0.7]}), "validation.roc_auc") == "a"
    assert best_run(table, "test.roc_auc") is None


def test_slice_table_puts_runs_side_by_side() -> None:
    table = slice_table(RUNS, "test", "roc_auc")
    assert table.index.tolist() == [("sex", "Female"), ("sex", "Male")]
    assert table.columns.tolist() == ["rows", "a", "b"]
    assert table.loc[("sex", "Female"), "b"] == 0.93
    assert table.loc[("sex", "Male"), "rows"] == 1000


def test_slice_table_of_a_split_no_run_has_is_empty() -> None:
    table = slice_table(RUNS, "train", "roc_auc")
    assert table.empty and table.columns.tolist() == ["rows", "a", "b"]
