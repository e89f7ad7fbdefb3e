"""split: the prepared table into train, validation and test Parquet files."""

from __future__ import annotations

import argparse

from census_income.config import SplitStageConfig, load
from census_income.data.split import split
from census_income.io import atomic_path, read_parquet, write_parquet
from census_income.stage import StageRun, run_stage


def split_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(SplitStageConfig, split="split", schema="data.schema", seed="seed")
    table = read_parquet(args.prepared)
    run.read(table)
    parts = split(table, cfg.split, cfg.schema_.target, cfg.seed)
    with atomic_path(args.out) as out:
        out.mkdir()
        for name, part in parts.items():
            run.wrote(part)
            write_parquet(part, out / f"{name}.parquet")


if __name__ == "__main__":
    run_stage("split", split_stage, ["prepared", "out"])
