"""Where the project keeps files that are not DVC outputs (logs, gate results, lock).

Data and model paths are declared once, in `dvc.yaml`, and reach stages as arguments.
Everything here is relative to the working directory DVC runs stages in: the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

PARAMS_FILE = Path("params.yaml")
LOCK_FILE = Path("dvc.lock")
CONF_DIR = Path("conf")
# the pull-request report (`census-income report`, git-ignored) and the plot comparison it renders
PR_REPORT_FILE = Path("reports/pr.md")
PLOTS_DIR = Path("dvc_plots")
# the model card `census-income lineage` writes (git-ignored: it names the commit, so it is not a DVC output)
MODEL_CARD_FILE = Path("reports/model_card.md")
# evaluate writes the metrics per slice under this name beside its metrics.json (not a declared
# metrics file, to keep `dvc exp show` to the model's metrics: `dvc metrics show <path>` shows it)
SLICE_METRICS_NAME = "slices.json"
# where dvc.yaml puts each stage's gate summary (`--gates reports/gates/<stage>.json`, a DVC output)
GATE_SUMMARIES_DIR = Path("reports/gates")


def log_file() -> Path:
    """JSON lines of every stage run (git-ignored); `CENSUS_INCOME_LOG_DIR` moves it."""
    return Path(os.environ.get("CENSUS_INCOME_LOG_DIR", "logs")) / "pipeline.jsonl"


def gate_results_dir() -> Path:
    """Full Great Expectations results of the latest gate runs (git-ignored, not DVC outputs)."""
    return Path(os.environ.get("CENSUS_INCOME_GATE_DIR", "logs/gates"))


def data_docs_dir() -> Path:
    """Great Expectations Data Docs built from those results by `make data-docs` (git-ignored)."""
    return Path(os.environ.get("CENSUS_INCOME_DOCS_DIR", "logs/data-docs"))


def project_root(start: Path) -> Path | None:
    """The nearest folder from `start` up that holds `.dvc/`: the project, as DVC finds it."""
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def given_path(text: str) -> Path:
    """A path typed on the command line, relative to where it was typed. Commands run at the
    project's root (`census-income` moves there from a subfolder, as `dvc` does), so from a
    subfolder it becomes relative to the root, or absolute when it is outside the project."""
    path = Path(text)
    here = Path.cwd()
    root = project_root(here)
    if path.is_absolute() or root is None or root == here:
        return path
    found = Path(os.path.normpath(here / path))
    return found.relative_to(root) if found.is_relative_to(root) else found


def given_location(text: str) -> str:
    """An input typed on the command line: a URL as it is, a path as `given_path` makes it."""
    return text if "://" in text else str(given_path(text))


def given_model(text: str) -> str:
    """`--model` and the like: a version or a stage as it is, a model file as `given_path` makes it."""
    return str(given_path(text)) if Path(text).is_file() else text
