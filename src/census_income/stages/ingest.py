"""ingest: read one configured source, parse it as delivered, write it as raw Parquet."""

from __future__ import annotations

import argparse

from census_income.config import IngestConfig, load
from census_income.data.ingest import parse_source
from census_income.io import read_source, write_parquet
from census_income.stage import StageRun, run_stage


def ingest(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(IngestConfig, format="data.format")
    raw = parse_source(read_source(args.source), cfg.format, where=args.source)
    run.read(raw)
    run.wrote(raw)
    write_parquet(raw, args.out)


if __name__ == "__main__":
    run_stage("ingest", ingest, ["source", "out"])
