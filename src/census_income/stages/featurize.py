"""featurize: fit the preprocessing on train, transform every split, save the transformer."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.config import FeaturizeConfig, load
from census_income.data.split import SPLITS
from census_income.features import featurize, fit_featurizer
from census_income.io import atomic_path, dump_model, read_parquet, write_parquet
from census_income.stage import StageRun, run_stage


def featurize_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(FeaturizeConfig, features="features", schema="data.schema")
    columns = [*cfg.schema_.features, cfg.schema_.target]
    splits = {name: read_parquet(Path(args.split) / f"{name}.parquet", columns=columns) for name in SPLITS}
    for frame in splits.values():
        run.read(frame)
    featurizer = fit_featurizer(splits["train"], cfg.features, cfg.schema_)
    with atomic_path(args.out) as out:
        out.mkdir()
        for name, frame in splits.items():
            features = featurize(featurizer, frame, cfg.schema_)
            run.wrote(features)
            write_parquet(features, out / f"{name}.parquet")
        dump_model(featurizer, args.featurizer)


if __name__ == "__main__":
    run_stage("featurize", featurize_stage, ["split", "out", "featurizer"])
