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


def log_file() -> Path:
    """JSON lines of every stage run (git-ignored); `CENSUS_INCOME_LOG_DIR` moves it."""
    return Path(os.environ.get("CENSUS_INCOME_LOG_DIR", "logs")) / "pipeline.jsonl"


def gate_results_dir() -> Path:
    """Full Great Expectations results of the latest gate runs (git-ignored, not DVC outputs)."""
    return Path(os.environ.get("CENSUS_INCOME_GATE_DIR", "logs/gates"))


def data_docs_dir() -> Path:
    """Great Expectations Data Docs built from those results by `make docs` (git-ignored)."""
    return Path(os.environ.get("CENSUS_INCOME_DOCS_DIR", "logs/data-docs"))
