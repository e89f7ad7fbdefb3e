"""Any suite as Great Expectations runs it on a Spark frame (engine=spark): the gate translates
the pandas dtype names the suites use into Spark's. It imports pyspark only when it runs, and
never the project's Spark engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from census_income.contracts import expectation_classes

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation

# pandas dtypes the suites name, and the Spark types of the same columns (engine=spark). GX's
# Spark mean refuses ByteType (GX 1.24), so `for_spark` widens int8 columns to IntegerType.
SPARK_TYPES = {"int64": "LongType", "int8": "IntegerType", "category": "StringType"}


def for_spark(frame: Any, expectations: list[Expectation]) -> tuple[Any, list[Expectation]]:
    """The same expectations for a Spark frame: dtype names translated to Spark's, and its
    8-bit integer columns widened to 32 bits (what the translated names expect)."""
    from pyspark.sql.types import ByteType

    gxe = expectation_classes()
    narrow = [f.name for f in frame.schema.fields if isinstance(f.dataType, ByteType)]
    if narrow:
        frame = frame.withColumns({name: frame[name].cast("int") for name in narrow})
    return frame, [
        gxe.ExpectColumnTypeToBe(column=e.column, type_=SPARK_TYPES.get(e.type_, e.type_))
        if isinstance(e, gxe.ExpectColumnTypeToBe)
        else e
        for e in expectations
    ]
