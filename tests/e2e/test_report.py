"""What CI does on a pull request, in temporary git repositories with the real `git` and `dvc`.

A `main` branch holds the reproduced project; a `pr` branch changes one model parameter the way
a user does (edit `conf/`, `census-income params`, `dvc repro`, commit). The report against
`main` must show that parameter and the metric deltas; `check-lock` must pass on that branch and
flag branches that change `conf/`, `params.yaml` or code without reproducing.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from census_income.modeling.metrics import direction
from census_income.repo.staleness import FIX
from census_income.reporting.report_tables import BETTER, NOISE, WORSE
from tests.conftest import run

pytestmark = pytest.mark.slow

METRICS = "reports/evaluate/metrics.json"


@dataclass(frozen=True)
class PullRequest:
    project: Path
    key: str  # the dotted parameter the branch changed
    old: float
    new: float
    base_metrics: dict[str, dict[str, float]]  # main's reports/evaluate/metrics.json


def commit_main(project: Path) -> None:
    """Commit the reproduced dvc.lock on main, as the lead would after `dvc repro`."""
    run(["git", "commit", "-q", "-a", "--allow-empty", "-m", "reproduced"], project)


def model_option(project: Path) -> tuple[Path, str, float]:
    """The default model's conf file and its first float parameter (e.g. learning_rate)."""
    name = yaml.safe_load((project / "params.yaml").read_text())["model"]["name"]
    path = project / "conf" / "model" / f"{name}.yaml"
    options: dict[str, Any] = yaml.safe_load(path.read_text())
    key, value = next((k, v) for k, v in options.items() if isinstance(v, float) and v > 0)
    return path, f"model.{key}", value


def edit_conf(path: Path, key: str, value: float) -> None:
    text = path.read_text()
    options = yaml.safe_load(text)
    leaf = key.rsplit(".", 1)[1]
    old_line = f"{leaf}: {options[leaf]}"
    assert old_line in text, old_line
    path.write_text(text.replace(old_line, f"{leaf}: {value}"))


@pytest.fixture(scope="module")
def pull_request(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> PullRequest:
    project = tmp_path_factory.mktemp("pr") / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    commit_main(project)
    base_metrics = json.loads((project / METRICS).read_text())
    run(["git", "checkout", "-q", "-b", "pr"], project)
    conf, key, old = model_option(project)
    new = round(old * 2, 6)
    edit_conf(conf, key, new)
    run(["census-income", "params"], project)
    run(["dvc", "repro", "--quiet"], project)
    run(["git", "commit", "-q", "-a", "-m", f"{key}={new}"], project)
    return PullRequest(project, key, old, new, base_metrics)


def expected_cell(metric: str, old: dict[str, float], new: dict[str, float]) -> str:
    """A metrics cell computed here from main's and the branch's own metrics of one split: the
    value ± its standard error, the change, and its mark against the two errors' noise band."""
    before, after, error = old[metric], new[metric], new.get(f"{metric}_se")
    shown = f"{after:.6g}" + (f" ± {error:.2g}" if error is not None else "")
    if before == after:
        return shown
    errors = [old.get(f"{metric}_se"), error]
    band = None if None in errors else 2 * math.sqrt(sum(e**2 for e in errors if e is not None))
    if band is None or abs(after - before) <= band:
        mark = NOISE
    else:
        mark = BETTER if (after - before) * direction(metric) > 0 else WORSE
    return f"{shown} ({after - before:+.4g} {mark})"


def report(project: Path, *args: str) -> tuple[str, str]:
    result = run(["census-income", "report", "--base", "main", *args], project)
    return (project / "reports" / "pr.md").read_text(encoding="utf-8"), result.stderr


def assert_metric_deltas(project: Path, text: str, base_metrics: dict[str, dict[str, float]]) -> None:
    head_metrics = json.loads((project / METRICS).read_text())
    assert head_metrics != base_metrics, "the parameter change should move the metrics"
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| **")}
    for split in ("validation", "test"):
        for metric in ("error_rate", "roc_auc", "log_loss"):
            cell = expected_cell(metric, base_metrics[split], head_metrics[split])
            assert f"| {cell} |" in rows[f"**{split}**"], (split, metric, cell, rows[f"**{split}**"])


def test_report_shows_the_param_diff_and_metric_deltas(pull_request: PullRequest) -> None:
    project = pull_request.project
    text, _ = report(project)

    assert f"| `{pull_request.key}` | {pull_request.old:.6g} | {pull_request.new:.6g} |" in text
    assert "error_rate ↓" in text and "roc_auc ↑" in text
    assert_metric_deltas(project, text, pull_request.base_metrics)
    assert "slices.json" not in text and "_se" not in text  # the model's metrics, errors shown as ±
    assert "### Gates" in text and "`reports/gates/train.json`" in text and "all suites passed" in text
    assert f"| `train` | changed | params: `{pull_request.key}`" in text
    unchanged = next(line for line in text.splitlines() if line.startswith("Unchanged:"))
    assert "`prepare`" in unchanged and "`train`" not in unchanged
    assert "DVC could not load" not in text
    assert (project / "dvc_plots" / "index.html").is_file()


def test_check_lock_passes_on_a_reproduced_and_committed_branch(pull_request: PullRequest) -> None:
    result = run(["census-income", "check-lock"], pull_request.project)
    assert "match the code, conf/ and the data" in result.stdout


def test_report_reproduces_base_when_its_outputs_are_not_cached(pull_request: PullRequest, tmp_path: Path) -> None:
    """A fresh CI clone has only the head's outputs: the report reproduces main in a worktree."""
    project = tmp_path / "project"
    shutil.copytree(pull_request.project, project, symlinks=True)
    run(["dvc", "gc", "--workspace", "--force"], project)  # drops main's model and metrics from the cache

    text, log = report(project, "--plots-dir", str(tmp_path / "plots"))

    assert "reproducing main" in log
    assert "DVC could not load" not in text
    assert_metric_deltas(project, text, pull_request.base_metrics)
    worktrees = run(["git", "worktree", "list"], project).stdout.splitlines()
    assert len(worktrees) == 1, worktrees


def stale_edit(project: Path, kind: str) -> str:
    """Change conf/, params.yaml or code without reproducing; returns what check-lock must say."""
    if kind == "conf":
        conf, key, old = model_option(project)
        edit_conf(conf, key, round(old * 3, 6))
        return "params.yaml is not the composition of conf/"
    if kind == "params":
        params = project / "params.yaml"
        _, key, old = model_option(project)
        leaf = key.rsplit(".", 1)[1]
        text = params.read_text()
        assert f"  {leaf}: {old}\n" in text
        params.write_text(text.replace(f"  {leaf}: {old}\n", f"  {leaf}: {round(old * 3, 6)}\n", 1))
        return "param model modified (stage train)"
    code = project / "src" / "census_income" / "modeling" / "models.py"
    code.write_text(code.read_text() + "\n# a change the committed dvc.lock does not know\n")
    return "dependency src/census_income/modeling/models.py modified (stage train)"


@pytest.mark.parametrize("kind", ["conf", "params", "code"])
def test_a_branch_that_does_not_reproduce_is_stale(reproduced_project: Path, kind: str) -> None:
    commit_main(reproduced_project)
    run(["git", "checkout", "-q", "-b", "pr"], reproduced_project)
    reason = stale_edit(reproduced_project, kind)
    run(["git", "commit", "-q", "-a", "-m", f"edit {kind} only"], reproduced_project)

    result = run(["census-income", "check-lock"], reproduced_project, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "dvc.lock or params.yaml is stale" in result.stderr
    assert reason in result.stderr
    assert FIX in result.stderr
