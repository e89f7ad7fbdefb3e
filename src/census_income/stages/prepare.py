"""prepare: the raw parts `data.source` declares into one normalised, typed table."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.contracts.gate import Gate
from census_income.contracts.inputs import check_raw_part
from census_income.contracts.suites import prepared_suite, stored_as_integers
from census_income.data.config import PrepareConfig
from census_income.data.prepare import prepare, unlabelled
from census_income.io import read_parquet, write_parquet
from census_income.stages.harness import StageRun, run_stage


def prepare_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = PrepareConfig.load()
    if cfg.engine.name == "spark":
        from census_income.spark.stages import prepare_stage as on_spark

        on_spark(run, args, cfg)
        return
    gate = Gate("prepare", run, cfg.mode)
    sources = cfg.raw_parts(Path(args.raw))
    raw = {part: read_parquet(path) for part, path in sources.items()}
    for part, path in sources.items():
        frame = raw[part]
        run.read(frame)
        integers = stored_as_integers(frame, cfg.format, cfg.schema_)
        check_raw_part(gate, frame, path, cfg, integers)
    table = prepare(raw, cfg.format, cfg.schema_)
    if cfg.schema_.label.missing == "drop":
        dropped = sum(int(unlabelled(frame, cfg.format, cfg.schema_).sum()) for frame in raw.values())
        # not a suite: an entry that passes with no expectations, so every reader of summaries keeps working
        gate.summary["label-missing-dropped"] = {"success": True, "evaluated": 0, "passed": 0, "rows": dropped}
    gate.check("prepared", table, prepared_suite, cfg.schema_, cfg.contract, cfg.rules)
    run.wrote(table)
    write_parquet(table, args.out)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("prepare", prepare_stage, ["raw", "out", "gates"])
