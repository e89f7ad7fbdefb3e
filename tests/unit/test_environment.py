"""The environment record: key packages from uv.lock, checked against what is installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from census_income.errors import LockMismatchError, PipelineError
from census_income.repo.environment import (
    current_environment,
    differences,
    environment_record,
    parse_uv_lock,
    read_environment_record,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

LOCK = """
version = 1
requires-python = "==3.11.*"

[[package]]
name = "pandas"
version = "3.1.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "scikit-learn"
version = "1.9.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "scipy"
version = "1.17.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "ruff"
version = "0.9.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "toy"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "Scikit_Learn" },
    { name = "pandas" },
]

[package.dev-dependencies]
dev = [{ name = "ruff" }]
"""
LOCKED = {"pandas": "3.1.1", "scikit-learn": "1.9.1", "scipy": "1.17.1", "ruff": "0.9.0"}


def test_records_direct_dependencies_and_scipy_not_dev_tools() -> None:
    record = environment_record(LOCK, LOCKED.get, python=(3, 11))
    assert record == {"python": "3.11", "packages": {"pandas": "3.1.1", "scikit-learn": "1.9.1", "scipy": "1.17.1"}}


def test_record_is_the_same_bytes_for_the_same_lock() -> None:
    first = json.dumps(environment_record(LOCK, LOCKED.get, python=(3, 11)), sort_keys=True)
    again = json.dumps(environment_record(LOCK, dict(reversed(LOCKED.items())).get, python=(3, 11)), sort_keys=True)
    assert first == again


def test_a_library_upgrade_changes_the_record() -> None:
    upgraded_lock = LOCK.replace('version = "1.9.1"', 'version = "1.10.0"')
    upgraded = environment_record(upgraded_lock, {**LOCKED, "scikit-learn": "1.10.0"}.get, python=(3, 11))
    before = environment_record(LOCK, LOCKED.get, python=(3, 11))
    assert upgraded != before
    assert differences(before, upgraded) == ["scikit-learn 1.10.0 (recorded 1.9.1)"]


def test_installed_version_other_than_locked_is_refused_with_what_to_run() -> None:
    with pytest.raises(LockMismatchError) as error:
        environment_record(LOCK, {**LOCKED, "scikit-learn": "1.8.0", "pandas": None}.get, python=(3, 11))
    message = str(error.value)
    assert "scikit-learn 1.8.0 is installed (uv.lock: 1.9.1)" in message
    assert "pandas is not installed (uv.lock: 3.1.1)" in message
    assert "make setup" in message and "\n" not in message


def test_lock_without_the_project_package_is_an_error() -> None:
    without_project = LOCK.partition('[[package]]\nname = "toy"')[0]
    with pytest.raises(PipelineError, match="no project package"):
        parse_uv_lock(without_project)
    with pytest.raises(PipelineError, match="not valid TOML"):
        parse_uv_lock("[[package]\n")


def test_missing_lock_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"uv\.lock: not found"):
        read_environment_record(tmp_path / "uv.lock")


def test_this_environment_is_the_projects_lock() -> None:
    """The venv the tests run in is synced from uv.lock: the stage would accept it."""
    record = read_environment_record(REPO_ROOT / "uv.lock")
    assert {"scikit-learn", "pandas", "numpy", "dvc", "scipy"} <= set(record["packages"])
    assert differences(record, current_environment(list(record["packages"]))) == []
