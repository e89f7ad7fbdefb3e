"""train: fit the configured model on featurized train and export one scoring artifact."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from census_income.contracts.gate import Gate
from census_income.contracts.model_suites import features_suite, predictions_suite
from census_income.io import dump_model, load_model, read_parquet
from census_income.modeling.config import TrainConfig
from census_income.modeling.models import build_estimator, fit_model, native_categorical, scoring_pipeline
from census_income.repo.lineage import recorded_md5
from census_income.stages.harness import StageRun, run_stage


def train_stage(run: StageRun, args: argparse.Namespace, cfg: TrainConfig) -> None:
    categorical = native_categorical(cfg.model, cfg.schema_.categorical)
    estimator = build_estimator(cfg.model, cfg.seed, categorical, cfg.features_encoding)  # config errors first
    gate = run.watch(Gate("train", cfg.mode))
    label = cfg.schema_.target
    train = read_parquet(Path(args.features) / "train.parquet")
    run.read(train)
    featurizer = load_model(args.featurizer, recorded_md5(args.featurizer))
    columns = [*featurizer[-1].get_feature_names_out(), label]
    gate.check("features-train", train, features_suite, columns, len(train), cfg.schema_)
    fit_model(train, label, estimator, categorical)
    scores = pd.DataFrame({"score": estimator.predict_proba(train.drop(columns=[label]))[:, 1]})
    gate.check("predictions-train", scores, predictions_suite, len(train))
    run.extra["model"] = cfg.model.name
    dump_model(scoring_pipeline(featurizer, estimator), args.out)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("train", train_stage, TrainConfig, ["features", "featurizer", "out", "gates"])
