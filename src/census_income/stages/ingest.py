"""ingest: read one configured source, parse it as delivered, gate it, write raw Parquet.

The raw contract runs on the text as delivered, then the typed suite on its typed form
(ranges, label rate), both before anything is written: a corrupt source stops the pipeline here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.contracts.gate import Gate
from census_income.contracts.suites import raw_suite, stored_as_integers, typed_suite
from census_income.data.config import IngestConfig
from census_income.data.ingest import parse_source
from census_income.data.prepare import prepare
from census_income.io import read_source, write_parquet
from census_income.stages.harness import StageRun, run_stage


def ingest(run: StageRun, args: argparse.Namespace) -> None:
    cfg = IngestConfig.load()
    if cfg.engine.name == "spark":
        from census_income.spark.stages import ingest_stage as on_spark

        on_spark(run, args, cfg)
        return
    part = Path(args.out).stem
    run.stage = f"ingest@{part}"
    raw = parse_source(read_source(args.source), cfg.format, where=args.source)
    run.read(raw)
    gate = Gate(f"ingest-{part}", run, cfg.mode)
    gate.check(
        "raw",
        raw,
        raw_suite,
        cfg.format,
        cfg.schema_,
        cfg.contract,
        cfg.rules,
        stored_as_integers(raw, cfg.format, cfg.schema_),
    )
    typed = prepare({part: raw}, cfg.format, cfg.schema_)
    gate.check("typed", typed, typed_suite, cfg.schema_, cfg.contract, cfg.rules)
    run.wrote(raw)
    write_parquet(raw, args.out)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("ingest", ingest, ["source", "out", "gates"])
