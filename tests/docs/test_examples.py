"""Every example of README.md and docs/ runs as written, so a page that rots fails the suite.

Shell examples run page by page, in order, in a private copy of the reproduced project (the
copy's `.venv` is this environment, so `make` targets and `source .venv/bin/activate` work as
after `make repro`), with this environment first on PATH and HOME in a temporary folder (the
default DVC remote lives there). Where a page shows output, each of its lines must come out in
that order, numbers and hashes aside. Python examples run through pytest-examples, which checks
their `#>` output comments.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

from tests.conftest import REPO_ROOT, project_env
from tests.docs.examples import Example, missing_output, shell_examples

PAGES = ["README.md", *sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "docs").glob("*.md"))]
EXAMPLES = {page: shell_examples(REPO_ROOT, page) for page in PAGES}


def runs_here(example: Example) -> bool:
    return example.skip is None and (example.needs is None or importlib.util.find_spec(example.needs) is not None)


def why_not(example: Example) -> str:
    return example.skip or f"needs {example.needs}, which is not installed"


RUNNABLE = [page for page, examples in EXAMPLES.items() if any(map(runs_here, examples))]
NOT_RUN = [example for examples in EXAMPLES.values() for example in examples if not runs_here(example)]


def docs_project(reproduced_template: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A private reproduced copy whose `.venv` is this environment, and the shell it runs in."""
    project = tmp_path / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    env = project_env(project)
    env["HOME"] = str(tmp_path / "home")
    env.pop("VIRTUAL_ENV", None)
    return project, env


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE)
def test_shell_examples_run_as_written(page: str, reproduced_template: Path, tmp_path: Path) -> None:
    project, env = docs_project(reproduced_template, tmp_path)
    for example in filter(runs_here, EXAMPLES[page]):
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", example.code],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"{example} exited {result.returncode}:\n{example.code}\n{result.stdout}"
        if example.output is not None:
            missing = missing_output(example.output, result.stdout)
            assert missing is None, f"{example}: shown output line {missing!r} not printed:\n{result.stdout}"


@pytest.mark.parametrize("example", NOT_RUN, ids=str)
def test_examples_not_run_say_why(example: Example) -> None:
    pytest.skip(f"{example}: {why_not(example)}")


@pytest.mark.slow
@pytest.mark.parametrize("example", list(find_examples(*(REPO_ROOT / page for page in PAGES))), ids=str)
def test_python_examples_print_what_they_show(
    example: CodeExample, eval_example: EvalExample, reproduced_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(reproduced_project)
    eval_example.run_print_check(example)
