"""Metrics overall and per slice, and the inputs of the evaluation plots."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from census_income.modeling.metrics import MODEL_METRICS, SE_SUFFIX, TRAIN_METRICS, VALIDATION_SE

METRICS = ("roc_auc", "average_precision", "accuracy", "error_rate", "f1", "log_loss", "brier")
BOOTSTRAP_REPLICATES = 100
# a metric by name; None where it is undefined (strict JSON has no NaN)
Metrics = dict[str, float | None]
BOOTSTRAP_MAX_ROWS = 200_000
# rows per scoring call of permutation importance: a few tens of thousands amortise a call's
# fixed cost; larger calls were no faster and held ~3x the memory (4000-row sample, 29 copies)
IMPORTANCE_CALL_ROWS = 32_000


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> Metrics:
    """Ranking, thresholded and probabilistic quality of positive-class scores; None where a
    metric is undefined (an AUC on one class), since strict JSON has no NaN."""
    y_pred = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    accuracy = float(skm.accuracy_score(y_true, y_pred))
    values = {
        "roc_auc": skm.roc_auc_score(y_true, proba) if both_classes else None,
        "average_precision": skm.average_precision_score(y_true, proba) if both_classes else None,
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "f1": skm.f1_score(y_true, y_pred, zero_division=0.0),
        "log_loss": skm.log_loss(y_true, proba, labels=[0, 1]),
        "brier": skm.brier_score_loss(y_true, proba, labels=[0, 1]) if both_classes else None,
    }
    return {name: None if value is None else round(float(value), 6) for name, value in values.items()}


def standard_errors(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    *,
    seed: int,
    replicates: int = BOOTSTRAP_REPLICATES,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> dict[str, float]:
    """Bootstrap standard error of each of `MODEL_METRICS` (seeded, so reruns agree).

    A Poisson bootstrap: each replicate weighs every row by a Poisson(1) draw, and every metric
    takes row weights, so a batch of replicates is a few matrix operations. Above `max_rows`
    rows a seeded sample of `max_rows` is bootstrapped and its errors scaled by
    sqrt(sample / rows): standard errors of these metrics fall as one over the root of the rows.
    """
    rng = np.random.default_rng(seed)
    y, p = np.asarray(y_true).astype(np.float64), np.asarray(proba, dtype=np.float64)
    scale = 1.0
    if len(y) > max_rows:
        keep = np.sort(rng.choice(len(y), size=max_rows, replace=False))
        scale = float(np.sqrt(max_rows / len(y)))
        y, p = y[keep], p[keep]
    batch = max(1, min(replicates, 4_000_000 // max(1, len(y))))
    draws: dict[str, list[np.ndarray]] = {name: [] for name in MODEL_METRICS}
    for first in range(0, replicates, batch):
        weights = rng.poisson(1.0, size=(min(batch, replicates - first), len(y))).astype(np.float64)
        for name, values in weighted_metrics(y, p, threshold, weights).items():
            draws[name].append(values)
    return {name: round(float(np.std(np.concatenate(values), ddof=1)) * scale, 6) for name, values in draws.items()}


def weighted_metrics(y: np.ndarray, p: np.ndarray, threshold: float, weights: np.ndarray) -> dict[str, np.ndarray]:
    """`MODEL_METRICS` under each row of `weights` (replicates x rows): with all weights 1 they
    are the plain metrics (a unit test holds them to scikit-learn's)."""
    order = np.argsort(p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])  # each distinct score, ascending
    predicted = (p >= threshold).astype(np.float64)
    clipped = np.clip(p, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    total = np.maximum(weights.sum(axis=1), 1e-12)
    tp, fp, fn = weights @ (predicted * y), weights @ (predicted * (1 - y)), weights @ ((1 - predicted) * y)
    ranked = weights[:, order]
    positives = _group_sums(ranked * y_sorted, starts)
    negatives = _group_sums(ranked * (1 - y_sorted), starts)
    n_pos, n_neg = positives.sum(axis=1), negatives.sum(axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    tp_down = np.cumsum(positives[:, ::-1], axis=1)  # thresholds from the highest score down
    fp_down = np.cumsum(negatives[:, ::-1], axis=1)
    precision = tp_down / np.maximum(tp_down + fp_down, 1e-12)
    return {
        "error_rate": weights @ (predicted != y).astype(np.float64) / total,
        "roc_auc": (positives * (below + 0.5 * negatives)).sum(axis=1) / np.maximum(n_pos * n_neg, 1e-12),
        "average_precision": (positives[:, ::-1] * precision).sum(axis=1) / np.maximum(n_pos, 1e-12),
        "f1": 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12),
        "log_loss": weights @ -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)) / total,
        "brier": weights @ (p - y) ** 2 / total,
    }


def headline_metrics(
    overall: dict[str, Metrics], errors: dict[str, dict[str, float]], passed: bool
) -> dict[str, dict[str, float]]:
    """What `metrics.json` holds, in the order `dvc exp show` shows it: validation (what sweeps
    rank on) and test (what is reported), each metric with its standard error where recorded,
    train's two figures, and the quality bar's verdict. Slices live in their own file."""
    chosen = {"validation": MODEL_METRICS, "test": MODEL_METRICS, "train": TRAIN_METRICS}
    with_errors = {"validation": VALIDATION_SE, "test": MODEL_METRICS}
    record: dict[str, dict[str, float]] = {}
    for split, names in chosen.items():
        values: dict[str, float] = {}
        for name in names:
            value = overall.get(split, {}).get(name)
            if value is not None:
                values[name] = value
            if name in with_errors.get(split, ()) and name in errors.get(split, {}):
                values[f"{name}{SE_SUFFIX}"] = errors[split][name]
        record[split] = values
    record["quality"] = {"passed": int(passed)}
    return record


def _group_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of consecutive column groups beginning at `starts` (`np.add.reduceat`, several times
    faster through one cumulative sum)."""
    ends = np.r_[starts[1:], values.shape[1]] - 1
    running = np.cumsum(values, axis=1)[:, ends]
    running[:, 1:] -= running[:, :-1].copy()
    return running


def slice_metrics(
    frame: pd.DataFrame, label: str, proba: np.ndarray, slices: list[str], threshold: float
) -> dict[str, dict[str, Metrics]]:
    """The same metrics for each value of each slice column (`sex`, `race`, ...)."""
    result: dict[str, dict[str, Metrics]] = {}
    y_true = frame[label].to_numpy()
    for column in slices:
        values = frame[column].astype("string").fillna("<missing>").to_numpy()
        result[column] = {
            str(value): {
                "rows": int(mask.sum()),
                **classification_metrics(y_true[mask], proba[mask], threshold),
            }
            for value in sorted(set(values))
            if (mask := values == value).any()
        }
    return result


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, int | str]]:
    """The confusion matrix as four counted cells (not one record per row: a few bytes at any size)."""
    return [
        {
            "cell": f"actual {actual}, predicted {predicted}",
            "count": int(np.sum((y_true == actual) & (y_pred == predicted))),
        }
        for actual in (0, 1)
        for predicted in (0, 1)
    ]


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> list[dict[str, float | None]]:
    """The ROC curve's points; the first threshold (scikit-learn's `inf`: nothing predicted
    positive) becomes null, since strict JSON has no Infinity."""
    fpr, tpr, thresholds = skm.roc_curve(y_true, scores, drop_intermediate=True)
    return [
        {"fpr": round(float(f), 6), "tpr": round(float(t), 6), "threshold": _finite(th)}
        for f, t, th in zip(fpr, tpr, thresholds, strict=True)
    ]


def precision_recall_points(y_true: np.ndarray, scores: np.ndarray) -> list[dict[str, float | None]]:
    """The precision-recall curve's points (the last, recall 0, has no threshold: null)."""
    precision, recall, thresholds = skm.precision_recall_curve(y_true, scores, drop_intermediate=True)
    return [
        {
            "recall": round(float(r), 6),
            "precision": round(float(p), 6),
            "threshold": _finite(thresholds[i]) if i < len(thresholds) else None,
        }
        for i, (p, r) in enumerate(zip(precision, recall, strict=True))
    ]


def calibration_points(y_true: np.ndarray, proba: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Mean predicted probability against the observed positive rate, per non-empty bin."""
    from sklearn.calibration import calibration_curve

    prob_true, prob_pred = calibration_curve(y_true, proba, n_bins=bins)
    return [
        {"prob_pred": round(float(x), 6), "prob_true": round(float(y), 6)}
        for x, y in zip(prob_pred, prob_true, strict=True)
    ]


def _finite(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def curve_scores(proba: np.ndarray, max_points: int) -> np.ndarray:
    """Scores for the ROC and precision-recall plots: at most `max_points` distinct values.

    A curve has a point per distinct score, so at millions of rows its JSON (one record per
    point) grows to tens of MB and takes seconds to write and to render. Each score is floored
    to the nearest of at most `max_points` quantile edges: `floored >= edge` holds exactly when
    `score >= edge`, so every point of the curve drawn from them is a point of the exact curve
    (at that edge's threshold), spread evenly over the rows. Metrics use the exact scores.
    """
    if len(np.unique(proba)) <= max_points:
        return proba
    edges = np.unique(np.quantile(proba, np.linspace(0.0, 1.0, max_points), method="inverted_cdf"))
    return edges[np.searchsorted(edges, proba, side="right") - 1]


def feature_importance(
    model: Pipeline,
    *,
    frame: pd.DataFrame,
    features: list[str],
    label: str,
    repeats: int,
    max_rows: int,
    seed: int,
    chunk_rows: int = 1_000_000,
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) of each prepared column, largest first.

    The same numbers as scikit-learn's `permutation_importance` (its shuffles, its scorer's
    decision function or positive-class probability), but every permuted copy of the sample is
    stacked and scored in calls of up to `IMPORTANCE_CALL_ROWS` (and `chunk_rows`) rows rather than
    one call per copy: scores are row-wise, and at a few thousand rows a call's fixed cost is
    most of its time.
    """
    sample = frame.sample(n=min(max_rows, len(frame)), random_state=seed) if len(frame) > max_rows else frame
    rows, y_true = sample[features].reset_index(drop=True), sample[label].to_numpy()
    copies = [rows] + [
        _permuted(rows, column, order) for column, order in _shuffles(len(rows), features, repeats, seed)
    ]
    respond = model.decision_function if hasattr(model, "decision_function") else _positive_proba(model)
    step = max(1, min(chunk_rows, IMPORTANCE_CALL_ROWS) // max(1, len(rows)))
    scored = np.concatenate(
        [respond(pd.concat(copies[start : start + step], ignore_index=True)) for start in range(0, len(copies), step)]
    ).reshape(len(copies), len(rows))
    aucs = np.array([skm.roc_auc_score(y_true, scores) for scores in scored])
    importances = aucs[0] - aucs[1:].reshape(len(features), repeats)
    table = pd.DataFrame({"feature": features, "importance": np.round(np.mean(importances, axis=1), 6)})
    return table.sort_values(["importance", "feature"], ascending=[False, True]).reset_index(drop=True)


def _shuffles(rows: int, features: list[str], repeats: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    """Each feature's row order in each repeat, drawn as `permutation_importance` draws them:
    one seed for all features, and each repeat shuffles the previous repeat's column again."""
    feature_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    for column in features:
        state, shuffling, order = np.random.RandomState(feature_seed), np.arange(rows), np.arange(rows)
        for _ in range(repeats):
            state.shuffle(shuffling)
            order = order[shuffling]
            yield column, order


def _permuted(rows: pd.DataFrame, column: str, order: np.ndarray) -> pd.DataFrame:
    copy = rows.copy()
    copy[column] = rows[column].iloc[order].set_axis(rows.index)  # its dtype kept
    return copy


def _positive_proba(model: Pipeline) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda rows: model.predict_proba(rows)[:, 1]


def scores_of(model: Pipeline, frame: pd.DataFrame, features: list[str], chunk_rows: int) -> np.ndarray:
    """Positive-class scores, `chunk_rows` rows at a time (the model's encoded copy of the rows
    is the largest thing in memory; scores are row-wise, so chunking does not change them)."""
    rows = frame[features]
    return np.concatenate(
        [model.predict_proba(rows.iloc[start : start + chunk_rows])[:, 1] for start in range(0, len(rows), chunk_rows)]
    )


def evaluate_model(
    model: Pipeline,
    splits: dict[str, pd.DataFrame],
    features: list[str],
    label: str,
    threshold: float,
    *,
    chunk_rows: int = 1_000_000,
) -> tuple[dict[str, Metrics], dict[str, np.ndarray]]:
    """Metrics of every split and the positive-class scores they were computed from."""
    scores = {name: scores_of(model, frame, features, chunk_rows) for name, frame in splits.items()}
    overall = {
        name: classification_metrics(frame[label].to_numpy(), scores[name], threshold) for name, frame in splits.items()
    }
    return overall, scores
