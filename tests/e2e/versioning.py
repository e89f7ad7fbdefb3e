"""Helpers for the storage, data-version and lineage tests: commits, clones, exact output bytes."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml

from tests.conftest import project_env, run


def home_env(project: Path, home: Path) -> dict[str, str]:
    """The project's environment with a private home: the default remote (`~/...`) lands in it."""
    env = project_env(project)
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    return env


def dvc(project: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["dvc", *args], project, env=env, check=check)


def output_bytes(project: Path) -> dict[str, str]:
    """md5 of every file of every output `dvc.lock` lists, as found in the workspace."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    found: dict[str, str] = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            target = project / out["path"]
            files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
            for path in files:
                if path.exists():
                    found[path.relative_to(project).as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return found


def assert_in_sync(project: Path, env: dict[str, str]) -> None:
    result = dvc(project, env, "status")
    assert "Data and pipelines are up to date." in result.stdout, result.stdout


def clone(project: Path, dest: Path) -> Path:
    run(["git", "clone", "-q", str(project), str(dest)], project.parent)
    return dest
