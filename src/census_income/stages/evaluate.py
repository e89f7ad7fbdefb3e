"""evaluate: metrics per split and per slice, plots and feature importance, through dvclive."""

from __future__ import annotations

import argparse
from pathlib import Path

from census_income.config import EvaluateStageConfig, load
from census_income.data.split import SPLITS
from census_income.evaluation import evaluate_model, feature_importance, slice_metrics
from census_income.io import atomic_path, load_model, read_parquet, write_json
from census_income.lineage import recorded_md5
from census_income.stage import StageRun, run_stage

PLOTTED_SPLITS = ("validation", "test")


def evaluate_stage(run: StageRun, args: argparse.Namespace) -> None:
    cfg = load(EvaluateStageConfig, evaluate="evaluate", schema="data.schema", slices="data.slices", seed="seed")
    schema, threshold = cfg.schema_, cfg.evaluate.threshold
    splits = {name: read_parquet(Path(args.split) / f"{name}.parquet") for name in SPLITS}
    for frame in splits.values():
        run.read(frame)
    model = load_model(args.model, recorded_md5(args.model))
    overall, scores = evaluate_model(model, splits, schema.features, schema.target, threshold)
    slices = {
        name: slice_metrics(splits[name], schema.target, scores[name], cfg.slices, threshold) for name in PLOTTED_SPLITS
    }
    importance = feature_importance(
        model,
        frame=splits["validation"],
        features=schema.features,
        label=schema.target,
        repeats=cfg.evaluate.importance_repeats,
        max_rows=cfg.evaluate.importance_max_rows,
        seed=cfg.seed,
    )
    run.extra["test_error_rate"] = overall["test"]["error_rate"]

    from dvclive.live import Live

    with atomic_path(args.out) as out:
        with Live(str(out), dvcyaml=None, save_dvc_exp=False, report=None) as live:
            for split_name, values in overall.items():
                for metric, value in values.items():
                    live.log_metric(f"{split_name}/{metric}", value, plot=False)
            for split_name in PLOTTED_SPLITS:
                y_true, proba = splits[split_name][schema.target].to_numpy(), scores[split_name]
                live.log_sklearn_plot("roc", y_true, proba, name=f"roc/{split_name}", drop_intermediate=True)
                live.log_sklearn_plot(
                    "precision_recall", y_true, proba, name=f"precision_recall/{split_name}", drop_intermediate=True
                )
                live.log_sklearn_plot(
                    "calibration", y_true, proba, name=f"calibration/{split_name}", n_bins=cfg.evaluate.calibration_bins
                )
                live.log_sklearn_plot(
                    "confusion_matrix", y_true, (proba >= threshold).astype(int), name=f"confusion_matrix/{split_name}"
                )
            live.log_plot(
                "feature_importance", importance, x="importance", y="feature", template="bar_horizontal_sorted"
            )
        write_json(slices, out / "slices.json")


if __name__ == "__main__":
    run_stage("evaluate", evaluate_stage, ["split", "model", "out"])
