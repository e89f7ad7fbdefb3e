"""The notebooks run top to bottom, as committed, in a reproduced copy of the project.

They need the opt-in `notebooks` group (`make setup-notebooks`; CI installs it): without it
every test here is skipped, saying so.

The copy gets a history worth comparing: the reproduced state committed, an experiment that
changes the decision threshold (`dvc exp run`, only evaluate reruns), and that experiment
committed as the next revision. Each notebook then runs in a fresh kernel of this environment's
Python with the copy's `src/` first on the path, from `notebooks/` as JupyterLab starts it; a
failing cell fails the test with the cell's traceback.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
import yaml

from tests.conftest import project_env, run
from tests.e2e.project import Project

WITHOUT_GROUP = "the notebooks group is not installed: run make setup-notebooks"
nbclient = pytest.importorskip("nbclient", reason=WITHOUT_GROUP)
pytest.importorskip("ipykernel", reason=WITHOUT_GROUP)
pytest.importorskip("papermill", reason=WITHOUT_GROUP)

pytestmark = pytest.mark.slow

DATA = "data/prepared/table.parquet"
EXPERIMENT = "thr045"
KERNEL = "census-income-tests"
CELL_TIMEOUT = 300  # seconds for one cell, on a busy machine


@dataclass(frozen=True)
class History:
    project: Path
    revisions: list[str]  # short shas, oldest first


@pytest.fixture(scope="module")
def history(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    project = tmp_path_factory.mktemp("notebooks") / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "--allow-empty", "-m", "reproduced"], project)  # dvc.lock, if it changed
    run(["dvc", "exp", "run", "-n", EXPERIMENT, "-S", "evaluate.threshold=0.45"], project)
    run(["git", "commit", "-q", "-a", "-m", "decision threshold 0.45"], project)
    revisions = run(["git", "log", "--reverse", "--format=%h"], project).stdout.split()
    return History(project, revisions)


@pytest.fixture
def kernel(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec of this very interpreter, found before any user-wide `python3` spec."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / KERNEL / "kernel.json"
    spec.parent.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(jupyter / "runtime"))
    return KERNEL


def execute(project: Path, name: str, kernel: str, parameters: str | None = None) -> nbformat.NotebookNode:
    """Run the copy's notebook `name`; `parameters` replaces the cell tagged `parameters`."""
    notebook = nbformat.read(project / "notebooks" / name, as_version=4)
    if parameters is not None:
        cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = parameters
    env = project_env(project)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures become outputs
    env["IPYTHONDIR"] = str(project.parent / "ipython")  # no user profile, history written here
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(project / "notebooks")}},
    )
    client.execute(env=env)
    return notebook


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def plotting_cells(notebook: nbformat.NotebookNode) -> int:
    return sum(cell.cell_type == "code" and "plt.show()" in cell.source for cell in notebook.cells)


def at(project: Path, rev: str, path: str) -> Any:
    return yaml.safe_load(run(["git", "show", f"{rev}:{path}"], project).stdout)


def test_explore_data_runs_on_the_workspace(history: History, kernel: str) -> None:
    notebook = execute(history.project, "01-explore-data.ipynb", kernel)
    shown = text_of(notebook)
    assert f"md5 {Project(history.project).outs()[DATA]} (dvc.lock)" in shown
    table = pd.read_parquet(history.project / DATA)
    assert f"{len(table):,} rows x {table.shape[1]} columns" in shown
    assert f"overall label rate: {table['income'].mean():.1%}" in shown
    assert images(notebook) == plotting_cells(notebook) == 3


def test_explore_data_loads_a_chosen_revision(history: History, kernel: str) -> None:
    first = history.revisions[1]  # the reproduced commit, before the threshold change
    notebook = execute(history.project, "01-explore-data.ipynb", kernel, f'REV = "{first}"\nDATA = "{DATA}"')
    recorded = {
        out["path"]: out["md5"]
        for stage in at(history.project, first, "dvc.lock")["stages"].values()
        for out in stage.get("outs", [])
    }
    assert f"{DATA} at {first}: md5 {recorded[DATA]} (dvc.lock)" in text_of(notebook)


def test_compare_experiments_shows_revisions_and_the_experiment(history: History, kernel: str) -> None:
    notebook = execute(history.project, "02-compare-experiments.ipynb", kernel)
    shown = text_of(notebook)
    # NUM = 3: HEAD (shown as its branch) and the two commits before it, plus the experiment on
    # the middle one; the oldest (the copy as committed) has results only when its dvc.lock was
    # current, so only the three made here must have them
    counted = re.search(r"(\d+) runs, (\d+) with results", shown)
    assert counted and int(counted[1]) == 4 and int(counted[2]) >= 3, shown
    runs = next(cell for cell in notebook.cells if "runs_table(runs)" in cell.source)
    listed = runs.outputs[-1]["data"]["text/plain"]
    for name in ["main", history.revisions[1], EXPERIMENT, history.revisions[0]]:
        assert name in listed
    assert "evaluate.threshold" in shown  # the one parameter that differs
    assert images(notebook) == plotting_cells(notebook) == 3


def test_make_notebooks_runs_them_headless_at_a_revision(history: History, kernel: str) -> None:
    """`make notebooks REV=...`: papermill sets REV in each notebook, nbconvert writes the HTML."""
    first = history.revisions[1]
    venv = history.project / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix), target_is_directory=True)  # the project's .venv is this one
    env = project_env(history.project)
    env["IPYTHONDIR"] = str(history.project.parent / "ipython")
    run(["make", "notebooks", f"REV={first}", f"KERNEL={kernel}"], history.project, env=env)
    pages = {path.name: path.read_text() for path in (history.project / "reports" / "notebooks").iterdir()}
    assert sorted(pages) == ["01-explore-data.html", "02-compare-experiments.html"]
    recorded = {
        out["path"]: out["md5"]
        for stage in at(history.project, first, "dvc.lock")["stages"].values()
        for out in stage.get("outs", [])
    }
    assert f"{DATA} at {first}: md5 {recorded[DATA]} (dvc.lock)" in pages["01-explore-data.html"]
