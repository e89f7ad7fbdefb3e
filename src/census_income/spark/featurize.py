"""Featurize on Spark: the pandas engine's fitted featurizer, applied where the rows are.

The featurizer is fitted on the driver, on train's feature columns only (collected through
Arrow: the same fit, so the same `featurizer.joblib`, as the pandas engine; train later
holds train's encoded features in memory anyway, so this never needs more). Transforming
every split, the row-wise and wide part, runs on the executors (`mapInPandas`), batch by
batch, with `census_income.modeling.features.featurize` itself: the same float32 values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from census_income.data.spec import Schema
from census_income.modeling.config import FeaturesConfig
from census_income.modeling.features import featurize, fit_featurizer

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame
    from sklearn.pipeline import Pipeline


def fit(train: DataFrame, cfg: FeaturesConfig, schema: Schema) -> Pipeline:
    """The featurizer fitted on the training rows (their feature columns, on the driver)."""
    return fit_featurizer(train.select(*schema.features).toPandas(), cfg, schema)


def transform(featurizer: Pipeline, frame: DataFrame, schema: Schema) -> DataFrame:
    """Model features (float32, named by the featurizer) plus the label (int8), row for row."""
    columns = list(featurizer[-1].get_feature_names_out())
    label = schema.target
    ddl = ", ".join([*(f"`{c}` float" for c in columns), f"`{label}` byte"])

    def batches(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in frames:
            yield featurize(featurizer, batch, schema)

    return frame.select(*schema.features, label).mapInPandas(batches, ddl)
