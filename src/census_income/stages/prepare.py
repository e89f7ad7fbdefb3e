"""prepare: every raw part (file stem = part name) into one normalised, typed table."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from census_income.config import PrepareConfig, load
from census_income.contracts.gate import Gate
from census_income.contracts.suites import prepared_suite, raw_schema_suite, raw_suite, stored_as_integers
from census_income.data.prepare import prepare
from census_income.io import read_parquet, write_parquet
from census_income.stage import StageRun, run_stage


def prepare_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(
        PrepareConfig,
        format="data.format",
        schema="data.schema",
        contract="data.contract",
        rules="validation.data",
        mode="validation.mode",
        engine="engine",
    )
    if cfg.engine.name == "spark":
        from census_income.spark.stages import prepare_stage as on_spark

        on_spark(run, args, cfg)
        return
    gate = Gate("prepare", run, cfg.mode)
    sources = sorted(Path(args.raw).glob("*.parquet"))
    raw = {path.stem: read_parquet(path) for path in sources}
    for path in sources:
        frame = raw[path.stem]
        run.read(frame)
        gate.check_input(
            f"raw-{path.stem}",
            frame,
            path,
            full=partial(
                raw_suite,
                cfg.format,
                cfg.schema_,
                cfg.contract,
                cfg.rules,
                stored_as_integers(frame, cfg.format, cfg.schema_),
            ),
            schema=partial(raw_schema_suite, cfg.format),
        )
    table = prepare(raw, cfg.format, cfg.schema_)
    gate.check("prepared", table, prepared_suite, cfg.schema_, cfg.contract, cfg.rules)
    run.wrote(table)
    write_parquet(table, args.out)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("prepare", prepare_stage, ["raw", "out", "gates"])
