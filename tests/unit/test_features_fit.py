"""features: preprocessing fitted on train only, applied to any prepared rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from census_income.data.spec import Schema
from census_income.modeling.config import FeaturesConfig
from census_income.modeling.features import featurize, featurize_chunks, fit_featurizer


def test_output_is_float32_features_plus_the_label(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    out = featurize(featurizer, splits["test"], schema)
    assert len(out) == len(splits["test"])
    assert out.columns[-1] == schema.target
    assert out[schema.target].tolist() == splits["test"][schema.target].tolist()
    assert all(out[c].dtype == "float32" for c in out.columns[:-1])
    assert not out.isna().any().any()
    # one-hot columns are named after the values seen in train
    assert "workclass_Private" in out.columns


def test_fitted_on_train_only(splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema) -> None:
    """Scaling statistics come from train: train's features are centred, other splits' are not."""
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    assert train["age"].mean() == pytest.approx(0, abs=1e-5)
    assert train["age"].std(ddof=0) == pytest.approx(1, abs=1e-4)
    shifted = splits["test"].assign(age=splits["test"]["age"] + 30)
    assert featurize(featurizer, shifted, schema)["age"].mean() > 1


def test_unseen_category_and_missing_values_do_not_fail(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    test = splits["test"].head(3).copy()
    test["workclass"] = pd.Categorical(["Never-worked", None, "Private"])
    out = featurize(featurizer, test, schema)
    onehot = [c for c in out.columns if c.startswith("workclass_")]
    assert "workclass_Never-worked" not in out.columns
    # an unseen value encodes as all zeros; a known one as exactly one 1
    assert out.loc[0, onehot].sum() == 0
    assert out.loc[2, "workclass_Private"] == 1


def test_ordinal_encoding_marks_unknown_values(splits: dict[str, pd.DataFrame], schema: Schema) -> None:
    cfg = FeaturesConfig(categorical_encoding="ordinal", scale_numeric=False)
    featurizer = fit_featurizer(splits["train"], cfg, schema)
    test = splits["test"].head(2).copy()
    test["workclass"] = pd.Categorical(["Never-worked", "Private"])
    out = featurize(featurizer, test, schema)
    assert out.loc[0, "workclass"] == -1
    assert out.loc[1, "workclass"] >= 0
    # without scaling, numbers pass through
    assert out["age"].tolist() == test["age"].astype("float32").tolist()


def test_log_transform_applies_to_the_columns_the_schema_lists(splits: dict[str, pd.DataFrame], schema: Schema) -> None:
    assert schema.log_transform == ["capital_gain"]
    cfg = FeaturesConfig(scale_numeric=False)
    featurizer = fit_featurizer(splits["train"], cfg, schema)
    out = featurize(featurizer, splits["train"], schema)
    expected = np.log1p(splits["train"]["capital_gain"].to_numpy(dtype="float64")).astype("float32")
    np.testing.assert_allclose(out["capital_gain"].to_numpy(), expected, rtol=1e-6)


def test_inputs_are_not_changed(splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema) -> None:
    train_before, test_before = splits["train"].copy(deep=True), splits["test"].copy(deep=True)
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    featurize(featurizer, splits["test"], schema)
    pd.testing.assert_frame_equal(splits["train"], train_before)
    pd.testing.assert_frame_equal(splits["test"], test_before)


def test_featurizer_scores_whole_prepared_rows(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    """Extra columns (row id, part, label) are ignored, so inference needs no column picking."""
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    whole = featurizer.transform(splits["test"])
    pd.testing.assert_frame_equal(
        whole.astype("float32").reset_index(drop=True),
        featurize(featurizer, splits["test"], schema).drop(columns=[schema.target]),
    )


def test_featurizing_in_chunks_gives_the_same_rows_as_one_pass(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    test = splits["test"].iloc[5:]  # an index that does not start at 0
    chunks = list(featurize_chunks(featurizer, test, schema, rows=7))
    assert len(chunks) == -(-len(test) // 7)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), featurize(featurizer, test, schema))


def test_missing_numbers_are_imputed_with_trains_median(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    """A nullable integer (`Int64`) and a decimal (`float64`) column with gaps: featurize fills them."""
    cfg = features_cfg.model_copy(update={"scale_numeric": False})
    typed = schema.model_copy(update={"decimal": ["age"], "nullable": ["capital_gain"]})
    train = splits["train"].astype({"age": "float64", "capital_gain": "Int64"})
    train.loc[train.index[::3], ["age", "capital_gain"]] = None
    featurizer = fit_featurizer(train, cfg, typed)
    out = featurize(featurizer, train, typed)
    assert not out.isna().any().any()
    assert out["age"].iloc[0] == pytest.approx(train["age"].median())
    assert out["capital_gain"].iloc[0] == pytest.approx(float(train["capital_gain"].median()))
