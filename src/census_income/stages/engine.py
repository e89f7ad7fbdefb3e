"""The engine the data stages run on, chosen in one place from `engine.name`.

ingest, prepare, split and featurize have one body per engine, each with the same steps
(read, gate the input, transform, gate the output, write atomically) and writing the same
files, so everything after featurize reads them alike: `PandasEngine` here, `SparkEngine`
in `census_income.spark.stages`, imported only when configured (the extra is optional and
slow to import). A stage module only asks `engine_for` for its body.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from census_income.contracts.gate import Gate
from census_income.contracts.inputs import check_prepared, check_raw_part, check_split_parts, check_splits
from census_income.contracts.model_suites import features_suite
from census_income.contracts.suites import prepared_suite, raw_suite, stored_as_integers, typed_suite
from census_income.data.ingest import parse_source
from census_income.data.prepare import prepare, unlabelled
from census_income.data.split import SPLITS, split
from census_income.engines import SparkEngineConfig
from census_income.io import ParquetChunks, atomic_path, dump_model, read_parquet, read_source, write_parquet

if TYPE_CHECKING:
    from census_income.data.config import IngestConfig, PrepareConfig, SplitStageConfig
    from census_income.engines import EngineConfig
    from census_income.modeling.config import FeaturizeConfig
    from census_income.stages.harness import StageRun


class Engine(Protocol):
    """The bodies of the four stages `engine` configures; `args` holds the stage's paths."""

    def ingest(self, run: StageRun, args: argparse.Namespace, cfg: IngestConfig) -> None: ...

    def prepare(self, run: StageRun, args: argparse.Namespace, cfg: PrepareConfig) -> None: ...

    def split(self, run: StageRun, args: argparse.Namespace, cfg: SplitStageConfig) -> None: ...

    def featurize(self, run: StageRun, args: argparse.Namespace, cfg: FeaturizeConfig) -> None: ...


def engine_for(config: EngineConfig) -> Engine:
    """The configured engine (pyspark is imported here, and only here, when it is Spark)."""
    if isinstance(config, SparkEngineConfig):
        from census_income.spark.stages import SparkEngine

        return SparkEngine(config)
    return PandasEngine()


class PandasEngine:
    """The four stages in this Python process, on pandas."""

    def ingest(self, run: StageRun, args: argparse.Namespace, cfg: IngestConfig) -> None:
        """Parse one source as delivered, gate its text (raw) and typed form, write raw Parquet."""
        part = Path(args.out).stem
        run.stage = f"ingest@{part}"
        raw = parse_source(read_source(args.source), cfg.format, where=args.source)
        run.read(raw)
        gate = run.watch(Gate(f"ingest-{part}", cfg.mode))
        integers = stored_as_integers(raw, cfg.format, cfg.schema_)
        gate.check("raw", raw, raw_suite, cfg.format, cfg.schema_, cfg.contract, cfg.rules, integers)
        typed = prepare({part: raw}, cfg.format, cfg.schema_)
        gate.check("typed", typed, typed_suite, cfg.schema_, cfg.contract, cfg.rules)
        run.wrote(raw)
        write_parquet(raw, args.out)
        gate.write_summary(args.gates)

    def prepare(self, run: StageRun, args: argparse.Namespace, cfg: PrepareConfig) -> None:
        """The raw parts `data.source` declares into one normalised, typed table."""
        gate = run.watch(Gate("prepare", cfg.mode))
        sources = cfg.raw_parts(Path(args.raw))
        raw = {part: read_parquet(path) for part, path in sources.items()}
        for part, path in sources.items():
            frame = raw[part]
            run.read(frame)
            check_raw_part(gate, frame, path, cfg, stored_as_integers(frame, cfg.format, cfg.schema_))
        table = prepare(raw, cfg.format, cfg.schema_)
        if cfg.schema_.label.missing == "drop":
            dropped = sum(int(unlabelled(frame, cfg.format, cfg.schema_).sum()) for frame in raw.values())
            # not a suite: an entry that passes with no expectations, so every reader of summaries keeps working
            gate.summary["label-missing-dropped"] = {"success": True, "evaluated": 0, "passed": 0, "rows": dropped}
        gate.check("prepared", table, prepared_suite, cfg.schema_, cfg.contract, cfg.rules)
        run.wrote(table)
        write_parquet(table, args.out)
        gate.write_summary(args.gates)

    def split(self, run: StageRun, args: argparse.Namespace, cfg: SplitStageConfig) -> None:
        """The prepared table into train, validation and test Parquet files."""
        gate = run.watch(Gate("split", cfg.mode))
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

    def featurize(self, run: StageRun, args: argparse.Namespace, cfg: FeaturizeConfig) -> None:
        """Fit the preprocessing on train, transform every split in chunks, save the transformer."""
        # imported here: scikit-learn is 0.85 s of a process's start-up, and ingest and prepare never use it
        from census_income.modeling.features import featurize_chunks, fit_featurizer

        gate = run.watch(Gate("featurize", cfg.mode))
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
