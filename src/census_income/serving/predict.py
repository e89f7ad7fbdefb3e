"""`census-income predict`: score a file of raw rows with a model version, safely.

The input is read in the source format of `data.format` (the label column may be there or
not), chunk by chunk: each chunk is gated against the input part of the data contract (as
delivered, then typed), prepared exactly as the pipeline prepares rows, and scored. Bad rows
refuse the whole file, or with `--on-bad-rows=skip` go to a side file with their reasons.
Predictions carry the model version and the input's md5; a drift summary against the
training rows of that version, and optionally a shadow comparison with a second version,
are written beside them. Every file appears only when the whole run succeeded.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from census_income.errors import GateError, InputError, PipelineError
from census_income.io import RunFiles
from census_income.paths import given_location, given_model, given_path
from census_income.serving.reading import CHUNK_ROWS, input_digest, read_chunks
from census_income.serving.scorer import TRAIN_SPLIT, Keep, Scored, load_scorer, score_rows, training_rows

if TYPE_CHECKING:
    import pandas as pd

    from census_income.contracts.gate import Gate
    from census_income.contracts.rows import Failure

ON_BAD_ROWS = ("refuse", "skip")
# what a run writes beside its predictions, `<stem>.<kind>`
SIDE_FILES = ("rejected.parquet", "drift.json", "shadow.json")


def gate_keep(gate: Gate, skip: bool) -> Keep:
    """Great Expectations as the gate of a chunk: a failure refuses the chunk with the gate's
    report, or with `skip` blames rows (`failing_rows`) for `score_rows` to drop."""
    from census_income.serving.scorer import failing_rows

    def keep(suite: str, frame: pd.DataFrame, build: Any, *config: Any) -> list[Failure]:
        try:
            gate.check(suite, frame, build, *config)
        except GateError as exc:
            if not skip:
                raise
            failures, whole = failing_rows(frame, build(*config))
            if whole:
                raise GateError(f"{exc}\n  no single row to skip for: {', '.join(whole)}") from None
            return failures
        return []

    return keep


def rejected_rows(raw: pd.DataFrame, failures: list[Failure], label: str) -> pd.DataFrame:
    """The raw rows that failed (label left out), numbered, each with its reasons."""
    reasons: dict[int, list[str]] = {}
    for failure in failures:
        reasons.setdefault(failure.row, []).append(str(failure))
    bad = sorted(reasons)
    rows = raw.drop(columns=[label], errors="ignore").loc[bad].assign(reasons=["; ".join(reasons[r]) for r in bad])
    rows.insert(0, "row", rows.index.to_numpy())
    return rows


def predictions_frame(scored: Scored, version: str, input_md5: str) -> pd.DataFrame:
    """One row per scored input row: row number, score, decision, model version, input md5."""
    import pandas as pd

    rows = len(scored.scores)
    assert isinstance(scored.prepared, pd.DataFrame)  # `score_rows` prepares frames
    return pd.DataFrame(
        {
            "row": scored.prepared.index.to_numpy(dtype="int64"),
            "score": scored.scores,
            "label": scored.labels,
            "model_version": pd.Categorical([version] * rows),
            "input_md5": pd.Categorical([input_md5] * rows),
        }
    )


def side_path(output: Path, kind: str) -> Path:
    """`predictions.parquet` -> `predictions.<kind>`: files written beside the predictions."""
    return output.with_name(f"{output.stem}.{kind}")


# ------------------------------------------------------------------ the command
@dataclass
class Outcome:
    """What one scoring run did (also what the benchmark reads)."""

    rows_in: int
    rows_scored: int
    rows_rejected: int
    seconds: float
    drift: dict[str, Any]
    shadow: dict[str, Any] | None


def predict(
    root: Path,
    model: str,
    source: str,
    output: Path,
    *,
    on_bad_rows: str = "refuse",
    shadow: str | None = None,
    fail_on_drift: bool = False,
    drift_threshold: float | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Outcome:
    """Score `source` with `model` into `output` (Parquet) plus the side files; see the module."""
    import pandas as pd

    from census_income.contracts.gate import Gate
    from census_income.io import ParquetChunks, write_json, write_parquet
    from census_income.serving.scoring import (
        PSI_DRIFT,
        DriftMonitor,
        ShadowComparison,
        feature_bins,
        format_drift,
        score,
    )

    started = time.perf_counter()
    files = run_files(output)  # an output name that would lose anything is refused before any work
    primary = load_scorer(model, root)
    second = load_scorer(shadow, root) if shadow else None
    cfg, schema = primary.cfg, primary.cfg.schema_
    if second is not None and second.cfg.schema_.features != schema.features:
        raise InputError(f"--shadow {shadow}: its model reads other columns than {primary.ref.label}")
    input_md5, rows_in = input_digest(source, cfg.format)
    if rows_in == 0:
        raise InputError(f"input {source}: no rows to score")
    train = training_rows(primary, root)
    monitor = DriftMonitor(feature_bins(train, schema.categorical, schema.numeric))
    del train
    compare = (
        ShadowComparison(cfg.evaluate.threshold, second.cfg.evaluate.threshold, cfg.slices)
        if second is not None
        else None
    )
    threshold = PSI_DRIFT if drift_threshold is None else drift_threshold
    rejected = []
    with files, ParquetChunks(files.path(output), rows_in, f"scoring with {primary.ref.label}") as writer:
        for raw in read_chunks(source, cfg.format, schema.label.column, chunk_rows):
            keep = gate_keep(Gate("predict", "fail"), skip=on_bad_rows == "skip")
            try:
                scored = score_rows(primary, raw, keep, score)
            except GateError as exc:
                raise InputError(
                    f"input {source} refused (rows {raw.index[0]}-{raw.index[-1]}), nothing written; "
                    f"`--on-bad-rows=skip` scores the good rows:\n{exc}"
                ) from None
            if scored.failures:
                rejected.append(rejected_rows(raw, scored.failures, schema.label.column))
            prepared = scored.prepared
            assert isinstance(prepared, pd.DataFrame)  # `score_rows` prepares frames
            if prepared.empty:
                continue
            monitor.update(prepared)
            if compare is not None and second is not None:
                compare.update(prepared, scored.scores, score(second.model, prepared))
            writer.write(predictions_frame(scored, primary.ref.label, input_md5))
        if monitor.rows == 0:
            raise InputError(f"input {source}: no row passed the input contract; nothing written")
        drift = {
            "model": primary.ref.label,
            "commit": primary.ref.commit,
            "reference": f"{TRAIN_SPLIT} split of {primary.ref.describe()}",
            "input": source,
            "input_md5": input_md5,
            **monitor.summary(threshold),
        }
        if fail_on_drift and drift["drifted"]:
            shifted = ", ".join(f"{name} (PSI {drift['features'][name]['psi']:.3f})" for name in drift["drifted"])
            raise PipelineError(
                f"input {source}: drift against the {drift['reference']} in {shifted} "
                f"(PSI >= {threshold}); --fail-on-drift: nothing written\n{format_drift(drift)}"
            )
        write_json(drift, files.path(side_path(output, "drift.json")))
        if rejected:
            write_parquet(pd.concat(rejected), files.path(side_path(output, "rejected.parquet")))
        compared = None
        if compare is not None and second is not None:
            compared = {"primary": primary.ref.label, "shadow": second.ref.label, **compare.summary()}
            write_json(compared, files.path(side_path(output, "shadow.json")))
    return Outcome(
        rows_in=rows_in,
        rows_scored=monitor.rows,
        rows_rejected=sum(len(b) for b in rejected),
        seconds=time.perf_counter() - started,
        drift=drift,
        shadow=compared,
    )


def run_files(output: Path) -> RunFiles:
    """The files one run writes, which appear together or not at all (see `RunFiles`)."""
    return RunFiles([output, *(side_path(output, kind) for kind in SIDE_FILES)])


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `census-income predict`."""
    parser.add_argument(
        "input", type=given_location, help="raw rows in the source format of data.format (a path or fsspec URL)"
    )
    parser.add_argument("-o", "--output", type=given_path, required=True, help="predictions (Parquet)")
    parser.add_argument(
        "--model", type=given_model, default="prod", help="a version (v1.2.0), a stage (prod) or a model file"
    )
    parser.add_argument(
        "--on-bad-rows", choices=ON_BAD_ROWS, default="refuse", help="refuse the file (default) or skip bad rows"
    )
    parser.add_argument(
        "--shadow", type=given_model, help="also score with this version or stage and report disagreements"
    )
    parser.add_argument("--fail-on-drift", action="store_true", help="write nothing when a feature drifted")
    parser.add_argument("--drift-threshold", type=float, help="PSI from which a feature counts as drifted (0.25)")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per chunk (bounds memory)")


def predict_command(args: argparse.Namespace) -> int:
    """Run `census-income predict` and report on the console."""
    from census_income.serving.scoring import format_drift, format_shadow

    if args.chunk_rows < 1:
        raise InputError("--chunk-rows must be at least 1")
    outcome = predict(
        Path.cwd(),
        args.model,
        args.input,
        args.output,
        on_bad_rows=args.on_bad_rows,
        shadow=args.shadow,
        fail_on_drift=args.fail_on_drift,
        drift_threshold=args.drift_threshold,
        chunk_rows=args.chunk_rows,
    )
    drift = outcome.drift
    out = sys.stdout
    rate = outcome.rows_scored / outcome.seconds if outcome.seconds else 0.0
    out.write(
        f"scored {outcome.rows_scored:,} of {outcome.rows_in:,} rows with {drift['model']} in {outcome.seconds:.1f} s "
        f"({rate:,.0f} rows/s) -> {args.output}\n"
    )
    if outcome.rows_rejected:
        out.write(f"skipped {outcome.rows_rejected:,} bad rows -> {side_path(args.output, 'rejected.parquet')}\n")
    flagged = f"drift in {', '.join(drift['drifted'])}" if drift["drifted"] else "no drift"
    out.write(
        f"drift vs the {drift['reference']}: {flagged} (PSI >= {drift['threshold']}) "
        f"-> {side_path(args.output, 'drift.json')}\n{format_drift(drift)}\n"
    )
    if outcome.shadow is not None:
        out.write(
            f"shadow {outcome.shadow['shadow']} vs {outcome.shadow['primary']} "
            f"-> {side_path(args.output, 'shadow.json')}\n{format_shadow(outcome.shadow)}\n"
        )
    return 0
