"""Preprocessing fitted on train only, shared by featurize and the exported model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from census_income.data.spec import Schema
from census_income.modeling.config import FeaturesConfig


def to_model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """Prepared dtypes -> what scikit-learn encoders accept (object text, float numbers).

    Integer and `category` columns become float64 and object with NaN for
    missing, so that prepared rows can be scored without any other step.
    """
    converted = {}
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(values):
            converted[column] = values.astype(object).where(values.notna(), np.nan)
        else:
            converted[column] = values.astype("float64")
    return pd.DataFrame(converted, index=frame.index)


def build_featurizer(cfg: FeaturesConfig, schema: Schema) -> Pipeline:
    """An unfitted transformer from prepared feature columns to model features."""
    if cfg.categorical_encoding == "onehot":
        encoder: OneHotEncoder | OrdinalEncoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist" if cfg.min_frequency else "ignore",
            min_frequency=cfg.min_frequency,
            sparse_output=False,
            dtype=np.float32,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2, dtype=np.float32
        )
    logged = [c for c in schema.numeric if c in schema.log_transform]

    def numeric_steps() -> list[object]:
        return [SimpleImputer(strategy="median"), *([StandardScaler()] if cfg.scale_numeric else [])]

    columns = ColumnTransformer(
        [
            ("categorical", encoder, schema.categorical),
            (
                "log",
                make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"), *numeric_steps()),
                logged,
            ),
            ("numeric", make_pipeline(*numeric_steps()), [c for c in schema.numeric if c not in logged]),
        ],
        verbose_feature_names_out=False,
    )
    # no feature_names_out: the converter keeps whatever columns it gets, so the artifact
    # scores whole prepared rows (row ids, label and all); the ColumnTransformer picks features
    pipeline = make_pipeline(FunctionTransformer(to_model_input), columns)
    pipeline.set_output(transform="pandas")
    return pipeline


def fit_featurizer(train: pd.DataFrame, cfg: FeaturesConfig, schema: Schema) -> Pipeline:
    """Fit the preprocessing on the training rows only."""
    return build_featurizer(cfg, schema).fit(train[schema.features])


def featurize(featurizer: Pipeline, frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Model features plus the label, float32, named by the transformer."""
    label = schema.target
    features: pd.DataFrame = featurizer.transform(frame[schema.features]).astype("float32")
    features[label] = frame[label].to_numpy()
    return features.reset_index(drop=True)


def featurize_chunks(featurizer: Pipeline, frame: pd.DataFrame, schema: Schema, rows: int) -> Iterator[pd.DataFrame]:
    """`featurize` on `rows` rows at a time: the encoded copy (float32, one column per category
    with one-hot codes) never exists for the whole frame at once. Row-wise, so the values are the
    same as in one pass."""
    for start in range(0, max(len(frame), 1), rows):
        yield featurize(featurizer, frame.iloc[start : start + rows], schema)
