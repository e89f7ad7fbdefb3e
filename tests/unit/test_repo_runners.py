"""The one git runner and the one DVC runner, on real `git` and the real `dvc` CLI in temporary repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from census_income.errors import DvcError, GitError, PipelineError, RegistryError
from census_income.repo.dvc import Dvc, error_line, open_output
from census_income.repo.git import commit_of, git, head, tag_message, text_at, uncommitted, yaml_at
from census_income.serving.tags import remote_url
from tests.conftest import project_env


def sh(repo: Path, *args: str) -> str:
    """A command in `repo` with the test identity (the runner under test only reads)."""
    return subprocess.run(args, cwd=repo, check=True, capture_output=True, text=True, env=project_env(repo)).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit of `params.yaml`."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    root.mkdir()
    sh(root, "git", "init", "-q", "-b", "main")
    (root / "params.yaml").write_text("seed: 1\n")
    sh(root, "git", "add", "params.yaml")
    sh(root, "git", "commit", "-q", "-m", "one")
    return root


# ------------------------------------------------------------------ git
def test_git_answers_with_its_output_and_revisions_resolve_to_the_same_commit(repo: Path) -> None:
    full = git(repo, "rev-parse", "HEAD").strip()
    assert head(repo) == full == commit_of(repo, "main")
    assert full.startswith(head(repo, short=True))
    assert commit_of(repo, "main", short=True) == head(repo, short=True)


def test_a_failed_git_command_is_one_line_naming_the_command_and_gits_message(repo: Path) -> None:
    with pytest.raises(GitError) as raised:
        commit_of(repo, "no-such-branch")
    message = str(raised.value)
    assert message.startswith("git rev-parse --verify no-such-branch^{commit}: fatal: ")
    assert "\n" not in message
    assert isinstance(raised.value, PipelineError)  # the CLI prints it as one line, exit 1


def test_no_repository_and_no_directory_fail_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match=r"^git rev-parse HEAD: fatal: not a git repository"):
        head(tmp_path / "plain")
    with pytest.raises(GitError, match=r"^git rev-parse HEAD: No such file or directory"):
        head(tmp_path / "gone")


def test_a_file_at_a_revision_or_in_the_workspace(repo: Path) -> None:
    first = head(repo)
    (repo / "params.yaml").write_text("seed: 2\n")
    assert text_at(repo, first, "params.yaml") == "seed: 1\n"
    assert text_at(repo, None, Path("params.yaml")) == "seed: 2\n"
    assert yaml_at(repo, first, "params.yaml") == {"seed": 1}
    with pytest.raises(GitError, match=r"^git show [0-9a-f]{40}:dvc.lock: fatal: path 'dvc.lock' does not exist"):
        text_at(repo, first, "dvc.lock")
    with pytest.raises(PipelineError, match=r"^dvc.lock: not found in "):
        text_at(repo, None, "dvc.lock")
    (repo / "params.yaml").write_text("- a list\n")
    with pytest.raises(PipelineError, match=r"^params.yaml: expected a mapping"):
        yaml_at(repo, None, "params.yaml")


def test_uncommitted_names_changed_tracked_files_and_named_untracked_ones(repo: Path) -> None:
    assert uncommitted(repo) == []
    (repo / "params.yaml").write_text("seed: 2\n")
    (repo / "dvc.lock").write_text("schema: '2.0'\n")  # never committed
    (repo / "scratch.txt").write_text("x\n")
    assert uncommitted(repo) == ["params.yaml"]  # a build's untracked files do not count
    assert sorted(uncommitted(repo, ("params.yaml", Path("dvc.lock")))) == ["dvc.lock", "params.yaml"]


def test_tag_messages(repo: Path) -> None:
    sh(repo, "git", "tag", "-a", "m@v1.0.0", "-m", "census-income register: checked")
    sh(repo, "git", "commit", "-q", "--allow-empty", "-m", "census-income register: a commit message")
    sh(repo, "git", "tag", "light")  # lightweight: its contents are that commit message
    assert tag_message(repo, "m@v1.0.0") == "census-income register: checked"
    assert tag_message(repo, "light") == ""
    assert tag_message(repo, "none") == ""


def test_pushing_without_a_remote_is_a_registry_error_saying_so(repo: Path) -> None:
    """The caller turns git's answer to an expected question (no such remote) into its own words."""
    with pytest.raises(RegistryError, match=r"^--push: no git remote `origin` to push the tags to$"):
        remote_url(repo)
    sh(repo, "git", "remote", "add", "origin", "/elsewhere.git")
    assert remote_url(repo) == "origin (/elsewhere.git)"


# ------------------------------------------------------------------ dvc
def test_dvcs_error_line_is_its_error_else_its_last_line() -> None:
    assert error_line("Updating lock\nERROR: failed to reproduce 'train'\n  detail\n", 1) == (
        "ERROR: failed to reproduce 'train'"
    )
    assert error_line("first\nlast\n\n", 2) == "last"
    assert error_line("", 3) == "exit status 3"


def test_the_dvc_runner_reports_status_and_fails_with_one_line(repo: Path) -> None:
    dvc = Dvc(repo)
    dvc.run("init", "-q")
    assert dvc.status() == {}
    (repo / "in.txt").write_text("a\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
    )
    assert list(dvc.status()) == ["copy"]  # never run: no lock entry
    finished = dvc("repro", "no-such-stage")
    assert finished.returncode != 0  # the process itself, for callers that read the exit status
    with pytest.raises(DvcError) as raised:
        dvc.run("repro", "no-such-stage")
    assert str(raised.value).startswith("dvc repro no-such-stage: ERROR: ")
    assert "\n" not in str(raised.value)
    with pytest.raises(DvcError, match=r"^dvc version: not JSON"):
        dvc.json("version")


def test_an_output_missing_from_the_workspace_is_a_dvc_error(tmp_path: Path) -> None:
    missing = r"^models/model.joblib: not found \(run `dvc pull` or `dvc repro`\)$"
    with pytest.raises(DvcError, match=missing), open_output(tmp_path, None, "models/model.joblib"):
        pass
    (tmp_path / "out.txt").write_bytes(b"bytes")
    with open_output(tmp_path, None, "out.txt") as handle:
        assert handle.read() == b"bytes"
