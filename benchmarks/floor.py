"""The floor of the pipeline benchmarks: the same read, fit and evaluation in one plain process.

No DVC, no gates, no intermediate files, no project code: pandas and scikit-learn only,
configured from `params.yaml` (data set, featurizer and model; the official split and
gradient boosting only). It reads the configured sources as they are: the bundled text
for the default data, or the generated Parquet of `data=adult_large` (so, at N rows, run
it in a project where `generate` has run). Run as a subprocess by `bench_pipeline.py` and
`bench_large.py` so that interpreter start-up and imports count and its peak memory is its
own; it writes one JSON line to stdout: when its imports were done and its work ended
(epoch seconds), the rows it read, its peak memory, and the metrics, so the caller can
check they match the pipeline's.

    python benchmarks/floor.py params.yaml
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def snake(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def read_parts(data: dict[str, Any]) -> dict[str, Any]:
    """Each source part as one frame: snake_case names, missing marker as NaN, the label as 0/1."""
    import numpy as np
    import pandas as pd

    fmt, schema = data["format"], data["schema"]
    label, positive = snake(schema["label"]["column"]), schema["label"]["positive"]
    suffix, marker = schema["label"]["strip_suffix"], fmt["missing_marker"]
    parts = {}
    for part, source in data["source"].items():
        if str(source).endswith(".parquet"):  # generated data: stored types, text as categories
            frame = pd.read_parquet(source)
            frame.columns = [snake(c) for c in frame.columns]
            for column in schema["categorical"]:
                values = frame[column].astype("category")
                frame[column] = values.cat.remove_categories([c for c in values.cat.categories if c == marker])
        else:
            frame = pd.read_csv(
                source,
                header=None,
                names=[snake(c) for c in fmt["columns"]],
                sep=fmt["delimiter"],
                comment=fmt["comment"],
                skipinitialspace=True,
                na_values=[marker],
                keep_default_na=False,
            )
        # the label decided once per distinct value
        values = frame[label].astype("category")
        hits = values.cat.categories.astype(str).str.strip().str.removesuffix(suffix) == positive
        frame[label] = np.append(hits, False)[values.cat.codes.to_numpy()].astype("int8")
        parts[part] = frame
    return parts


def build_featurizer(features: dict[str, Any], categorical: list[str], numeric: list[str]) -> Any:
    """The pipeline's preprocessing (`census_income.modeling.features`), without the project's code."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

    logged = [c for c in numeric if c in features["log_transform"]]

    def numeric_steps() -> list[object]:
        return [SimpleImputer(strategy="median"), *([StandardScaler()] if features["scale_numeric"] else [])]

    if features["categorical_encoding"] == "onehot":
        encoder: Any = OneHotEncoder(
            handle_unknown="infrequent_if_exist" if features.get("min_frequency") else "ignore",
            min_frequency=features.get("min_frequency"),
            sparse_output=False,
            dtype=np.float32,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2, dtype=np.float32
        )
    return ColumnTransformer(
        [
            ("categorical", encoder, categorical),
            ("log", make_pipeline(FunctionTransformer(np.log1p), *numeric_steps()), logged),
            ("numeric", make_pipeline(*numeric_steps()), [c for c in numeric if c not in logged]),
        ]
    )


def main(params_path: str) -> None:
    """Read, prepare, split, featurize, fit, score and measure; print one JSON line."""
    import json
    import resource

    import numpy as np
    import pandas as pd  # noqa: F401  (imported here so that imports count before `imported`)
    import yaml
    from sklearn import metrics as skm
    from sklearn.compose import ColumnTransformer  # noqa: F401
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    imported = time.time()
    params: dict[str, Any] = yaml.safe_load(Path(params_path).read_text(encoding="utf-8"))
    data, features, model, seed = params["data"], params["features"], params["model"], params["seed"]
    # the data set's format, schema and contract live in the file `data.spec` names
    data = {**data, **yaml.safe_load(Path(data["spec"]).read_text(encoding="utf-8"))}
    schema = data["schema"]
    if model["name"] != "hist_gradient_boosting" or params["split"]["method"] != "official":
        raise SystemExit("the floor covers the official split and hist_gradient_boosting only")
    label = snake(schema["label"]["column"])
    parts = read_parts(data)
    rows = sum(len(frame) for frame in parts.values())
    train, validation = train_test_split(
        parts["train"],
        test_size=params["split"]["validation_size"],
        stratify=parts["train"][label],
        random_state=seed,
    )
    splits = {"train": train.sort_index(), "validation": validation.sort_index(), "test": parts["test"]}
    del parts, train, validation

    categorical, numeric = schema["categorical"], schema["numeric"]
    featurizer = build_featurizer({**features, "log_transform": schema.get("log_transform", [])}, categorical, numeric)
    columns = [*categorical, *numeric]
    x_train = featurizer.fit_transform(splits["train"][columns]).astype(np.float32)
    estimator = HistGradientBoostingClassifier(
        learning_rate=model["learning_rate"],
        max_iter=model["max_iter"],
        max_leaf_nodes=model["max_leaf_nodes"],
        min_samples_leaf=model["min_samples_leaf"],
        l2_regularization=model["l2_regularization"],
        max_features=model.get("max_features", 1.0),
        early_stopping=False,
        random_state=seed,
        # the categorical codes are the first columns the transformer writes
        **({"categorical_features": list(range(len(categorical)))} if model.get("encoding") == "native" else {}),
    ).fit(x_train, splits["train"][label].to_numpy())
    del x_train  # evaluation transforms every split again, train included

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
    report = {"imported": imported, "done": done, "rows": rows, "peak_memory_mb": peak_mb, "metrics": scores}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
