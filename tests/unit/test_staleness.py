"""The staleness check's parts: `dvc status --json` shapes, the params drift, uncommitted files."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from census_income.errors import GitError
from census_income.repo.git import uncommitted
from census_income.repo.staleness import FIX, params_drift, stale_message, stale_stages
from tests.conftest import project_env

LOCK: dict[str, Any] = {
    "stages": {
        "ingest@train": {"outs": [{"path": "data/raw/train.parquet", "md5": "a"}]},
        "prepare": {"outs": [{"path": "data/prepared/table.parquet", "md5": "b"}]},
        "train": {"outs": [{"path": "models/model.joblib", "md5": "c"}]},
    }
}


def test_a_fresh_clone_without_data_is_not_stale() -> None:
    """What `dvc status --json` says in a clone before `dvc pull`: outputs and produced deps missing."""
    status = {
        "ingest@train": [{"changed outs": {"data/raw/train.parquet": "not in cache"}}],
        "prepare": [
            {"changed deps": {"data/raw": "deleted"}},
            {"changed outs": {"data/prepared/table.parquet": "deleted"}},
        ],
        "train": [{"changed deps": {"data/prepared/table.parquet": "deleted"}}],
    }
    assert stale_stages(status, LOCK) == []
    assert stale_stages({}, LOCK) == []


def test_changed_code_params_and_command_are_stale() -> None:
    status = {
        "prepare": [{"changed deps": {"src/census_income/data/prepare.py": "modified", "data/raw": "deleted"}}],
        "train": [{"changed deps": {"params.yaml": {"model": "modified", "seed": "new"}}}, "changed command"],
    }
    assert stale_stages(status, LOCK) == [
        "dependency src/census_income/data/prepare.py modified (stage prepare)",
        "param model modified (stage train)",
        "param seed new (stage train)",
        "changed command (stage train)",
    ]


def test_a_missing_source_a_modified_output_and_a_new_stage_are_stale() -> None:
    status = {
        "ingest@train": [{"changed deps": {"src/census_income/data/adult/adult.data": "deleted"}}],
        "train": [{"changed outs": {"models/model.joblib": "modified"}}],
        "evaluate": [{"changed outs": {"reports/evaluate": "deleted"}}],
    }
    assert stale_stages(status, LOCK) == [
        "dependency src/census_income/data/adult/adult.data deleted (stage ingest@train)",
        "output models/model.joblib modified (stage train)",
        "never reproduced: not in dvc.lock (stage evaluate)",
    ]


def test_a_reason_shared_by_stages_is_one_line_naming_them_in_pipeline_order() -> None:
    code = {"changed deps": {"src/census_income/io.py": "modified"}}
    status = {
        "prepare": [code],
        "train": [code, {"changed deps": {"src/census_income/modeling/models.py": "modified"}}],
    }
    assert stale_stages(status, LOCK) == [
        "dependency src/census_income/io.py modified (stages prepare, train)",
        "dependency src/census_income/modeling/models.py modified (stage train)",
    ]


def test_params_drift_is_a_diff_only_when_the_texts_differ() -> None:
    text = "model:\n  name: hgb\n  learning_rate: 0.05\n"
    assert params_drift(text, text) == []
    drift = params_drift(text, text.replace("0.05", "0.1"))
    assert "-  learning_rate: 0.05" in drift and "+  learning_rate: 0.1" in drift


def test_the_message_says_what_is_stale_and_what_to_run() -> None:
    message = stale_message(["params.yaml is not the composition of conf/:\n-a\n+b", "changed command (stage train)"])
    assert message.splitlines() == [
        "dvc.lock or params.yaml is stale:",
        "  - params.yaml is not the composition of conf/:",
        "      -a",
        "      +b",
        "  - changed command (stage train)",
        FIX,
    ]
    assert FIX == "Run `make params` then `make repro` and commit params.yaml and dvc.lock."


LOCK_FILES = (Path("params.yaml"), Path("dvc.lock"))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=project_env(repo))


def test_uncommitted_names_the_lock_files_that_differ(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "other.txt").write_text("x\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "lock")
    assert uncommitted(tmp_path, LOCK_FILES) == []
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (tmp_path / "other.txt").write_text("y\n")
    assert uncommitted(tmp_path, LOCK_FILES) == ["dvc.lock"]


def test_outside_git_the_question_fails_with_gits_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one policy: a `GitError` naming the command (callers that expect it, like lineage, catch it)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(GitError, match=r"^git status --porcelain .*: fatal: not a git repository"):
        uncommitted(tmp_path, LOCK_FILES)
