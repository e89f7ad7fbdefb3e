"""ingest: read one configured source, parse it as delivered, gate it, write raw Parquet.

The raw contract runs on the text as delivered, then the typed suite on its typed form
(ranges, label rate), both before anything is written: a corrupt source stops the pipeline here.
"""

from __future__ import annotations

import argparse

from census_income.data.config import IngestConfig
from census_income.stages.engine import engine_for
from census_income.stages.harness import StageRun, run_stage


def ingest(run: StageRun, args: argparse.Namespace, cfg: IngestConfig) -> None:
    engine_for(cfg.engine).ingest(run, args, cfg)


if __name__ == "__main__":
    run_stage("ingest", ingest, IngestConfig, ["source", "out", "gates"])
