"""The pull-request report's pure parts, on small mappings shaped like DVC's `--json` output."""

from __future__ import annotations

from typing import Any

import pytest

from census_income.modeling.metrics import direction
from census_income.reporting.report_tables import (
    BETTER,
    NOISE,
    WORSE,
    fmt_change,
    gates_section,
    judge,
    metrics_table,
    params_section,
)
from census_income.reporting.report_text import ReportInputs, build_report, changed_stages, headline, stages_section


def entry(old: Any, new: Any) -> dict[str, Any]:
    return {"old": old, "new": new}


def lock(**stages: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "2.0", "stages": stages}


def stage(lr: float = 0.05, model: str = "m1", code: str = "c1", cmd: str = "python -m train") -> dict[str, Any]:
    return {
        "cmd": cmd,
        "deps": [{"path": "src/train.py", "hash": "md5", "md5": code}],
        "params": {"params.yaml": {"model": {"learning_rate": lr, "max_iter": 300}, "seed": 42}},
        "outs": [{"path": "models/model.joblib", "hash": "md5", "md5": model}],
    }


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("test.error_rate", -1), ("log_loss", -1), ("test.sex.Female.brier", -1), ("roc_auc", 1), ("f1", 1), ("rows", 0)],
)
def test_direction_lower_is_better_for_errors_and_losses(metric: str, expected: int) -> None:
    assert direction(metric) == expected


def test_judge_calls_a_change_only_outside_its_noise_band() -> None:
    """One standard error of the test error rate is about 0.26 points: a 0.00005 change is noise."""
    band = 0.0075  # 2 standard errors of the difference
    assert judge("test.error_rate", 0.13, 0.12, band) == "better"
    assert judge("test.error_rate", 0.12, 0.13, band) == "worse"
    assert judge("test.roc_auc", 0.90, 0.92, band) == "better"
    assert judge("test.roc_auc", 0.93, 0.92, band) == "worse"
    assert judge("test.error_rate", 0.12595, 0.1259, band) == "within noise"
    assert judge("validation.roc_auc", 0.93, 0.931, band) == "within noise"
    assert judge("test.roc_auc", 0.93, 0.94, None) == "within noise"  # no band: never called either way
    assert judge("test.roc_auc", 0.93, 0.93, band) == ""
    assert judge("train.error_rate", 0.2, 0.1, band) == ""  # train improves with over-fitting: not judged
    assert judge("test.sex.Male.rows", 10, 20, band) == ""  # a count is neither
    assert judge("gate.success", True, False, band) == ""  # not a number
    assert judge("test.roc_auc", None, 0.9, band) == ""


def test_fmt_change_marks_the_delta_and_new_or_removed_values() -> None:
    assert fmt_change("test.error_rate", 0.115914, 0.127326, 0.0075) == f"0.127326 (+0.01141 {WORSE})"
    assert fmt_change("test.roc_auc", 0.9, 0.95, 0.0075) == f"0.95 (+0.05 {BETTER})"
    assert fmt_change("test.roc_auc", 0.9, 0.9001, 0.0075) == f"0.9001 (+0.0001 {NOISE})"
    assert fmt_change("test.roc_auc", 0.9, 0.9) == "0.9"
    assert fmt_change("test.roc_auc", None, 0.9) == "0.9 (new)"
    assert fmt_change("test.roc_auc", 0.9, None) == "~~0.9~~ (removed)"


def test_params_section_lists_changed_params_only() -> None:
    diff = {
        "params.yaml": {
            "model.learning_rate": entry(0.05, 0.1),
            "seed": entry(42, 42),
            "data.slices": entry(None, ["sex"]),
        }
    }
    text = params_section(diff)
    assert "| `model.learning_rate` | 0.05 | 0.1 |" in text
    assert '| `data.slices` | — | `["sex"]` |' in text
    assert "seed" not in text


def test_params_section_says_when_nothing_changed() -> None:
    assert "No parameter changed." in params_section({})
    assert "No parameter changed." in params_section({"params.yaml": {"seed": entry(1, 1)}})


def test_metrics_table_shows_standard_errors_and_judges_against_the_noise_band() -> None:
    entries = {
        "test.error_rate": entry(0.14, 0.12),
        "test.error_rate_se": entry(0.0026, 0.0026),
        "test.roc_auc": entry(0.92, 0.9195),
        "test.roc_auc_se": entry(0.0023, 0.0023),
        "train.error_rate": entry(0.2, 0.1),
    }
    text = metrics_table("reports/evaluate/metrics.json", entries)
    assert "|  | error_rate ↓ | roc_auc ↑ |" in text
    assert f"| **test** | 0.12 ± 0.0026 (-0.02 {BETTER}) | 0.9195 ± 0.0023 (-0.0005 {NOISE}) |" in text
    assert "| **train** | 0.1 (-0.1) |  |" in text  # train is shown, never judged
    assert f"1 {BETTER} better, 0 {WORSE} worse, 1 {NOISE} within noise" in text
    assert "error_rate_se" not in text
    assert "<details>" not in text  # a short table is shown as is


def test_a_long_metrics_table_is_folded() -> None:
    entries = {f"test.race.g{i}.roc_auc": entry(0.9, 0.91) for i in range(12)}
    text = metrics_table("slices.json", entries)
    assert "<details><summary>show the 12 rows</summary>" in text and "</details>" in text


def test_gates_section_counts_checks_and_names_failed_suites() -> None:
    diff = {
        "reports/gates/split.json": {
            "split-test.evaluated": entry(7, 7),
            "split-test.passed": entry(7, 6),
            "split-test.success": entry(True, False),
            "split-train.evaluated": entry(7, 7),
            "split-train.passed": entry(7, 7),
            "split-train.success": entry(True, True),
        },
        "reports/gates/train.json": {"model.evaluated": entry(None, 2), "model.passed": entry(None, 2)},
    }
    text = gates_section(diff)
    assert "2 gate summaries, 1 with failed suites." in text
    assert f"| `reports/gates/split.json` | 2 | 13/14 | {WORSE} failed: split-test |" in text
    assert "`split-test.passed` 7 → 6" in text
    assert f"| `reports/gates/train.json` | 1 | 2/2 | {BETTER} passed | new |" in text


def test_gates_section_without_gate_files() -> None:
    assert "No gate summaries" in gates_section({})


def test_changed_stages_says_what_changed_in_pipeline_order() -> None:
    base = lock(prepare=stage(), train=stage())
    head = lock(prepare=stage(), train=stage(lr=0.1, model="m2"), evaluate=stage())
    changes = changed_stages(base, head)
    assert [(c.name, c.kind) for c in changes] == [("train", "changed"), ("evaluate", "added")]
    assert changes[0].what == ("params: `model.learning_rate`", "outs: `models/model.joblib`")


def test_changed_stages_sees_code_command_and_removed_stages() -> None:
    base = lock(prepare=stage(), train=stage())
    head = lock(train=stage(code="c2", cmd="python -m train --fast"))
    changes = changed_stages(base, head)
    assert [(c.name, c.kind) for c in changes] == [("train", "changed"), ("prepare", "removed")]
    assert changes[0].what == ("command", "deps: `src/train.py`")


def test_identical_locks_mean_nothing_reran() -> None:
    same = lock(train=stage())
    assert changed_stages(same, same) == []
    assert "None: the pipeline's results are those of base." in stages_section([], same)


def test_stages_section_lists_the_unchanged_stages_too() -> None:
    base, head = lock(prepare=stage(), train=stage()), lock(prepare=stage(), train=stage(model="m2"))
    text = stages_section(changed_stages(base, head), head)
    assert "| `train` | changed | outs: `models/model.joblib` |" in text
    assert "Unchanged: `prepare`." in text


def test_build_report_has_every_section_and_warns_about_missing_metrics() -> None:
    inputs = ReportInputs(
        base="main",
        base_commit="abc1234",
        head_commit="def5678",
        params={"params.yaml": {"model.learning_rate": entry(0.05, 0.1)}},
        metrics={"reports/evaluate/metrics.json": {"test.error_rate": entry(0.13, 0.12)}},
        gates={"reports/gates/train.json": {"model.passed": entry(2, 2), "model.evaluated": entry(2, 2)}},
        base_lock=lock(train=stage()),
        head_lock=lock(train=stage(lr=0.1)),
        unreadable={"main": ["reports/evaluate/slices.json"]},
        plots="`dvc_plots/index.html`.",
    )
    text = build_report(inputs)
    for heading in ("## Pipeline report against `main`", "### Parameters", "### Metrics", "### Gates"):
        assert heading in text
    assert "### Stages that reran" in text and "### Plots" in text
    assert "Base `main` at `abc1234`; head at `def5678`" in text
    assert "**Changed:** `model.learning_rate` 0.05 → 0.1. **Reran:** `train`." in text
    assert "DVC could not load these metrics of `main`: `reports/evaluate/slices.json`" in text
    assert "1 gate summaries, all suites passed." in text
    assert text.endswith("`census-income report --base main`.</sub>\n")


def test_headline_names_the_changed_params_and_the_stages_that_reran() -> None:
    base = lock(prepare=stage(), train=stage(), evaluate=stage())
    head = lock(prepare=stage(), train=stage(lr=0.1, model="m2"), evaluate=stage(code="c2"))
    params = {"params.yaml": {"model.learning_rate": entry(0.05, 0.1), "seed": entry(42, 42)}}
    text = headline(params, changed_stages(base, head))
    assert text == "**Changed:** `model.learning_rate` 0.05 → 0.1. **Reran:** `train`, `evaluate`."
    many = {"params.yaml": {f"model.k{i}": entry(i, i + 1) for i in range(6)}}
    assert headline(many, [], shown=2) == "**Changed:** `model.k0` 0 → 1, `model.k1` 1 → 2 and 4 more. **Reran:** none."
    assert headline({}, []) == "**Changed:** no parameter. **Reran:** none."
