"""split: the prepared table into train, validation and test Parquet files."""

from __future__ import annotations

import argparse

from census_income.contracts.gate import Gate
from census_income.contracts.inputs import check_prepared, check_split_parts
from census_income.data.config import SplitStageConfig
from census_income.data.split import split
from census_income.io import atomic_path, read_parquet, write_parquet
from census_income.stages.harness import StageRun, run_stage


def split_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = SplitStageConfig.load()
    if cfg.engine.name == "spark":
        from census_income.spark.stages import split_stage as on_spark

        on_spark(run, args, cfg)
        return
    gate = Gate("split", run, cfg.mode)
    table = read_parquet(args.prepared)
    run.read(table)
    check_prepared(gate, table, args.prepared, cfg)
    parts = split(table, cfg.split, cfg.schema_.target, cfg.seed)
    check_split_parts(gate, parts, cfg)
    with atomic_path(args.out) as out:
        out.mkdir()
        for name, part in parts.items():
            run.wrote(part)
            write_parquet(part, out / f"{name}.parquet")
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("split", split_stage, ["prepared", "out", "gates"])
