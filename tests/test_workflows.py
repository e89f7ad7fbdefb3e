"""The CI workflows pass GitHub's workflow schema and zizmor's security audit, and keep CI's rules.

Both tools run for real (`check-jsonschema --builtin-schema vendor.github-workflows`,
`zizmor --offline`), as `make lint` runs them; each is also shown a bad workflow, so a test that
passes means the tool looked. The rules they cannot know are checked on the parsed YAML: pull
requests never run with secrets or a write token, every action is pinned to a commit, and CI
calls the project's own commands in the right order.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, VENV_BIN

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / name), *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


def load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """`on:` as a mapping (PyYAML reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, spec in workflow["jobs"].items() for step in spec.get("steps", [])]


def test_there_is_a_pull_request_workflow() -> None:
    assert WORKFLOWS, "no workflow under .github/workflows/"
    assert any("pull_request" in triggers(load(path)) for path in WORKFLOWS)


def test_workflows_pass_the_github_workflow_schema() -> None:
    result = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: pull_request\njobs:\n  a:\n    steps: []\n", encoding="utf-8")
    result = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", bad)
    assert result.returncode != 0 and "runs-on" in result.stdout


def test_workflows_pass_zizmor_offline() -> None:
    result = tool("zizmor", "--offline", "--format", "json", REPO_ROOT / ".github" / "workflows")
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and not findings, [(f["ident"], f["desc"]) for f in findings] or result.stderr


def test_zizmor_flags_injection_fork_secrets_and_unpinned_actions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW, encoding="utf-8")
    result = tool("zizmor", "--offline", "--format", "json", bad)
    found = {finding["ident"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"template-injection", "dangerous-triggers", "unpinned-uses", "artipacked"} <= found, found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_pull_requests_get_no_secrets_and_a_read_only_token(path: Path) -> None:
    workflow = load(path)
    assert "pull_request_target" not in triggers(workflow), "pull_request_target runs fork code with secrets"
    assert workflow.get("permissions") == {"contents": "read"}, "the workflow token must default to read-only"
    for job, spec in workflow["jobs"].items():
        writes = {scope for scope, level in (spec.get("permissions") or {}).items() if level == "write"}
        if writes:
            assert writes == {"pull-requests"}, f"{job}: writes {writes}"
            assert not any("actions/checkout" in step.get("uses", "") for step in spec["steps"]), (
                f"{job} can write: it must not check out (and so run) the pull request's code"
            )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_and_checkouts_keep_no_credentials(path: Path) -> None:
    for job, step in steps(load(path)):
        uses = step.get("uses")
        if uses is None:
            assert "${{" not in step["run"], f"{job}: pass expressions to run: scripts through env"
            continue
        assert SHA_PIN.match(uses), f"{job}: {uses} is not pinned to a full commit SHA"
        if uses.startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{job}: persist-credentials"


def test_ci_reproduces_checks_the_lock_reports_and_tests() -> None:
    """The pull-request job runs the project's make targets in this order."""
    ci = load(REPO_ROOT / ".github" / "workflows" / "ci.yml")
    runs = [step.get("run", "") for _, step in steps(ci)]
    order = [
        next(i for i, text in enumerate(runs) if target in text)
        for target in ("make setup", "make check-lock", "make repro", "make pr-report")
    ]
    assert order == sorted(order), order
    after_repro = [i for i, text in enumerate(runs) if "make check-lock" in text]
    assert max(after_repro) > order[2], "check-lock must also run after reproducing (a changed dvc.lock)"
    assert any("make test" in text for text in runs)
    checkouts = [step for _, step in steps(ci) if step.get("uses", "").startswith("actions/checkout@")]
    assert any(step["with"].get("fetch-depth") == 0 for step in checkouts), "the base branch is needed for the diffs"
    poster = next(spec for spec in ci["jobs"].values() if "gh pr comment" in str(spec))
    assert poster.get("needs") == "reproduce" and "pull_request" in poster["if"]
    pushes = [step for _, step in steps(ci) if "dvc push" in step.get("run", "")]
    assert pushes and all("github.event_name == 'push'" in step["if"] for step in pushes), "push only from main"


def test_no_step_that_runs_pull_request_code_sees_a_secret() -> None:
    """Issue 20: on pull requests from branches of this repository, `make pr-report`, its `.venv`
    and its `.dvc/config` received the AWS secrets. A secret may appear only in a step that runs
    on pushes alone, or behind `github.event_name == 'push' &&` in its own expression."""
    for path in WORKFLOWS:
        for job, step in steps(load(path)):
            pushes_only = "github.event_name == 'push'" in str(step.get("if", ""))
            for name, value in (step.get("env") or {}).items():
                if "secrets." not in str(value) or pushes_only:
                    continue
                assert re.fullmatch(
                    r"\$\{\{ github\.event_name == 'push' && secrets\.\w+ \|\| vars\.\w+ \}\}", value
                ), f"{job}: {step.get('name')}: {name} hands a secret to a step that pull requests run"


def test_no_expression_or_branch_name_reaches_a_make_line() -> None:
    """A branch name is passed in the environment and read by the shell, never spliced into a
    `make` command line (where make expands `$(...)`) or a script's text."""
    for path in WORKFLOWS:
        for job, step in steps(load(path)):
            for line in step.get("run", "").splitlines():
                if line.strip().startswith("make "):
                    assert "=" not in line and "$" not in line, f"{job}: {line}"


def test_workflows_pass_zizmor_as_an_auditor() -> None:
    """The strictest persona; a finding left is suppressed in the workflow with its reason."""
    result = tool("zizmor", "--offline", "--persona=auditor", "--format", "json", REPO_ROOT / ".github" / "workflows")
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and not findings, [(f["ident"], f["desc"]) for f in findings] or result.stderr
    for line in (REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8").splitlines():
        if "zizmor: ignore[" in line:
            assert len(line.split("]", 1)[1].strip()) > 10, f"a suppression without its reason: {line}"
