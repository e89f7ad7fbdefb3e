"""What the gates need from Spark frames beyond what Great Expectations computes itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from census_income.contracts.profile import ReferenceProfile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from census_income.stages.harness import StageRun


def reference_profile(reference: DataFrame, label: str, columns: list[str], quantiles: list[float]) -> ReferenceProfile:
    """`contracts.profile.reference_profile` of a Spark frame (the split gate's `Profiler` on
    Spark), in one Spark job: exact quantiles interpolated linearly between ranks (Spark's
    `percentile`), as pandas computes them."""
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.types import IntegralType

    wanted = [*quantiles, 0.1, 0.9]
    row = reference.agg(
        F.avg(F.col(label)).alias("rate"),
        *(F.percentile(F.col(c).cast("double"), F.lit(wanted)).alias(c) for c in columns),
    ).first()
    assert row is not None
    types = {field.name: field.dataType for field in reference.schema.fields}
    distribution = {}
    for name in columns:
        values = [float(v) for v in row[name]]
        distribution[name] = (isinstance(types[name], IntegralType), values[: len(quantiles)], values[-1] - values[-2])
    return ReferenceProfile(list(reference.columns), float(row["rate"]), distribution)


def count(run: StageRun, frame: DataFrame, *, wrote: bool = False) -> int:
    """Count a Spark frame's rows as `StageRun.read` / `StageRun.wrote` count a pandas one's."""
    rows, columns = int(frame.count()), len(frame.columns)
    if wrote:
        run.rows_out += rows
        run.columns_out = max(run.columns_out, columns)
    else:
        run.rows_in += rows
        run.columns_in = max(run.columns_in, columns)
    return rows
