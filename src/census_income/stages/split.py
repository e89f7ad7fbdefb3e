"""split: the prepared table into train, validation and test Parquet files."""

from __future__ import annotations

import argparse

from census_income.data.config import SplitStageConfig
from census_income.stages.engine import engine_for
from census_income.stages.harness import StageRun, run_stage


def split_stage(run: StageRun, args: argparse.Namespace, cfg: SplitStageConfig) -> None:
    engine_for(cfg.engine).split(run, args, cfg)


if __name__ == "__main__":
    run_stage("split", split_stage, SplitStageConfig, ["prepared", "out", "gates"])
