"""Unit tests of the sweep orchestration's pure parts: commands, names, `dvc exp show --json`, ranking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from census_income.cli.experiments import format_sweep
from census_income.compose import compose_params
from census_income.experiments.grid import (
    DEFAULT_GRID,
    LIGHTGBM_SWEEP,
    NOT_IN_GRID,
    Sweep,
    default_grid,
    free_label,
    queue_command,
    queued_names,
)
from census_income.experiments.queue import Revival, SweepResult, log_tail, stalled, sweep_environment
from census_income.experiments.table import (
    Experiment,
    against_best,
    flatten,
    format_table,
    parse_experiments,
    rank,
    varying_params,
)
from census_income.modeling.metrics import lower_is_better
from tests.conftest import REPO_ROOT


def _metrics(validation_error: float, test_error: float, auc: float = 0.9) -> dict[str, Any]:
    return {
        "reports/evaluate/metrics.json": {
            "data": {
                "validation": {"error_rate": validation_error, "roc_auc": auc, "log_loss": 0.3},
                "test": {"error_rate": test_error, "roc_auc": auc},
            }
        },
        "reports/gates/train.json": {"data": {"features-train": {"passed": 9, "success": True}}},
    }


def _rev(rev: str, name: str | None, model: dict[str, Any], metrics: dict[str, Any] | None, error: Any = None) -> Any:
    data = {"rev": rev, "params": {"params.yaml": {"data": {"model": model, "seed": 42}}}, "metrics": metrics or {}}
    return {"rev": rev, "name": name, "data": data, "error": error, "experiments": None}


def _show() -> list[dict[str, Any]]:
    """The shape `dvc exp show --json` gives (DVC 3.67), trimmed to what the sweep reads."""
    lr = {"name": "logistic_regression", "C": 1.0}
    hgb = {"name": "hist_gradient_boosting", "max_iter": 300}
    baseline = _rev("b" * 40, "main", hgb, _metrics(0.125, 0.126))
    baseline["experiments"] = [
        {"revs": [_rev("1" * 40, "sweep1-lr-1", lr, _metrics(0.15, 0.151))], "executor": None, "name": "sweep1-lr-1"},
        {
            "revs": [_rev("2" * 40, "sweep1-lr-2", {**lr, "C": -1.0}, None, {"msg": "No such file", "type": "E"})],
            "executor": {"state": "running", "name": "dvc-task", "local": None},
            "name": "sweep1-lr-2",
        },
        {
            # a failed experiment's files are its baseline's: its numbers must not be shown
            "revs": [
                _rev(
                    "2" * 40, "sweep1-lr-2", {**lr, "C": -1.0}, _metrics(0.125, 0.126), {"msg": "Experiment run failed"}
                )
            ],
            "executor": {"state": "failed", "name": "dvc-task", "local": None},
            "name": "sweep1-lr-2",
        },
        {
            "revs": [_rev("3" * 40, "sweep1-hgb-1", {**hgb, "max_iter": 600}, _metrics(0.119, 0.124, 0.93))],
            "executor": {"state": "success", "name": "dvc-task", "local": None},
            "name": "sweep1-hgb-1",
        },
        {
            "revs": [_rev("4" * 40, None, hgb, None)],
            "executor": {"state": "queued", "name": None, "local": None},
            "name": None,
        },
    ]
    return [_rev("workspace", None, hgb, _metrics(0.2, 0.2)), baseline]


def test_queue_command_names_the_sweep_and_passes_every_override() -> None:
    sweep = Sweep("lr", ("+experiment=lr_tuned", "model.C=0.3,3.0"))
    assert queue_command(sweep, "sweep2") == [
        "exp",
        "run",
        "--queue",
        "-n",
        "sweep2-lr",
        "-S",
        "+experiment=lr_tuned",
        "-S",
        "model.C=0.3,3.0",
    ]


def test_queued_names_are_read_from_dvc_output() -> None:
    output = (
        "Queueing with overrides '{'params.yaml': ['model.C=0.5']}'.\n"
        "Queued experiment 'sweep1-lr-1' for future execution.\n"
        "Queueing with overrides '{'params.yaml': ['model.C=-1']}'.\n"
        "Queued experiment 'sweep1-lr-2' for future execution.\n"
    )
    assert queued_names(output) == ["sweep1-lr-1", "sweep1-lr-2"]
    assert queued_names("ERROR: Experiment conflicts with existing experiment 'x'") == []


def test_stalled_only_when_ours_wait_without_a_worker() -> None:
    names = ["s1-a-1", "s1-a-2"]
    assert stalled({"s1-a-1": "success", "s1-a-2": "queued"}, names, workers=0)
    assert stalled({"other-1": "running"}, names, workers=0)  # not listed yet: still waiting
    assert stalled({"s1-a-1": "running", "s1-a-2": "queued"}, names, workers=0)  # an orphan does not run the rest
    assert not stalled({"s1-a-1": "success", "s1-a-2": "queued"}, names, workers=1)
    assert not stalled({"s1-a-1": "success", "s1-a-2": "failed"}, names, workers=0)


def test_revival_restarts_after_a_stall_lasting_long_enough_and_at_most_limit_times() -> None:
    revival = Revival(after=30.0, limit=2)
    assert not revival.due(100.0, is_stalled=True)  # a stall starts: wait, a worker may be starting
    assert not revival.due(129.0, is_stalled=True)
    assert revival.due(130.0, is_stalled=True)  # 30 s stalled: start the workers
    assert revival.restarts == 1
    assert not revival.due(131.0, is_stalled=True)  # a new stall, counted from now
    assert not revival.due(150.0, is_stalled=False)  # the workers came back: the stall is over
    assert not revival.due(170.0, is_stalled=True)
    assert not revival.due(199.0, is_stalled=True)  # 29 s into this stall, not 69 s since the first
    assert revival.due(200.0, is_stalled=True)
    assert not revival.due(10_000.0, is_stalled=True)  # the limit: 2 restarts, then only the timeout
    assert not revival.due(20_000.0, is_stalled=True)
    assert revival.restarts == 2


def test_free_label_skips_labels_already_used() -> None:
    assert free_label([]) == "sweep1"
    assert free_label(["main", "sweep1-hgb-1", "sweep2-lr-2", "sweep10-x"]) == "sweep3"
    assert free_label(["sweep1"]) == "sweep1"  # only `sweep1-...` names hold the label


def test_flatten_joins_nested_keys_and_keeps_lists() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}


def test_parse_keeps_the_last_state_of_each_experiment_and_skips_the_workspace() -> None:
    experiments = {exp.name: exp for exp in parse_experiments(_show())}
    assert list(experiments) == ["main", "sweep1-lr-1", "sweep1-lr-2", "sweep1-hgb-1", "4444444"]
    assert experiments["main"].state == "baseline"
    assert experiments["sweep1-lr-1"].state == "success"  # no executor: a finished experiment
    assert experiments["sweep1-lr-2"].state == "failed"
    assert experiments["sweep1-lr-2"].error == "Experiment run failed"
    assert experiments["4444444"].state == "queued"
    assert experiments["sweep1-hgb-1"].params["model.max_iter"] == 600
    assert experiments["sweep1-hgb-1"].metric("validation.error_rate") == 0.119
    assert experiments["sweep1-hgb-1"].metric("reports/evaluate/metrics.json:test.error_rate") == 0.124
    assert experiments["sweep1-hgb-1"].metric("features-train.success") is None  # booleans are not metrics
    assert experiments["4444444"].metric("validation.error_rate") is None


def test_rank_orders_on_validation_in_the_metric_direction_and_puts_unscored_last() -> None:
    experiments = parse_experiments(_show())
    by_error = [exp.name for exp in rank(experiments, "validation.error_rate")]
    assert by_error[:3] == ["sweep1-hgb-1", "main", "sweep1-lr-1"]
    assert set(by_error[3:]) == {"sweep1-lr-2", "4444444"}
    by_auc = [exp.name for exp in rank(experiments, "validation.roc_auc")]
    assert by_auc[0] == "sweep1-hgb-1"
    assert lower_is_better("validation.log_loss")
    assert not lower_is_better("validation.roc_auc")


def test_rank_never_uses_test_metrics_unless_asked() -> None:
    # better on validation, worse on test: validation decides
    a = Experiment("a", "1", "success", metrics={"m.json": {"validation.error_rate": 0.10, "test.error_rate": 0.20}})
    b = Experiment("b", "2", "success", metrics={"m.json": {"validation.error_rate": 0.11, "test.error_rate": 0.05}})
    assert [exp.name for exp in rank([b, a])] == ["a", "b"]


def test_table_shows_only_params_that_differ_and_marks_failures() -> None:
    experiments = parse_experiments(_show())
    assert varying_params(experiments) == ["model.C", "model.max_iter"]  # seed is equal; model.name is its column
    table = format_table(experiments).splitlines()
    header = table[0].split()
    assert header[:5] == ["rank", "experiment", "state", "model", "params"]
    assert header[5] == "validation.error_rate"
    assert table[1].split()[:5] == ["1", "sweep1-hgb-1", "success", "hist_gradient_boosting", "max_iter=600"]
    failed = next(line for line in table if "sweep1-lr-2" in line).split()
    assert failed[0] == "-"
    assert failed[2] == "failed"
    assert failed[-5:] == ["-"] * 5


def test_log_tail_drops_repeated_lines() -> None:
    log = "a\nb\nERROR: x\nERROR: x\n"
    assert log_tail(log) == "a\nb\nERROR: x"
    assert log_tail("\n".join(str(i) for i in range(40)), lines=3) == "37\n38\n39"


def test_environment_puts_this_python_first_and_shares_cores_between_workers() -> None:
    env = sweep_environment(2, {"PATH": "/usr/bin"})
    assert env["PATH"].endswith("/usr/bin")
    assert Path(env["PATH"].split(":")[0], "python").exists()
    assert int(env["OMP_NUM_THREADS"]) >= 1
    assert sweep_environment(2, {"OMP_NUM_THREADS": "7"})["OMP_NUM_THREADS"] == "7"  # a user's choice wins


def swept_values(sweep: Sweep) -> list[tuple[str, str]]:
    """The (key, value) pairs a grid entry runs: one per value of its swept key, or none swept."""
    swept = [override for override in sweep.overrides if "," in override]
    assert len(swept) <= 1, f"{sweep.name}: one swept key at most, got {swept}"
    if not swept:
        return [("", "")]
    key, values = swept[0].split("=", 1)
    return [(key, value) for value in values.split(",")]


@pytest.mark.parametrize("sweep", [*DEFAULT_GRID, LIGHTGBM_SWEEP], ids=lambda sweep: sweep.name)
def test_default_grid_composes_with_every_value(sweep: Sweep, tmp_path: Path) -> None:
    """Each grid entry, each swept value, composes `conf/` into a params.yaml with that value."""
    fixed = [o for o in sweep.overrides if "," not in o]
    for key, value in swept_values(sweep):
        out = tmp_path / f"{value or 'fixed'}.yaml"
        compose_params(out, REPO_ROOT / "conf", [*fixed, f"{key}={value}"] if key else fixed)
        params = flatten(yaml.safe_load(out.read_text()))
        if key:
            assert str(params[key]) == value


def test_default_grid_has_six_experiments_covering_every_model_family(tmp_path: Path) -> None:
    assert sum(len(swept_values(sweep)) for sweep in DEFAULT_GRID) >= 6
    families = set()
    for sweep in DEFAULT_GRID:
        out = tmp_path / f"{sweep.name}.yaml"
        compose_params(out, REPO_ROOT / "conf", [o for o in sweep.overrides if "," not in o])
        families.add(yaml.safe_load(out.read_text())["model"]["name"])
    assert families == {"logistic_regression", "random_forest", "hist_gradient_boosting"}


def test_every_shipped_model_family_is_in_the_grid_or_left_out_on_purpose(tmp_path: Path) -> None:
    """A new conf/model/ file needs a decision: a grid entry, or a place in NOT_IN_GRID."""
    families = set(NOT_IN_GRID)
    for sweep in [*DEFAULT_GRID, LIGHTGBM_SWEEP]:
        out = tmp_path / f"{sweep.name}.yaml"
        compose_params(out, REPO_ROOT / "conf", [o for o in sweep.overrides if "," not in o])
        families.add(yaml.safe_load(out.read_text())["model"]["name"])
    assert families == {path.stem for path in (REPO_ROOT / "conf" / "model").glob("*.yaml")}


def test_lightgbm_joins_the_default_grid_only_where_it_is_installed() -> None:
    import importlib.util

    installed = importlib.util.find_spec("lightgbm") is not None
    assert default_grid()[: len(DEFAULT_GRID)] == list(DEFAULT_GRID)
    assert (LIGHTGBM_SWEEP in default_grid()) is installed


def scored(name: str, error: float, se: float | None, passed: int = 1) -> Experiment:
    flat: dict[str, Any] = {"validation.error_rate": error, "quality.passed": passed}
    if se is not None:
        flat["validation.error_rate_se"] = se
    return Experiment(name, name, "success", params={"model.name": "m"}, metrics={"metrics.json": flat})


def test_table_says_within_noise_worse_and_below_the_bar() -> None:
    best, close, far = scored("best", 0.120, 0.004), scored("close", 0.126, 0.004), scored("far", 0.150, 0.004, 0)
    rows = {line.split()[1]: line for line in format_table([far, close, best]).splitlines()[1:]}
    assert "0.1200 ± 0.0040" in rows["best"] and " best " in rows["best"]
    assert "within noise" in rows["close"]  # 0.006 apart, band 2 * sqrt(2) * 0.004 = 0.0113
    assert "worse" in rows["far"] and rows["far"].endswith("BELOW")
    assert rows["close"].endswith("met")
    assert against_best(scored("blind", 0.13, None), best, "validation.error_rate") == "no noise band"


def test_table_folds_rows_beyond_one_screen() -> None:
    many = [scored(f"e{i}", 0.12 + i / 1000, 0.004) for i in range(20)]
    lines = format_table(many, rows_shown=15).splitlines()
    assert len(lines) == 1 + 15 + 1 and lines[-1] == "... 5 more (--all shows every experiment)"
    assert len(format_table(many, rows_shown=None).splitlines()) == 21


def test_a_finished_sweep_prints_failed_logs_then_the_ranked_table_then_the_best() -> None:
    experiments = parse_experiments(_show())
    mine = [exp for exp in experiments if exp.name.startswith("sweep1-")]
    result = SweepResult(
        label="sweep1",
        names=["sweep1-lr-1", "sweep1-lr-2", "sweep1-hgb-1"],
        experiments=mine,
        baselines=[exp for exp in experiments if exp.state == "baseline"],
        failed={"sweep1-lr-2": "ERROR: model.C: must be a float"},
        queue_errors=["sweep1-rf: could not override"],
        finished=True,
        plots=None,
        elapsed="1m05s",
    )
    text = format_sweep(result, "validation.error_rate")
    lines = text.splitlines()
    assert lines[:3] == [
        "",
        "--- sweep1-lr-2 failed; last lines of `dvc queue logs sweep1-lr-2`:",
        "ERROR: model.C: must be a float",
    ]
    assert lines[4] == "ranked on validation.error_rate (lower is better; test is for reporting only)"
    ranked = [line.split()[1] for line in lines[6:9]]
    assert ranked == ["sweep1-hgb-1", "main", "sweep1-lr-1"]  # best first, on validation
    assert "best: sweep1-hgb-1; promote it with `census-income exp-branch <branch> --exp sweep1-hgb-1`" in lines
    assert lines[-1] == "2 of 4 experiments succeeded in 1m05s"

    # a sweep none of whose experiments beats the baseline recommends none (it once named the best anyway)
    worse = replace(result, experiments=[exp for exp in mine if exp.name == "sweep1-lr-1"], failed={})
    lines = format_sweep(worse, "validation.error_rate").splitlines()
    assert "no experiment beats main on validation.error_rate (the best: sweep1-lr-1); nothing to promote" in lines
    assert not any(line.startswith("best:") for line in lines)


def test_each_row_shows_what_it_changed_from_its_commit() -> None:
    """A stranger's table: with a KNN experiment beside, every gradient-boosting row listed every
    family's keys, clipped, so the learning rate that told them apart was cut off; an experiment
    on another data set showed no parameter at all."""
    hgb = {"data.name": "adult", "split.method": "official", "model.name": "hgb", "model.early_stopping": False}
    hgb |= {"model.l2_regularization": 0.0, "model.learning_rate": 0.1, "model.max_iter": 300}
    knn = {"data.name": "adult", "split.method": "official", "model.name": "knn", "model.n_neighbors": 7}
    rows = [
        Experiment("main", "1", "baseline", params=hgb),
        Experiment("slow", "2", "success", params={**hgb, "model.learning_rate": 0.05}, baseline="main"),
        Experiment("knn7", "3", "success", params=knn, baseline="main"),
        Experiment(
            "other",
            "4",
            "success",
            params={**hgb, "data.name": "diabetes", "split.method": "stratified"},
            baseline="main",
        ),
    ]
    shown = {line.split()[1]: line.split()[4] for line in format_table(rows).splitlines()[1:]}
    assert shown["slow"] == "learning_rate=0.05"
    assert shown["knn7"] == "n_neighbors=7"
    assert format_table(rows).splitlines()[4].split()[4:6] == ["data=diabetes", "split=stratified"]
