"""The Spark engine (`engine=spark`): ingest, prepare, split and featurize on PySpark.

Only the stages import this package, and only when `engine.name` is `spark`, so the pandas
engine never imports pyspark (an optional extra: `census-income[spark]`). Modules hold pure
functions DataFrame -> DataFrame (`ingest`, `prepare`, `split`, `featurize`); `session` builds
the one SparkSession from the config, `io` writes the single Parquet files the pandas stages
read, and `stages` runs each stage's body (read, gate, transform, write) as the pandas one does.
"""
