"""prepare: every raw part (file stem = part name) into one normalised, typed table."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.config import PrepareConfig, load
from census_income.data.prepare import prepare
from census_income.io import read_parquet, write_parquet
from census_income.stage import StageRun, run_stage


def prepare_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(PrepareConfig, format="data.format", schema="data.schema")
    raw = {path.stem: read_parquet(path) for path in sorted(Path(args.raw).glob("*.parquet"))}
    for frame in raw.values():
        run.read(frame)
    table = prepare(raw, cfg.format, cfg.schema_)
    run.wrote(table)
    write_parquet(table, args.out)


if __name__ == "__main__":
    run_stage("prepare", prepare_stage, ["raw", "out"])
