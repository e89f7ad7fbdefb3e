"""`python -m census_income.stages <stage> [arguments]`: run one pipeline stage (`dvc.yaml`'s commands).

The stage runs in a child of the stage server when one is ready (`forkserver`: no interpreter
start-up, nothing left to import), else in this process, exactly as `python -m
census_income.stages.<stage>` runs it.
"""

from __future__ import annotations

import sys

from census_income.stages.launch import STAGES, run_served, run_stage_module


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in STAGES:
        sys.stderr.write(f"usage: python -m census_income.stages {{{','.join(STAGES)}}} [arguments]\n")
        sys.exit(2)
    stage, arguments = argv[0], argv[1:]
    code = run_served(stage, arguments)
    if code is not None:
        sys.exit(code)
    run_stage_module(stage, arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
