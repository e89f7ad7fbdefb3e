"""Parse a source on Spark, as `census_income.data.ingest` does on pandas: names from the
config, values as delivered (text stays text; a Parquet source keeps its stored types).

Spark reads the source itself: a local path, or any URI the cluster's Hadoop file systems
know (`hdfs://`, `s3a://`, ...). Before that, the driver streams the bytes once through
fsspec to stop an empty file or one that is not valid in `data.format.encoding` with the
same one-line error as the pandas engine (Spark's reader would replace bad bytes silently).
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TYPE_CHECKING

from census_income.config import to_snake_case
from census_income.data.spec import Schema, SourceFormat
from census_income.errors import SourceError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BLOCK = 1 << 22


def check_text(uri: str, fmt: SourceFormat) -> None:
    """Stop (`SourceError`) on a missing, empty or wrongly encoded delimited source."""
    import fsspec

    decoder = codecs.getincrementaldecoder(fmt.encoding)()
    offset, seen_text = 0, False
    try:
        with fsspec.open(uri, "rb") as handle:
            while block := handle.read(BLOCK):
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    pending = len(exc.object) - len(block)
                    at = offset - pending + exc.start
                    raise SourceError(
                        f"source {uri}: not {fmt.encoding} text at byte {at}: {exc.object[exc.start : exc.start + 8]!r}"
                    ) from None
                seen_text = seen_text or bool(text.strip())
                offset += len(block)
            decoder.decode(b"", final=True)
    except FileNotFoundError:
        raise SourceError(f"source {uri}: not found") from None
    except UnicodeDecodeError:
        raise SourceError(f"source {uri}: not {fmt.encoding} text at byte {offset}: truncated character") from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"source {uri}: cannot read: {exc}".splitlines()[0]) from None
    if not seen_text:
        raise SourceError(f"source {uri}: empty file")


def parse_source(spark: SparkSession, uri: str, fmt: SourceFormat) -> DataFrame:
    """The rows of one source, one column per configured name (surplus columns of a file
    without header are named `unexpected_<n>`, for the raw contract to reject)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    location = str(Path(uri).resolve()) if "://" not in uri else uri
    try:
        if uri.lower().endswith(".parquet"):
            return spark.read.parquet(location)
        check_text(uri, fmt)
        frame = spark.read.csv(
            location,
            sep=fmt.delimiter,
            header=fmt.header,
            comment=fmt.comment,
            encoding=fmt.encoding,
            ignoreLeadingWhiteSpace=True,
            ignoreTrailingWhiteSpace=False,
            inferSchema=False,
            mode="PERMISSIVE",
        )
    except (PySparkException, Py4JError) as exc:  # Spark's own (AnalysisException, ...) and the JVM's
        raise SourceError(f"source {uri}: cannot read: {str(exc).strip().splitlines()[0]}") from None
    if not fmt.header:
        names = [fmt.columns[i] if i < len(fmt.columns) else f"unexpected_{i + 1}" for i in range(len(frame.columns))]
        frame = frame.toDF(*names)
    return frame.toDF(*[c.strip() for c in frame.columns])


def stored_as_integers(raw: DataFrame, fmt: SourceFormat, schema: Schema) -> frozenset[str]:
    """Raw numeric columns a typed source (Parquet) already stores as integers."""
    from pyspark.sql.types import IntegralType

    types = {field.name: field.dataType for field in raw.schema.fields}
    by_snake = {to_snake_case(c): c for c in fmt.columns}
    return frozenset(
        by_snake[name]
        for name in schema.numeric
        if by_snake.get(name) in types and isinstance(types[by_snake[name]], IntegralType)
    )
