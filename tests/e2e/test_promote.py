"""From a sweep on `main` to a merged pull request and a model in production, end to end.

Temporary git repositories (a user's clone, a bare `origin`, fresh clones for CI runs) and a
local DVC remote. The user's commands are the bash blocks of `docs/promote.md`, run as written;
between them, the `reproduce` job of `.github/workflows/ci.yml` runs its own steps (read from
the file) on the pull request's branch and, after the merge, on `main`. Main's outputs and run
cache are on the remote from the start, as CI on `main` leaves them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from census_income.errors import PipelineError
from census_income.experiments.exp_branch import prepare_conf
from census_income.experiments.table import parse_experiments, rank
from census_income.modeling.metrics import RANK_METRIC
from tests.conftest import REPO_ROOT, run
from tests.e2e.project import Project
from tests.e2e.versioning import home_env
from tests.e2e.workflow import Contexts, StepResult, run_job, runner_checkout, uv_path

pytestmark = pytest.mark.slow

DOC = REPO_ROOT / "docs" / "promote.md"
WORKFLOW = Path(".github") / "workflows" / "ci.yml"
JOB = "reproduce"
BRANCH = "lr-best"
MODEL = "models/model.joblib"
METRICS = "reports/evaluate/metrics.json"
RAN = re.compile(r"Running stage '([^']+)'")


def bash_blocks(doc: Path) -> list[str]:
    """The fenced bash blocks of a Markdown page, in order."""
    return re.findall(r"^```bash\n(.*?)^```", doc.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


@dataclass
class Loop:
    folder: Path
    user: Path  # the user's clone
    env: dict[str, str]  # the user's environment: private HOME (the default DVC remote lives in it)
    storage: Path  # the DVC remote: the default one of .dvc/config, under that HOME
    origin: Path  # bare git remote
    timings: dict[str, float]

    def shell(self, script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = run(["bash", "-eo", "pipefail", "-c", script], cwd or self.user, env=self.env, timeout=1500)
        self.timings[script.splitlines()[0][:40]] = time.monotonic() - started
        return done

    def ci(self, ref: str, event: str) -> tuple[Path, list[StepResult]]:
        """CI's `reproduce` job on `ref` in a fresh clone of origin (its whole history, as checkout's fetch-depth 0)."""
        checkout = self.folder / f"ci-{event}"
        run(["git", "clone", "-q", str(self.origin), str(checkout)], self.folder, env=self.env)
        run(["git", "checkout", "-q", ref], checkout, env=self.env)
        runner_checkout(checkout)
        github = {"event_name": event, "base_ref": "main" if event == "pull_request" else ""}
        github.update(server_url="https://github.invalid", repository="census-income", run_id="1")
        ctx = Contexts(github, secrets={"AWS_ACCESS_KEY_ID": "unused", "AWS_SECRET_ACCESS_KEY": "unused"})
        ctx.vars["DVC_REMOTE_URL"] = str(self.storage)
        env = dict(self.env, PYTHONPATH=str(checkout / "src"), PATH=f"{uv_path()}:{self.env['PATH']}")
        started = time.monotonic()
        steps = run_job(checkout / WORKFLOW, JOB, checkout, ctx, env, summary=self.folder / f"summary-{event}.md")
        self.timings[f"ci {event}"] = time.monotonic() - started
        failed = [step for step in steps if step.returncode != 0]
        assert not failed, f"CI step {failed[0].name!r} failed:\n{failed[0].output[-3000:]}"
        return checkout, steps


def step(steps: list[StepResult], command: str) -> StepResult:
    """The step whose script runs `command` (names are the workflow's to change)."""
    found = [s for s in steps if command in s.script]
    assert found, f"no step ran `{command}`: {[s.name for s in steps]}"
    return found[-1]


def stages_run(result: StepResult) -> list[str]:
    return RAN.findall(result.output)


@pytest.fixture(scope="module")
def loop(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Loop:
    folder = tmp_path_factory.mktemp("promote")
    user = folder / "user"
    shutil.copytree(reproduced_template, user, symlinks=True)
    run(["git", "commit", "-q", "-a", "--allow-empty", "-m", "reproduced"], user)
    env = home_env(user, folder / "home")
    origin = folder / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], folder, env=env)
    run(["git", "remote", "add", "origin", str(origin)], user, env=env)
    run(["git", "push", "-q", "-u", "origin", "main"], user, env=env)
    # main's outputs and run cache on the remote, as CI on main pushes them
    run(["dvc", "push", "--run-cache", "--quiet"], user, env=env)
    remote = run(["dvc", "config", "core.remote"], user, env=env).stdout.strip()
    url = run(["dvc", "config", f"remote.{remote}.url"], user, env=env).stdout.strip()
    storage = Path(url.replace("~", env["HOME"], 1))
    assert storage.is_dir(), storage
    return Loop(folder, user, env, storage, origin, {})


def test_from_a_sweep_to_a_merged_pull_request_and_a_model_in_prod(loop: Loop) -> None:
    sweep, share, ship = bash_blocks(DOC)
    user = loop.user
    main_model = Project(user).outs("main")[MODEL]

    # the sweep, then one more experiment in the workspace: it leaves params.yaml and dvc.lock
    # modified, as `dvc exp run` does; promoting must not need a reset first
    first, *rest = sweep.splitlines(keepends=True)
    loop.shell(first)
    run(["dvc", "exp", "run", "-S", "model.learning_rate=0.2", "--quiet"], user, env=loop.env)
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], user).stdout.strip()
    shown = parse_experiments(json.loads(run(["dvc", "exp", "show", "--json"], user, env=loop.env).stdout))
    best = rank([e for e in shown if e.state == "success"], RANK_METRIC)[0]
    promoted = loop.shell("".join(rest)).stdout

    # the branch: its conf/ composes its params.yaml, its dvc.lock is the experiment's
    assert f"branch {BRANCH}: experiment {best.name}" in promoted
    learning_rate = best.params["model.learning_rate"]
    assert learning_rate in (0.1, 0.2)
    preset = yaml.safe_load(run(["git", "show", f"{BRANCH}:conf/experiment/{BRANCH}.yaml"], user).stdout)
    assert preset == {"model": {"learning_rate": learning_rate}}
    assert Project(user).outs(BRANCH)[MODEL] == Project(user).outs(best.rev)[MODEL] != main_model
    assert run(["git", "rev-parse", "--abbrev-ref", "HEAD"], user).stdout.strip() == BRANCH
    assert run(["git", "rev-list", "--count", f"main..{BRANCH}"], user).stdout.strip() == "1"
    assert run(["git", "ls-remote", "--heads", str(loop.origin), BRANCH], user).stdout.strip()

    # CI on the pull request: only the stages a model parameter touches rerun; the lock holds
    checkout, steps = loop.ci(BRANCH, "pull_request")
    assert [s.script.strip() for s in steps].count("make check-lock") == 2  # before and after reproducing
    assert "--run-cache" in step(steps, "dvc pull").script
    assert sorted(stages_run(step(steps, "make repro"))) == ["evaluate", "train"]
    step(steps, "make pr-report")
    report = (checkout / "reports" / "pr.md").read_text(encoding="utf-8")
    assert (loop.folder / "summary-pull_request.md").read_text(encoding="utf-8") == report
    assert f"**Changed:** `model.learning_rate` 0.05 → {learning_rate:.6g}. **Reran:** `train`, `evaluate`." in report
    assert f"| `model.learning_rate` | 0.05 | {learning_rate:.6g} |" in report
    assert "| `train` | changed | params: `model.learning_rate`" in report
    assert "| `evaluate` | changed |" in report
    unchanged = next(line for line in report.splitlines() if line.startswith("Unchanged:"))
    assert "`featurize`" in unchanged and "`train`" not in unchanged and "`evaluate`" not in unchanged
    assert "| **validation** |" in report and "DVC could not load" not in report

    # the merge (GitHub's button), after `dvc push` from the branch
    loop.shell(share)
    run(["git", "checkout", "-q", "main"], user, env=loop.env)
    run(["git", "merge", "-q", "--no-ff", "-m", f"Merge {BRANCH}", BRANCH], user, env=loop.env)
    run(["git", "push", "-q", "origin", "main"], user, env=loop.env)
    run(["git", "checkout", "-q", BRANCH], user, env=loop.env)  # where the user still is

    # CI on main: nothing to run (the branch's outputs are on the remote), then the push
    _, steps = loop.ci("main", "push")
    assert stages_run(step(steps, "make repro")) == []
    assert "make pr-report" not in "".join(s.script for s in steps)
    step(steps, "dvc push --run-cache")

    # register, promote and score on main
    loop.shell(ship)
    predictions = pd.read_parquet(user / "predictions.parquet")
    assert set(predictions["model_version"].astype(str)) == {"v1.0.0"}
    prod = run(["git", "ls-remote", "--tags", str(loop.origin)], user).stdout
    assert "census-income-model@v1.0.0" in prod and "census-income-model#prod#" in prod
    served = hashlib.md5((user / MODEL).read_bytes()).hexdigest()
    assert served == Project(user).outs("main")[MODEL] == Project(user).outs(best.rev)[MODEL]
    print(f"timings: {json.dumps({k: round(v, 1) for k, v in loop.timings.items()})}")


def test_exp_branch_refuses_other_uncommitted_changes_and_unknown_experiments(
    fresh_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def exp_branch(*args: str) -> subprocess.CompletedProcess[str]:
        return run(["census-income", "exp-branch", BRANCH, *args], fresh_project, check=False)

    config = fresh_project / "conf" / "config.yaml"
    config.write_text(config.read_text() + "# an edit of my own\n")
    refused = exp_branch()
    assert refused.returncode == 1
    assert (
        refused.stderr
        == "census-income exp-branch: uncommitted changes in conf/config.yaml: commit or stash them first\n"
    )
    run(["git", "checkout", "--", "conf/config.yaml"], fresh_project)

    assert "no successful experiment of this commit" in exp_branch().stderr
    unknown = exp_branch("--exp", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("census-income exp-branch: dvc exp branch nope lr-best:")
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert not run(["git", "branch", "--list", BRANCH], fresh_project).stdout.strip()

    monkeypatch.chdir(fresh_project)
    with pytest.raises(PipelineError, match=r"conf/experiment/hgb_tuned.yaml exists already: name the preset"):
        prepare_conf("HEAD", "an-experiment", "hgb_tuned", tmp_path)
