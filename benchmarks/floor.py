"""The floor of the pipeline benchmark: the same read, fit and evaluation in one plain process.

No DVC, no gates, no intermediate files, no project code: pandas and scikit-learn only,
configured from `params.yaml` (the default data set, featurizer and model). Run as a
subprocess by `bench_pipeline.py` so that interpreter start-up and imports count; it writes
one JSON line to stdout: when its imports were done and its work ended (epoch seconds),
its peak memory, and the metrics, so the caller can check they match the pipeline's.

    python benchmarks/floor.py params.yaml
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def main(params_path: str) -> None:
    """Read, prepare, split, featurize, fit, score and measure; print one JSON line."""
    import json
    import resource

    import numpy as np
    import pandas as pd
    import yaml
    from sklearn import metrics as skm
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    imported = time.time()
    params: dict[str, Any] = yaml.safe_load(Path(params_path).read_text(encoding="utf-8"))
    data, features, model, seed = params["data"], params["features"], params["model"], params["seed"]
    fmt, schema = data["format"], data["schema"]
    if model["name"] != "hist_gradient_boosting" or params["split"]["method"] != "official":
        raise SystemExit("the floor covers the default configuration only (official split, hist_gradient_boosting)")

    def snake(name: str) -> str:
        return name.strip().lower().replace("-", "_")

    label, positive = snake(schema["label"]["column"]), schema["label"]["positive"]
    parts = {}
    for part, source in data["source"].items():
        frame = pd.read_csv(
            source,
            header=None,
            names=[snake(c) for c in fmt["columns"]],
            sep=fmt["delimiter"],
            comment=fmt["comment"],
            skipinitialspace=True,
            na_values=[fmt["missing_marker"]],
            keep_default_na=False,
        )
        frame[label] = (frame[label].str.removesuffix(schema["label"]["strip_suffix"]) == positive).astype("int8")
        parts[part] = frame
    train, validation = train_test_split(
        parts["train"],
        test_size=params["split"]["validation_size"],
        stratify=parts["train"][label],
        random_state=seed,
    )
    splits = {"train": train.sort_index(), "validation": validation.sort_index(), "test": parts["test"]}

    categorical, numeric = schema["categorical"], schema["numeric"]
    logged = [c for c in numeric if c in features["log_transform"]]

    def numeric_steps() -> list[object]:
        return [SimpleImputer(strategy="median"), *([StandardScaler()] if features["scale_numeric"] else [])]

    featurizer = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32), categorical),
            ("log", make_pipeline(FunctionTransformer(np.log1p), *numeric_steps()), logged),
            ("numeric", make_pipeline(*numeric_steps()), [c for c in numeric if c not in logged]),
        ]
    )
    columns = [*categorical, *numeric]
    x_train = featurizer.fit_transform(splits["train"][columns]).astype(np.float32)
    estimator = HistGradientBoostingClassifier(
        learning_rate=model["learning_rate"],
        max_iter=model["max_iter"],
        max_leaf_nodes=model["max_leaf_nodes"],
        min_samples_leaf=model["min_samples_leaf"],
        l2_regularization=model["l2_regularization"],
        early_stopping=False,
        random_state=seed,
    ).fit(x_train, splits["train"][label].to_numpy())

    threshold = params["evaluate"]["threshold"]
    scores: dict[str, dict[str, float]] = {}
    for name, frame in splits.items():
        y_true = frame[label].to_numpy()
        proba = estimator.predict_proba(featurizer.transform(frame[columns]).astype(np.float32))[:, 1]
        y_pred = (proba >= threshold).astype(int)
        accuracy = float(skm.accuracy_score(y_true, y_pred))
        scores[name] = {
            "roc_auc": float(skm.roc_auc_score(y_true, proba)),
            "average_precision": float(skm.average_precision_score(y_true, proba)),
            "accuracy": accuracy,
            "error_rate": 1.0 - accuracy,
            "f1": float(skm.f1_score(y_true, y_pred)),
            "log_loss": float(skm.log_loss(y_true, proba, labels=[0, 1])),
            "brier": float(skm.brier_score_loss(y_true, proba)),
        }
    done = time.time()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(
        json.dumps({"imported": imported, "done": done, "peak_memory_mb": peak_mb, "metrics": scores}) + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
