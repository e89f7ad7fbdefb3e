"""`python -m census_income.stages <stage> [arguments]`: run one pipeline stage (`dvc.yaml`'s commands).

The stage runs in a child of the stage server when one is ready (`forkserver`: no interpreter
start-up, nothing left to import), else in this process, exactly as `python -m
census_income.stages.<stage>` runs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import census_income
from census_income.stages.launch import STAGES, run_served, run_stage_module

# set once the command has moved to the working folder's code, so it moves at most once
CODE_VARIABLE = "CENSUS_INCOME_STAGE_CODE"


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in STAGES:
        sys.stderr.write(f"usage: python -m census_income.stages {{{','.join(STAGES)}}} [arguments]\n")
        sys.exit(2)
    run_the_working_folders_code(argv)
    stage, arguments = argv[0], argv[1:]
    code = run_served(stage, arguments)
    if code is not None:
        sys.exit(code)
    run_stage_module(stage, arguments)


def run_the_working_folders_code(argv: list[str]) -> None:
    """A stage runs the code of the project it runs in. DVC runs a queued experiment in a copy of
    the project (`.dvc/tmp/exps/...`, its code as it was queued, edits included), but an editable
    install imports the workspace's `src/`: then start again with the copy's `src/` first."""
    here = Path.cwd() / "src"
    imported = Path(census_income.__file__).resolve().parent
    if os.environ.get(CODE_VARIABLE) or not (here / "census_income" / "__init__.py").is_file():
        return
    if (here / "census_income").resolve() == imported:
        return
    path = os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, CODE_VARIABLE: str(here)}
    os.execve(sys.executable, [sys.executable, "-m", "census_income.stages", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
