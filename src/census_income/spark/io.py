"""Spark frames in and out of the single Parquet files the pandas stages read and write.

Spark writes a folder of part files in parallel; the pipeline's outputs are single files
(DVC tracks them by path, and train, evaluate and the pandas engine read them as they are).
So Spark writes its parts into the output's atomic temporary folder, and the driver merges
them in part order into one file, one part at a time (memory: one part), casting text
columns named as categorical to dictionary-encoded ones: pandas then reads them as
`category`, as the pandas engine writes them. Local mode and clusters whose nodes share the
project folder (an NFS mount at the same path) can do this; see the README.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from census_income.errors import PipelineError
from census_income.io import atomic_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

POSITION = "_position"


def read_parquet(spark: SparkSession, path: Path | str, positions: bool = False) -> DataFrame:
    """A Parquet file written by a stage; with `positions`, plus each row's index in the file."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: not found (run the stage that makes it)")
    frame = spark.read.parquet(str(path.resolve()))
    if positions:
        from pyspark.sql import functions as F  # noqa: N812

        frame = frame.select("*", F.col("_metadata.row_index").alias(POSITION))
    return frame


def write_parquet(frame: DataFrame, path: Path | str, categorical: Sequence[str] = ()) -> None:
    """Write `frame` as one Parquet file (zstd), atomically; `categorical` text columns as
    dictionary-encoded columns. Rows keep the frame's order (sort it first when it matters)."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        staging = tmp.parent / "spark-parts"
        frame.write.mode("error").parquet(str(staging.resolve()))
        parts = sorted(staging.glob("part-*.parquet"))
        if not parts:
            raise PipelineError(f"{path}: Spark wrote no part file")
        writer: Any = None
        try:
            for part in parts:
                table = pq.read_table(part)
                # the cast also drops Spark's schema metadata: the file holds Arrow's only
                table = table.cast(_schema(table.schema, categorical))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


def _schema(schema: Any, categorical: Sequence[str]) -> Any:
    """`schema` without metadata, with the `categorical` text columns dictionary-encoded."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(f.name, pa.dictionary(pa.int32(), pa.string()), f.nullable)
            if f.name in categorical and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            else pa.field(f.name, f.type, f.nullable)
            for f in schema
        ]
    )
