"""`make` targets run the same in a plain shell and with the environment activated, without uv on PATH.

The copy's `.venv` is this environment (up to date, so nothing is synced); PATH holds only the
system's folders, as on a fresh machine where pip put nothing on it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GIT_IDENTITY

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
SHELLS = {"plain": "", "activated": "source .venv/bin/activate && "}


@pytest.fixture
def project(reproduced_template: Path, tmp_path: Path) -> Path:
    if shutil.which("uv", path=SYSTEM_PATH):
        pytest.skip(f"uv is on {SYSTEM_PATH}: this machine cannot show a fresh one")
    project = tmp_path / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return project


def shell(project: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": SYSTEM_PATH, "HOME": str(project.parent / "home"), "DVC_NO_ANALYTICS": "1", **GIT_IDENTITY}
    env["PYTHONPATH"] = str(project / "src")
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return subprocess.run(
        ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize("activate", SHELLS.values(), ids=SHELLS.keys())
def test_make_targets_run_with_or_without_the_activated_environment(project: Path, activate: str) -> None:
    """A stage that must rerun runs on the project's Python, and the CLI targets run from .venv/bin."""
    before = shell(project, "git status --porcelain").stdout
    (project / "reports" / "environment.json").unlink()  # only the environment stage reruns
    result = shell(project, f"{activate}make repro params models")
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    assert "Running stage 'environment'" in printed and "Running stage 'train'" not in printed
    assert "no version of census-income-model is registered yet" in printed
    assert shell(project, "git status --porcelain").stdout == before  # the same bytes again


@pytest.mark.parametrize("activate", SHELLS.values(), ids=SHELLS.keys())
def test_setup_without_uv_installs_it_privately_with_the_python_outside_the_environment(
    reproduced_template: Path, tmp_path: Path, activate: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ["Makefile", "pyproject.toml", "uv.lock"]:
        shutil.copy2(reproduced_template / name, project / name)
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (project / "uv.lock").touch()  # newer than .venv: `make setup` must sync
    result = shell(project, f"{activate}make -n setup")  # what it would run: the install needs the network
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    install = next(line for line in lines if "pip install" in line)
    assert "--target .uv" in install and f'PATH="{SYSTEM_PATH}"' in install, install
    assert any(line.startswith(f"{project}/.uv/bin/uv sync --frozen") for line in lines), lines
