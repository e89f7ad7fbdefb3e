"""The one place a SparkSession is built, from the `engine` config.

`local[*]` runs Spark in this process's JVM on every core; any other master (a
`spark://`, `yarn` or `k8s://` URL) runs the same code on a cluster. Settings that only
make sense here (quiet logs, no UI, the driver's Python for the workers) are defaults
that `engine.conf` can override.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from typing import TYPE_CHECKING

from census_income.errors import PipelineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from census_income.engines import SparkEngineConfig

log = logging.getLogger("census_income")

# Spark's own defaults for small local jobs are tuned for clusters: these keep a stage's
# start-up short and its output free of progress bars; `engine.conf` wins over them
DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # prepare and split read `_metadata.row_index`, which Parquet files have and vectorised reads keep
    "spark.sql.parquet.enableVectorizedReader": "true",
}


def missing_requirement() -> str | None:
    """Why the Spark engine cannot run here (no pyspark, no Java), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: run `make setup-spark` (or `pip install census-income[spark]`)"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "Java is not installed (Spark needs Java 17 or later: `java` on PATH or JAVA_HOME)"
    return None


def spark_session(cfg: SparkEngineConfig) -> SparkSession:
    """The SparkSession for `cfg`: created once per process, reused afterwards."""
    problem = missing_requirement()
    if problem:
        raise PipelineError(f"engine=spark: {problem}")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = {
        **DEFAULTS,
        "spark.master": cfg.master,
        "spark.app.name": cfg.app_name,
        "spark.driver.memory": cfg.driver_memory,
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        # the workers run the driver's Python (and so this package and its pinned libraries)
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        **cfg.spark_settings(),
    }
    # the Python side of the context reads the workers' Python from the environment, not the conf
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    log.info("spark: %s, Spark %s, %s shuffle partitions", cfg.master, session.version, cfg.shuffle_partitions)
    return session
