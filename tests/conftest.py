"""Shared fixtures: temporary copies of this project driven by the real `dvc` and `git`.

A copy holds the git-tracked files of the working tree (what a clone would hold, plus
uncommitted edits), committed in a fresh git repository with its own identity. Stage
commands in it run this environment's Python with the copy's `src/` first on the path,
so edits to the copy's code are what its stages run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "census-income tests",
    "GIT_AUTHOR_EMAIL": "tests@census-income.invalid",
    "GIT_COMMITTER_NAME": "census-income tests",
    "GIT_COMMITTER_EMAIL": "tests@census-income.invalid",
}


def project_env(project: Path) -> dict[str, str]:
    """Environment for `dvc`/`git` in a project copy: this venv first, the copy's code first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "GIT_"))}
    env.update(GIT_IDENTITY)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    env["DVC_NO_ANALYTICS"] = "1"
    # idle OpenMP threads sleep instead of spinning: on 2 busy shared cores the spinning made
    # the gradient boosting fit ~7x slower; results and model bytes are the same
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["CENSUS_INCOME_LOG_DIR"] = str(project / "logs")
    # each copy's code gets its own stage server: they end soon after the copy's last stage
    env.setdefault("CENSUS_INCOME_STAGE_SERVER_IDLE", "30")
    return env


def run(
    args: Sequence[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in a project copy; on an unexpected exit, fail with its output."""
    result = subprocess.run(
        list(args), check=False, cwd=cwd, env=env or project_env(cwd), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def tracked_files(root: Path = REPO_ROOT) -> list[str]:
    """The files a clone of this repository holds (tracked and not deleted, plus new ones staged)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def make_project_copy(dest: Path) -> Path:
    """A fresh git repository at `dest` holding this project's files, committed, no outputs."""
    for name in tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "project copy"], dest)
    return dest


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """A clean copy of the project: committed, nothing reproduced, an empty DVC cache."""
    return make_project_copy(tmp_path / "project")


@pytest.fixture(scope="session")
def reproduced_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One copy on which `dvc repro` ran once per test run; copy it, never change it.

    Under pytest-xdist the workers share it: the first builds it under a file lock in the
    run's common temporary folder, the others wait and reuse it.
    """
    if worker_id == "master":
        project = make_project_copy(tmp_path_factory.mktemp("template") / "project")
        run(["dvc", "repro", "--quiet"], project)
        return project
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "reproduced-template"
    with FileLock(str(shared) + ".lock"):
        project = shared / "project"
        if not (shared / "done").exists():
            shutil.rmtree(shared, ignore_errors=True)
            make_project_copy(project)
            run(["dvc", "repro", "--quiet"], project)
            (shared / "done").touch()
    return project


@pytest.fixture
def reproduced_project(reproduced_template: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of a reproduced project: outputs, cache and git history included."""
    dest = tmp_path / "project"
    shutil.copytree(reproduced_template, dest, symlinks=True)
    yield dest
