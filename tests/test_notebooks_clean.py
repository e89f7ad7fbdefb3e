"""Notebooks are committed without outputs, and the nbstripout git filter keeps them so.

A fresh clone has `.gitattributes` but not the filter itself (git config is not versioned), so
the check reads what is committed: the staged version of each notebook (what the filter wrote,
where it is installed), else the file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tests.conftest import REPO_ROOT, run

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
REQUIRED = ("01-explore-data.ipynb", "02-compare-experiments.ipynb")
NOTEBOOKS = sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))


def committed(name: str) -> str:
    """The staged text of `notebooks/<name>` when git has it, else the working-tree file."""
    staged = subprocess.run(
        ["git", "show", f":notebooks/{name}"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return staged.stdout if staged.returncode == 0 else (NOTEBOOK_DIR / name).read_text(encoding="utf-8")


def problems(text: str, scratch: Path) -> list[str]:
    """What keeps a notebook from being committable: outputs, execution counts, anything nbstripout strips."""
    notebook = nbformat.reads(text, as_version=4)
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {index}: {len(cell.outputs)} outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {index}: execution count {cell.execution_count}")
    scratch.write_text(text, encoding="utf-8")
    dry_run = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--dry-run", str(scratch)], capture_output=True, text=True, check=True
    )
    if dry_run.stdout.strip():
        found.append("nbstripout would still change it (run `nbstripout notebooks/*.ipynb`)")
    return found


def executed_notebook() -> nbformat.NotebookNode:
    cell = new_code_cell("1 + 1", execution_count=1)
    cell.outputs = [new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]
    return new_notebook(cells=[cell])


def test_the_notebooks_are_there() -> None:
    assert set(REQUIRED) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name: str, tmp_path: Path) -> None:
    assert problems(committed(name), tmp_path / name) == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cell_holds_the_parameters(name: str) -> None:
    notebook = nbformat.reads(committed(name), as_version=4)
    nbformat.validate(notebook)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])


def test_the_check_finds_outputs_and_counts(tmp_path: Path) -> None:
    found = problems(nbformat.writes(executed_notebook()), tmp_path / "executed.ipynb")
    assert "cell 0: 1 outputs" in found
    assert "cell 0: execution count 1" in found
    assert found[-1].startswith("nbstripout would still change it")


def test_the_filter_strips_outputs_when_a_notebook_is_added(tmp_path: Path) -> None:
    """The Makefile's `notebook-filter` set-up in a new repository: `git add` stores no outputs."""
    attributes = (REPO_ROOT / ".gitattributes").read_text(encoding="utf-8")
    shutil.copy2(REPO_ROOT / ".gitattributes", tmp_path / ".gitattributes")
    run(["git", "init", "-q"], tmp_path)
    for name in REQUIRED:
        checked = run(["git", "check-attr", "filter", "diff", "--", f"notebooks/{name}"], tmp_path).stdout
        assert f"notebooks/{name}: filter: nbstripout" in checked and f"notebooks/{name}: diff: ipynb" in checked

    run([sys.executable, "-m", "nbstripout", "--install", "--attributes", ".gitattributes"], tmp_path)
    assert (tmp_path / ".gitattributes").read_text(encoding="utf-8") == attributes  # nothing to add
    notebook = tmp_path / "notebooks" / "executed.ipynb"
    notebook.parent.mkdir()
    nbformat.write(executed_notebook(), notebook)
    run(["git", "add", "notebooks/executed.ipynb"], tmp_path)

    stored = run(["git", "show", ":notebooks/executed.ipynb"], tmp_path).stdout
    assert problems(stored, tmp_path / "stored.ipynb") == []
    assert json.loads(notebook.read_text(encoding="utf-8"))["cells"][0]["outputs"]  # the file keeps them
