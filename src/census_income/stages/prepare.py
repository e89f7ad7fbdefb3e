"""prepare: the raw parts `data.source` declares into one normalised, typed table."""

from __future__ import annotations

import argparse

from census_income.data.config import PrepareConfig
from census_income.stages.engine import engine_for
from census_income.stages.harness import StageRun, run_stage


def prepare_stage(run: StageRun, args: argparse.Namespace, cfg: PrepareConfig) -> None:
    engine_for(cfg.engine).prepare(run, args, cfg)


if __name__ == "__main__":
    run_stage("prepare", prepare_stage, PrepareConfig, ["raw", "out", "gates"])
