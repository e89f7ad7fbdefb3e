"""environment: record the Python and key package versions the pipeline runs with (from uv.lock)."""

from __future__ import annotations

import argparse

from census_income.config import StageConfig
from census_income.io import write_json
from census_income.repo.environment import read_environment_record
from census_income.stages.harness import StageRun, run_stage


def environment_stage(run: StageRun, args: argparse.Namespace, cfg: StageConfig) -> None:
    record = read_environment_record(args.lock)
    run.extra["packages"] = len(record["packages"])
    write_json(record, args.out)


if __name__ == "__main__":
    run_stage("environment", environment_stage, StageConfig, ["lock", "out"])
