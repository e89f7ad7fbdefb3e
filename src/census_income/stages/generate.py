"""generate: a large Adult-shaped source (Parquet, written in chunks) from a real one.

Only present when the data config has `generate:` entries (`data=adult_large`). The
reference is gated like any raw source; the output is gated by ingest like any source,
and here on its first chunk, before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.contracts.gate import Gate
from census_income.contracts.suites import raw_suite, stored_as_integers
from census_income.data.config import GenerateConfig
from census_income.data.ingest import parse_source
from census_income.data.synthetic import synthesize
from census_income.io import ParquetChunks, read_source
from census_income.stages.harness import StageRun, run_stage


def generate_stage(run: StageRun, args: argparse.Namespace, cfg: GenerateConfig) -> None:
    part = Path(args.out).stem
    run.stage = f"generate@{part}"
    spec = cfg.generate[part]
    reference = parse_source(read_source(spec.reference), cfg.format, where=spec.reference)
    run.read(reference)
    gate = run.watch(Gate(f"generate-{part}", cfg.mode))
    gate.check("reference", reference, raw_suite, cfg.format, cfg.schema_, cfg.contract, cfg.rules)
    rows = max(1, round(cfg.rows * spec.share))
    chunks = synthesize(reference, cfg.format, cfg.schema_, cfg.synthesis, rows=rows, seed=cfg.seed)
    with ParquetChunks(args.out, total_rows=rows, description=f"generate {part}") as writer:
        for index, chunk in enumerate(chunks):
            if index == 0:
                checked = stored_as_integers(chunk, cfg.format, cfg.schema_)
                gate.check("first-chunk", chunk, raw_suite, cfg.format, cfg.schema_, cfg.contract, cfg.rules, checked)
            run.wrote(chunk)
            writer.write(chunk)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("generate", generate_stage, GenerateConfig, ["out", "gates"])
