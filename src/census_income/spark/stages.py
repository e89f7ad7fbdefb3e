"""`SparkEngine`: the bodies of ingest, prepare, split and featurize with `engine=spark`.

It implements `census_income.stages.engine.Engine` as `PandasEngine` does, step for step
(read, gate the input, transform, gate the output, write atomically), and writes the same
files, so everything after featurize reads the outputs as the pandas engine writes them.
Frames that several Spark jobs read (the gates' expectations, counts, writes) are cached.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from census_income.contracts.gate import Gate
from census_income.contracts.inputs import check_prepared, check_raw_part, check_split_parts, check_splits
from census_income.contracts.model_suites import features_suite
from census_income.contracts.suites import prepared_suite, raw_suite, typed_suite
from census_income.data.prepare import PART, ROW_ID
from census_income.data.split import SPLITS
from census_income.io import atomic_path, dump_model
from census_income.spark import featurize, ingest, prepare, split
from census_income.spark.gates import count, reference_profile
from census_income.spark.io import POSITION, read_parquet, write_parquet
from census_income.spark.session import spark_session

if TYPE_CHECKING:
    from census_income.data.config import IngestConfig, PrepareConfig, SplitStageConfig
    from census_income.engines import SparkEngineConfig
    from census_income.modeling.config import FeaturizeConfig
    from census_income.stages.harness import StageRun


class SparkEngine:
    """The four stages on the Spark session `config` describes (local mode or a cluster)."""

    def __init__(self, config: SparkEngineConfig) -> None:
        self.config = config

    def ingest(self, run: StageRun, args: argparse.Namespace, cfg: IngestConfig) -> None:
        """Parse one source, gate it (raw and prepared contracts), write it as delivered."""
        from pyspark.sql import functions as F  # noqa: N812

        spark = spark_session(self.config)
        part = Path(args.out).stem
        run.stage = f"ingest@{part}"
        raw = ingest.parse_source(spark, args.source, cfg.format).cache()
        rows = count(run, raw)
        gate = run.watch(Gate(f"ingest-{part}", cfg.mode))
        integers = ingest.stored_as_integers(raw, cfg.format, cfg.schema_)
        gate.check("raw", raw, raw_suite, cfg.format, cfg.schema_, cfg.contract, cfg.rules, integers)
        # row ids only need to be unique here (prepare numbers the rows of every part)
        positioned = raw.withColumn(POSITION, F.monotonically_increasing_id())
        typed = prepare.prepare({part: positioned}, cfg.format, cfg.schema_).cache()
        gate.check("typed", typed, typed_suite, cfg.schema_, cfg.contract, cfg.rules)
        run.rows_out += rows
        run.columns_out = max(run.columns_out, len(raw.columns))
        write_parquet(raw, args.out)
        gate.write_summary(args.gates)

    def prepare(self, run: StageRun, args: argparse.Namespace, cfg: PrepareConfig) -> None:
        """Every raw part into one typed table, `data/prepared/table.parquet`."""
        spark = spark_session(self.config)
        gate = run.watch(Gate("prepare", cfg.mode))
        sources = cfg.raw_parts(Path(args.raw))
        raw = {part: read_parquet(spark, path, positions=True) for part, path in sources.items()}
        for part, path in sources.items():
            frame = raw[part].drop(POSITION)
            count(run, frame)
            integers = ingest.stored_as_integers(frame, cfg.format, cfg.schema_)
            check_raw_part(gate, frame, path, cfg, integers)
        table = prepare.prepare(raw, cfg.format, cfg.schema_).cache()
        gate.check("prepared", table, prepared_suite, cfg.schema_, cfg.contract, cfg.rules)
        count(run, table, wrote=True)
        write_parquet(table.orderBy(ROW_ID), args.out, categorical=[PART, *cfg.schema_.categorical])
        gate.write_summary(args.gates)

    def split(self, run: StageRun, args: argparse.Namespace, cfg: SplitStageConfig) -> None:
        """The prepared table into `train`, `validation`, `test`, as the pandas engine splits it."""
        spark = spark_session(self.config)
        gate = run.watch(Gate("split", cfg.mode))
        table = read_parquet(spark, args.prepared).cache()
        count(run, table)
        check_prepared(gate, table, args.prepared, cfg)
        parts = {
            name: part.cache()
            for name, part in split.split_parts(table, cfg.split, cfg.schema_.target, cfg.seed).items()
        }
        check_split_parts(gate, parts, cfg, reference_profile)
        with atomic_path(args.out) as out:
            out.mkdir()
            for name, part in parts.items():
                count(run, part, wrote=True)
                write_parquet(
                    part.orderBy(ROW_ID), out / f"{name}.parquet", categorical=[PART, *cfg.schema_.categorical]
                )
        gate.write_summary(args.gates)

    def featurize(self, run: StageRun, args: argparse.Namespace, cfg: FeaturizeConfig) -> None:
        """Fit the featurizer on train (on the driver), transform every split on Spark."""
        spark = spark_session(self.config)
        gate = run.watch(Gate("featurize", cfg.mode))
        # one file each, read in file order (Spark keeps a single file's splits in order), so the
        # features come out row for row as the split file holds them
        splits = {name: read_parquet(spark, Path(args.split) / f"{name}.parquet").cache() for name in SPLITS}
        rows = {name: count(run, frame) for name, frame in splits.items()}
        check_splits(gate, splits, args.split, cfg, reference_profile)
        featurizer = featurize.fit(splits["train"], cfg.features, cfg.schema_)
        columns = [*featurizer[-1].get_feature_names_out(), cfg.schema_.target]
        with atomic_path(args.out) as out:
            out.mkdir()
            for name, frame in splits.items():
                features = featurize.transform(featurizer, frame, cfg.schema_).cache()
                gate.check(f"features-{name}", features, features_suite, columns, rows[name], cfg.schema_)
                count(run, features, wrote=True)
                write_parquet(features, out / f"{name}.parquet")
                features.unpersist()
            dump_model(featurizer, args.featurizer)
        gate.write_summary(args.gates)
