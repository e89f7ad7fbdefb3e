"""evaluation: metrics on examples small enough to compute by hand, and per slice."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.inspection import permutation_importance

from census_income.data.spec import Schema
from census_income.modeling.config import FeaturesConfig
from census_income.modeling.evaluation import (
    METRICS,
    classification_metrics,
    confusion_counts,
    curve_scores,
    evaluate_model,
    feature_importance,
    headline_metrics,
    precision_recall_points,
    roc_points,
    slice_metrics,
    standard_errors,
    weighted_metrics,
)
from census_income.modeling.features import featurize, fit_featurizer
from census_income.modeling.metrics import MODEL_METRICS
from census_income.modeling.models import build_estimator, fit_model, scoring_pipeline
from tests.unit.conftest import SCHEMA, SMALL_MODELS

Y = np.array([0, 0, 1, 1])


def test_perfect_scores() -> None:
    metrics = classification_metrics(Y, np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert set(metrics) == set(METRICS)
    assert metrics["roc_auc"] == 1.0
    assert metrics["average_precision"] == 1.0
    assert metrics["accuracy"] == 1.0
    assert metrics["error_rate"] == 0.0
    assert metrics["f1"] == 1.0


def test_a_known_imperfect_example() -> None:
    """Ranked .8(+) .4(-) .35(+) .1(-): one pair of four out of order, one positive missed at 0.5."""
    metrics = classification_metrics(Y, np.array([0.1, 0.4, 0.35, 0.8]), threshold=0.5)
    assert metrics["roc_auc"] == 0.75
    assert metrics["average_precision"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-6)
    assert metrics["accuracy"] == 0.75
    assert metrics["error_rate"] == 0.25
    assert metrics["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4, abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.35, 0.8])), abs=1e-6)


def test_threshold_moves_the_thresholded_metrics_only() -> None:
    proba = np.array([0.1, 0.4, 0.35, 0.8])
    low, high = classification_metrics(Y, proba, 0.3), classification_metrics(Y, proba, 0.5)
    assert low["error_rate"] == 0.25 and low["f1"] == pytest.approx(0.8, abs=1e-6)
    assert low["roc_auc"] == high["roc_auc"] and low["log_loss"] == high["log_loss"]


def test_one_class_gives_no_ranking_metrics_not_an_error() -> None:
    metrics = classification_metrics(np.array([1, 1]), np.array([0.9, 0.2]), threshold=0.5)
    assert metrics["roc_auc"] is None and metrics["average_precision"] is None
    assert metrics["error_rate"] == 0.5


def test_slice_metrics_per_value() -> None:
    frame = pd.DataFrame(
        {
            "income": [0, 1, 0, 1, 0, 1],
            "sex": pd.Categorical(["F", "F", "M", "M", "M", None]),
        }
    )
    proba = np.array([0.2, 0.9, 0.7, 0.6, 0.1, 0.4])
    result = slice_metrics(frame, "income", proba, ["sex"], threshold=0.5)
    assert list(result) == ["sex"]
    assert sorted(result["sex"]) == ["<missing>", "F", "M"]
    female, male, missing = result["sex"]["F"], result["sex"]["M"], result["sex"]["<missing>"]
    assert female["rows"] == 2 and female["roc_auc"] == 1.0 and female["error_rate"] == 0.0
    # M: labels 0,1,0 scored .7,.6,.1 -> one of two pairs in order, the .7 negative is an error
    assert male["rows"] == 3 and male["roc_auc"] == 0.5 and male["error_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert missing["rows"] == 1 and missing["error_rate"] == 1.0
    assert sum(values["rows"] for values in result["sex"].values()) == len(frame)


def test_evaluate_model_scores_every_split(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    estimator = fit_model(train, schema.target, build_estimator(SMALL_MODELS["random_forest"], seed=0))
    model = scoring_pipeline(featurizer, estimator)
    overall, scores = evaluate_model(model, splits, schema.features, schema.target, threshold=0.5)
    assert set(overall) == set(scores) == set(splits)
    for name, frame in splits.items():
        assert scores[name].shape == (len(frame),)
        recomputed = classification_metrics(frame[schema.target].to_numpy(), scores[name], 0.5)
        assert overall[name] == recomputed


def test_scoring_in_chunks_gives_the_same_scores_and_metrics(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, schema: Schema
) -> None:
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    estimator = fit_model(
        featurize(featurizer, splits["train"], schema), schema.target, build_estimator(SMALL_MODELS["random_forest"], 0)
    )
    model = scoring_pipeline(featurizer, estimator)
    whole = evaluate_model(model, splits, schema.features, schema.target, 0.5)
    chunked = evaluate_model(model, splits, schema.features, schema.target, 0.5, chunk_rows=9)
    assert whole[0] == chunked[0]
    for name in splits:
        np.testing.assert_array_equal(whole[1][name], chunked[1][name])


# a model scored by its decision function, one by its probability; repeats; rows scored per call
@pytest.mark.parametrize(
    ("family", "repeats", "chunk_rows"),
    [
        ("hist_gradient_boosting", 1, 1_000_000),
        ("hist_gradient_boosting", 3, 100),
        ("random_forest", 2, 1),
        ("random_forest", 3, 1_000_000),
    ],
)
def test_feature_importance_is_scikit_learns_permutation_importance(
    splits: dict[str, pd.DataFrame], features_cfg: FeaturesConfig, family: str, repeats: int, chunk_rows: int
) -> None:
    """Stacked permuted copies scored a chunk at a time give scikit-learn's very numbers."""
    schema = SCHEMA
    featurizer = fit_featurizer(splits["train"], features_cfg, schema)
    train = featurize(featurizer, splits["train"], schema)
    model = scoring_pipeline(featurizer, fit_model(train, schema.target, build_estimator(SMALL_MODELS[family], 0)))
    frame = pd.concat([splits["train"], splits["test"]])
    before = frame.copy()
    table = feature_importance(
        model,
        frame=frame,
        features=schema.features,
        label=schema.target,
        repeats=repeats,
        max_rows=50,
        seed=3,
        chunk_rows=chunk_rows,
    )
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    sample = frame.sample(n=50, random_state=3)
    expected = permutation_importance(
        model, sample[schema.features], sample[schema.target], scoring="roc_auc", n_repeats=repeats, random_state=3
    )
    assert dict(zip(table["feature"], table["importance"], strict=True)) == dict(
        zip(schema.features, np.round(expected.importances_mean, 6), strict=True)
    )
    assert list(table["importance"]) == sorted(table["importance"], reverse=True)
    assert table["importance"].abs().sum() > 0  # the label depends on age: something to lose


def test_confusion_counts_are_four_cells_that_add_up_to_the_rows() -> None:
    y_true, y_pred = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0])
    counts = {cell["cell"]: cell["count"] for cell in confusion_counts(y_true, y_pred)}
    assert counts == {
        "actual 0, predicted 0": 1,
        "actual 0, predicted 1": 1,
        "actual 1, predicted 0": 1,
        "actual 1, predicted 1": 2,
    }


def strict_json(value: object) -> object:
    """Round-trip through JSON with a parser that rejects NaN and Infinity (as JavaScript's does)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(json.dumps(value), parse_constant=refuse)


def test_curve_points_are_strict_json_and_keep_the_exact_curve() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 500)
    scores = np.clip(rng.random(500) * 0.7 + 0.3 * y_true, 0, 1)
    roc = strict_json(roc_points(y_true, scores))
    fpr, tpr, _ = skm.roc_curve(y_true, scores, drop_intermediate=True)
    assert [(p["fpr"], p["tpr"]) for p in roc] == [(round(f, 6), round(t, 6)) for f, t in zip(fpr, tpr, strict=True)]
    assert roc[0]["threshold"] is None  # scikit-learn's inf
    pr = strict_json(precision_recall_points(y_true, scores))
    assert pr[-1]["threshold"] is None and pr[-1]["recall"] == 0.0


def test_undefined_metrics_are_null_not_nan() -> None:
    """A one-class slice has no AUC: None, which JSON writes as null (NaN is not JSON)."""
    metrics = classification_metrics(np.array([1, 1, 1]), np.array([0.2, 0.6, 0.9]), threshold=0.5)
    assert metrics["roc_auc"] is None and metrics["brier"] is None
    strict_json(metrics)


def test_weighted_metrics_with_unit_weights_are_scikit_learns() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.3).astype(int)
    proba = np.round(np.clip(0.35 * y + rng.random(3000) * 0.65, 0, 1), 2)  # rounded: ties, as trees give
    weighted = weighted_metrics(y.astype(float), proba, 0.5, np.ones((1, len(y))))
    plain = classification_metrics(y, proba, 0.5)
    for name in MODEL_METRICS:
        assert weighted[name][0] == pytest.approx(plain[name], abs=1e-6), name


def test_standard_errors_are_seeded_and_shrink_with_more_rows() -> None:
    rng = np.random.default_rng(11)
    y = (rng.random(8000) < 0.25).astype(int)
    proba = np.clip(0.3 * y + rng.random(8000) * 0.7, 0, 1)
    small = standard_errors(y[:2000], proba[:2000], 0.5, seed=1)
    assert small == standard_errors(y[:2000], proba[:2000], 0.5, seed=1)
    large = standard_errors(y, proba, 0.5, seed=1)
    assert set(small) == set(MODEL_METRICS)
    error_rate = np.mean((proba >= 0.5) != y)
    # the error rate's bootstrap error is close to the binomial one
    assert large["error_rate"] == pytest.approx(math.sqrt(error_rate * (1 - error_rate) / len(y)), rel=0.25)
    for name in MODEL_METRICS:
        assert 0 < large[name] < small[name], name  # 4x the rows: about half the error
    sampled = standard_errors(y, proba, 0.5, seed=1, max_rows=2000)
    assert sampled["error_rate"] == pytest.approx(large["error_rate"], rel=0.3)


def test_headline_metrics_hold_the_judged_splits_errors_and_the_bar() -> None:
    overall = {
        split: dict.fromkeys(("roc_auc", "average_precision", "accuracy", "error_rate", "f1", "log_loss", "brier"), 0.1)
        for split in ("train", "validation", "test")
    }
    errors = {split: dict.fromkeys(MODEL_METRICS, 0.01) for split in ("validation", "test")}
    record = headline_metrics(overall, errors, passed=False)
    assert list(record) == ["validation", "test", "train", "quality"]
    assert set(record["train"]) == {"error_rate", "roc_auc"}
    assert "accuracy" not in record["test"] and record["test"]["f1_se"] == 0.01
    assert set(record["validation"]) == {*MODEL_METRICS, "error_rate_se", "roc_auc_se"}
    assert record["quality"] == {"passed": 0}
    assert sum(len(values) for values in record.values()) <= 25


def test_curve_scores_bound_the_plotted_points_and_every_point_is_exact() -> None:
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, 50_000)
    proba = np.clip(rng.beta(1, 3, 50_000) + 0.3 * y_true, 0, 1)
    curve = curve_scores(proba, 200)
    fpr, tpr, thresholds = skm.roc_curve(y_true, curve, drop_intermediate=False)
    assert len(np.unique(curve)) <= 200 < len(np.unique(proba))
    assert len(thresholds) <= 201  # one point per distinct score, and (0, 0)
    negatives, positives = (y_true == 0).sum(), (y_true == 1).sum()
    for threshold, at_fpr, at_tpr in zip(thresholds[1:], fpr[1:], tpr[1:], strict=True):
        predicted = proba >= threshold  # the exact scores, at the plotted threshold
        assert (predicted & (y_true == 0)).sum() / negatives == at_fpr
        assert (predicted & (y_true == 1)).sum() / positives == at_tpr
    # spread over the rows: no plotted step holds much more than its share of them
    assert np.bincount(np.unique(curve, return_inverse=True)[1]).max() <= 3 * len(proba) / 200
    assert skm.auc(fpr, tpr) == pytest.approx(skm.roc_auc_score(y_true, proba), abs=1e-3)


def test_curve_scores_keep_few_distinct_scores_as_they_are() -> None:
    proba = np.array([0.1, 0.4, 0.4, 0.9])
    assert curve_scores(proba, 3) is proba
