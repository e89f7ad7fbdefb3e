"""featurize: fit the preprocessing on train, transform every split, save the transformer."""

from __future__ import annotations

import argparse

from census_income.modeling.config import FeaturizeConfig
from census_income.stages.engine import engine_for
from census_income.stages.harness import StageRun, run_stage


def featurize_stage(run: StageRun, args: argparse.Namespace, cfg: FeaturizeConfig) -> None:
    engine_for(cfg.engine).featurize(run, args, cfg)


if __name__ == "__main__":
    run_stage("featurize", featurize_stage, FeaturizeConfig, ["split", "out", "featurizer", "gates"])
