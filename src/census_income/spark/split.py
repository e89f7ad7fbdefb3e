"""Train/validation/test on Spark, with exactly the pandas engine's assignment.

Which row goes where is decided by `census_income.data.split.split` itself, run on the
driver over three narrow columns (row id, part, label: 10 bytes a row, 1 GB of driver
memory at 100M rows) in row-id order, as the pandas engine runs it over the whole table.
The answer, one byte per row id, is broadcast and looked up where the rows are, so the
wide columns never leave Spark and both engines give the same parts, row for row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from census_income.data.config import SplitConfig
from census_income.data.prepare import PART, ROW_ID
from census_income.data.split import SPLITS, split

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ASSIGNED = "_split"


def assignment(table: DataFrame, cfg: SplitConfig, label: str, seed: int) -> np.ndarray:
    """The index in `SPLITS` of each row, indexed by row id (row ids are 0..n-1)."""
    from pyspark.sql import functions as F  # noqa: N812

    parts = sorted(row[0] for row in table.select(PART).distinct().collect())
    codes = F.array_position(F.array(*(F.lit(p) for p in parts)), F.col(PART)).cast("byte") - 1
    narrow = table.select(F.col(ROW_ID), codes.alias(PART), F.col(label).cast("byte").alias(label)).toPandas()
    narrow = narrow.sort_values(ROW_ID, kind="stable").reset_index(drop=True)
    if not narrow[ROW_ID].equals(pd.Series(np.arange(len(narrow), dtype="int64"), name=ROW_ID)):
        from census_income.errors import PipelineError

        raise PipelineError("split: row ids are not 0..n-1 (the prepared table was not written by prepare)")
    narrow[PART] = pd.Categorical.from_codes(narrow[PART].to_numpy(), categories=pd.Index(parts))
    result = np.full(len(narrow), -1, dtype=np.int8)
    for index, (name, rows) in enumerate(split(narrow, cfg, label, seed).items()):
        assert name == SPLITS[index]
        result[rows[ROW_ID].to_numpy()] = index
    return result


def split_parts(table: DataFrame, cfg: SplitConfig, label: str, seed: int) -> dict[str, DataFrame]:
    """`train`, `validation`, `test`: the rows the pandas engine puts there, same columns."""
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.pandas.functions import pandas_udf

    spark = table.sparkSession
    shared = spark.sparkContext.broadcast(assignment(table, cfg, label, seed))

    # pandas is imported at module level: Spark reads this function's type hints to pick the UDF kind
    @pandas_udf("byte")  # type: ignore[call-overload,untyped-decorator,unused-ignore]  # no stubs without pyspark
    def look_up(row_ids: pd.Series) -> pd.Series:
        return pd.Series(shared.value[row_ids.to_numpy()])

    marked = table.withColumn(ASSIGNED, look_up(F.col(ROW_ID)))
    return {name: marked.where(F.col(ASSIGNED) == index).drop(ASSIGNED) for index, name in enumerate(SPLITS)}
