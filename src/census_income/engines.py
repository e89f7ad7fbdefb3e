"""The engines the data stages run on (`engine` in params.yaml): pandas in one process, or Spark."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from census_income.config import Strict


class PandasEngineConfig(Strict):
    """ingest, prepare, split and featurize in one Python process on pandas."""

    name: Literal["pandas"]


class SparkEngineConfig(Strict):
    """The same stages on PySpark (`census_income.spark`); `master` picks local mode or a cluster."""

    name: Literal["spark"]
    master: str = "local[*]"
    app_name: str = "census-income"
    driver_memory: str = "8g"
    shuffle_partitions: int = Field(8, gt=0)
    # more Spark settings: `{spark.executor.memory: 8g}`, or nested as `-S` writes them
    # (`-S +engine.conf.spark.executor.memory=8g`); `spark_settings` flattens them
    conf: dict[str, Any] = Field(default_factory=dict)

    def spark_settings(self) -> dict[str, str]:
        """`conf` as flat Spark settings (`spark.executor.memory: 8g`), values as Spark spells them."""
        flat: dict[str, str] = {}

        def walk(node: dict[str, Any], prefix: str) -> None:
            for key, value in node.items():
                if isinstance(value, dict):
                    walk(value, f"{prefix}{key}.")
                else:
                    flat[f"{prefix}{key}"] = str(value).lower() if isinstance(value, bool) else str(value)

        walk(self.conf, "")
        return flat


EngineConfig = Annotated[PandasEngineConfig | SparkEngineConfig, Field(discriminator="name")]
PANDAS_ENGINE = PandasEngineConfig(name="pandas")
