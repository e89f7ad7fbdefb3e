"""train: fit the configured model on featurized train and export one scoring artifact."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.config import TrainConfig, load
from census_income.io import dump_model, load_model, read_parquet
from census_income.lineage import recorded_md5
from census_income.models import fit_model, scoring_pipeline
from census_income.stage import StageRun, run_stage


def train_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(TrainConfig, model="model", schema="data.schema", seed="seed")
    train = read_parquet(Path(args.features) / "train.parquet")
    run.read(train)
    featurizer = load_model(args.featurizer, recorded_md5(args.featurizer))
    estimator = fit_model(train, cfg.schema_.target, cfg.model, cfg.seed)
    run.extra["model"] = cfg.model.name
    dump_model(scoring_pipeline(featurizer, estimator), args.out)


if __name__ == "__main__":
    run_stage("train", train_stage, ["features", "featurizer", "out"])
