"""featurize: fit the preprocessing on train, transform every split, save the transformer."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.config import FeaturizeConfig, load
from census_income.contracts.gate import Gate
from census_income.contracts.suites import features_suite, split_suite
from census_income.data.split import SPLITS
from census_income.features import featurize, fit_featurizer
from census_income.io import atomic_path, dump_model, read_parquet, write_parquet
from census_income.stage import StageRun, run_stage


def featurize_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(
        FeaturizeConfig,
        features="features",
        schema="data.schema",
        contract="data.contract",
        split_rules="validation.split",
        mode="validation.mode",
    )
    gate = Gate("featurize", run, cfg.mode)
    splits = {name: read_parquet(Path(args.split) / f"{name}.parquet") for name in SPLITS}
    for name, frame in splits.items():
        run.read(frame)
        gate.check(f"split-{name}", frame, split_suite, splits["train"], cfg.schema_, cfg.contract, cfg.split_rules)
    featurizer = fit_featurizer(splits["train"], cfg.features, cfg.schema_)
    features = {name: featurize(featurizer, frame, cfg.schema_) for name, frame in splits.items()}
    columns = list(features["train"].columns)
    for name, frame in features.items():
        gate.check(f"features-{name}", frame, features_suite, columns, len(splits[name]), cfg.schema_)
    with atomic_path(args.out) as out:
        out.mkdir()
        for name, frame in features.items():
            run.wrote(frame)
            write_parquet(frame, out / f"{name}.parquet")
        dump_model(featurizer, args.featurizer)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("featurize", featurize_stage, ["split", "out", "featurizer", "gates"])
