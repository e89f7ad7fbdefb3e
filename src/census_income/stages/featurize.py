"""featurize: fit the preprocessing on train, transform every split, save the transformer."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.contracts.gate import Gate
from census_income.contracts.inputs import check_splits
from census_income.contracts.model_suites import features_suite
from census_income.data.split import SPLITS
from census_income.io import ParquetChunks, atomic_path, dump_model, read_parquet
from census_income.modeling.config import FeaturizeConfig
from census_income.modeling.features import featurize_chunks, fit_featurizer
from census_income.stages.harness import StageRun, run_stage


def featurize_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = FeaturizeConfig.load()
    if cfg.engine.name == "spark":
        from census_income.spark.stages import featurize_stage as on_spark

        on_spark(run, args, cfg)
        return
    gate = Gate("featurize", run, cfg.mode)
    splits = {name: read_parquet(Path(args.split) / f"{name}.parquet") for name in SPLITS}
    for frame in splits.values():
        run.read(frame)
    check_splits(gate, splits, args.split, cfg)
    featurizer = fit_featurizer(splits["train"], cfg.features, cfg.schema_)
    columns = [*featurizer[-1].get_feature_names_out(), cfg.schema_.target]
    with atomic_path(args.out) as out:
        out.mkdir()
        for name, frame in splits.items():
            with ParquetChunks(out / f"{name}.parquet", len(frame), f"featurize {name}") as parquet:
                for chunk in featurize_chunks(featurizer, frame, cfg.schema_, cfg.chunk_rows):
                    gate.check(f"features-{name}", chunk, features_suite, columns, len(chunk), cfg.schema_)
                    run.wrote(chunk)
                    parquet.write(chunk)
        dump_model(featurizer, args.featurizer)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("featurize", featurize_stage, ["split", "out", "featurizer", "gates"])
