"""Metrics overall and per slice, and the inputs of the evaluation plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

METRICS = ("roc_auc", "average_precision", "accuracy", "error_rate", "f1", "log_loss", "brier")


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking, thresholded and probabilistic quality of positive-class scores."""
    y_pred = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    accuracy = float(skm.accuracy_score(y_true, y_pred))
    values = {
        "roc_auc": skm.roc_auc_score(y_true, proba) if both_classes else float("nan"),
        "average_precision": skm.average_precision_score(y_true, proba) if both_classes else float("nan"),
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "f1": skm.f1_score(y_true, y_pred, zero_division=0.0),
        "log_loss": skm.log_loss(y_true, proba, labels=[0, 1]),
        "brier": skm.brier_score_loss(y_true, proba, labels=[0, 1]) if both_classes else float("nan"),
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def slice_metrics(
    frame: pd.DataFrame, label: str, proba: np.ndarray, slices: list[str], threshold: float
) -> dict[str, dict[str, dict[str, float]]]:
    """The same metrics for each value of each slice column (`sex`, `race`, ...)."""
    result: dict[str, dict[str, dict[str, float]]] = {}
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


def confusion_pairs(y_true: np.ndarray, y_pred: np.ndarray, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) pairs for the confusion-matrix plot, at most `max_rows` of them.

    DVC draws the matrix from one record per row, so at millions of rows the plot file alone
    would be hundreds of MB. Beyond `max_rows`, each cell's count is scaled down to `max_rows`
    in total (largest remainders): the normalised matrix stays exact to 1/`max_rows`.
    """
    if len(y_true) <= max_rows:
        return y_true, y_pred
    cells = [(actual, predicted) for actual in (0, 1) for predicted in (0, 1)]
    counts = np.array([np.sum((y_true == a) & (y_pred == p)) for a, p in cells], dtype=np.float64)
    exact = counts * max_rows / counts.sum()
    scaled = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - scaled), kind="stable")[: max_rows - int(scaled.sum())]:
        scaled[index] += 1
    actual = np.repeat([a for a, _ in cells], scaled)
    predicted = np.repeat([p for _, p in cells], scaled)
    return actual, predicted


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
    model: Pipeline, *, frame: pd.DataFrame, features: list[str], label: str, repeats: int, max_rows: int, seed: int
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) of each prepared column, largest first."""
    sample = frame.sample(n=min(max_rows, len(frame)), random_state=seed) if len(frame) > max_rows else frame
    result = permutation_importance(
        model, sample[features], sample[label], scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1
    )
    table = pd.DataFrame({"feature": features, "importance": np.round(result.importances_mean, 6)})
    return table.sort_values(["importance", "feature"], ascending=[False, True]).reset_index(drop=True)


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
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics of every split and the positive-class scores they were computed from."""
    scores = {name: scores_of(model, frame, features, chunk_rows) for name, frame in splits.items()}
    overall = {
        name: classification_metrics(frame[label].to_numpy(), scores[name], threshold) for name, frame in splits.items()
    }
    return overall, scores
