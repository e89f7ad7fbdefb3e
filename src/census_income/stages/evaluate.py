"""evaluate: metrics per split and per slice, plots and feature importance, through dvclive."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from census_income.contracts.gate import Gate
from census_income.contracts.inputs import check_splits
from census_income.contracts.model_suites import metrics_suite, predictions_suite, slice_gap_suite, slice_gaps
from census_income.data.split import SPLITS
from census_income.io import atomic_path, load_model, read_parquet, write_json
from census_income.modeling.config import EvaluateStageConfig
from census_income.modeling.evaluation import (
    calibration_points,
    confusion_counts,
    curve_scores,
    evaluate_model,
    feature_importance,
    headline_metrics,
    precision_recall_points,
    roc_points,
    slice_metrics,
    standard_errors,
)
from census_income.paths import SLICE_METRICS_NAME
from census_income.repo.lineage import recorded_md5
from census_income.stages.harness import StageRun, run_stage

PLOTTED_SPLITS = ("validation", "test")


def evaluate_stage(run: StageRun, args: argparse.Namespace, cfg: EvaluateStageConfig) -> None:
    schema, threshold = cfg.schema_, cfg.evaluate.threshold
    gate = run.watch(Gate("evaluate", cfg.mode))
    splits = {name: read_parquet(Path(args.split) / f"{name}.parquet") for name in SPLITS}
    for frame in splits.values():
        run.read(frame)
    check_splits(gate, splits, args.split, cfg)
    model = load_model(args.model, recorded_md5(args.model))
    overall, scores = evaluate_model(
        model, splits, schema.features, schema.target, threshold, chunk_rows=cfg.chunk_rows
    )
    for name, split_scores in scores.items():
        gate.check(f"predictions-{name}", pd.DataFrame({"score": split_scores}), predictions_suite, len(splits[name]))
    slices = {
        name: slice_metrics(splits[name], schema.target, scores[name], cfg.slices, threshold) for name in PLOTTED_SPLITS
    }
    # the quality bar is recorded, not enforced: a weak experiment keeps its metrics, and
    # promotion (register, promote, serve, CI on main) refuses a model below the bar
    passed = gate.record("metrics-test", pd.DataFrame([overall["test"]]), metrics_suite, cfg.rules)
    gaps = slice_gaps(slices["test"], overall["test"], cfg.rules)
    passed = gate.record("slices-test", gaps, slice_gap_suite, cfg.rules) and passed
    errors = {
        name: standard_errors(splits[name][schema.target].to_numpy(), scores[name], threshold, seed=cfg.seed)
        for name in PLOTTED_SPLITS
    }
    importance = feature_importance(
        model,
        frame=splits["validation"],
        features=schema.features,
        label=schema.target,
        repeats=cfg.evaluate.importance_repeats,
        max_rows=cfg.evaluate.importance_max_rows,
        seed=cfg.seed,
        chunk_rows=cfg.chunk_rows,
    )
    run.extra["test_error_rate"] = overall["test"]["error_rate"]

    from dvclive.live import Live

    with atomic_path(args.out) as out:
        with Live(str(out), dvcyaml=None, save_dvc_exp=False, report=None) as live:
            for split_name, split_metrics in headline_metrics(overall, errors, passed).items():
                for metric, value in split_metrics.items():
                    live.log_metric(f"{split_name}/{metric}", value, plot=False)
            for split_name in PLOTTED_SPLITS:
                y_true, proba = splits[split_name][schema.target].to_numpy(), scores[split_name]
                curve = curve_scores(proba, cfg.evaluate.curve_max_points)
                live.log_plot(f"roc/{split_name}", roc_points(y_true, curve), x="fpr", y="tpr")
                live.log_plot(
                    f"precision_recall/{split_name}", precision_recall_points(y_true, curve), x="recall", y="precision"
                )
                bins = cfg.evaluate.calibration_bins
                live.log_plot(
                    f"calibration/{split_name}", calibration_points(y_true, proba, bins), x="prob_pred", y="prob_true"
                )
                counts = confusion_counts(y_true, (proba >= threshold).astype(int))
                live.log_plot(f"confusion/{split_name}", counts, x="count", y="cell")
            live.log_plot(
                "feature_importance", importance, x="importance", y="feature", template="bar_horizontal_sorted"
            )
        write_json(slices, out / SLICE_METRICS_NAME)
    gate.write_summary(args.gates)


if __name__ == "__main__":
    run_stage("evaluate", evaluate_stage, EvaluateStageConfig, ["split", "model", "out", "gates"])
