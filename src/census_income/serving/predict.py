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
import contextlib
import hashlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from census_income.config import Contract, EvaluateConfig, Schema, SourceFormat, StageConfig
from census_income.errors import GateError, InputError, PipelineError, RegistryError
from census_income.io import RunFiles, source_error
from census_income.paths import PARAMS_FILE
from census_income.serving.registry import DVC_FILE, ModelRef, open_output, resolve, text_at, yaml_at

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from census_income.contracts.gate import Gate

CHUNK_ROWS = 100_000
# the longest input line (or Parquet row) accepted: far above any real row, far below memory
MAX_LINE_BYTES = 1 << 20
ON_BAD_ROWS = ("refuse", "skip")
TRAIN_SPLIT = "train"
# what a run writes beside its predictions, `<stem>.<kind>`
SIDE_FILES = ("rejected.parquet", "drift.json", "shadow.json")


class ScoringConfig(StageConfig):
    """What scoring reads from the `params.yaml` of the model's own revision."""

    PARAMS: ClassVar[dict[str, str]] = {
        "format": "data.format",
        "schema": "data.schema",
        "contract": "data.contract",
        "evaluate": "evaluate",
        "slices": "data.slices",
    }

    format: SourceFormat
    schema_: Schema = Field(alias="schema")
    contract: Contract
    evaluate: EvaluateConfig
    slices: list[str]


@dataclass(frozen=True)
class Scorer:
    """A loaded model version and the configuration it was trained with."""

    ref: ModelRef
    model: Any
    md5: str
    cfg: ScoringConfig


def load_scorer(spec: str, root: Path) -> Scorer:
    """Resolve `spec` (version, stage or path), check the model's bytes, read its params."""
    import tempfile

    from census_income.serving.registry import load as load_version

    ref = resolve(spec, root)
    model, md5 = load_version(ref, root)
    with tempfile.TemporaryDirectory(prefix="census-income-params.") as tmp:
        params = Path(tmp) / PARAMS_FILE.name
        params.write_text(text_at(root, ref.commit, PARAMS_FILE), encoding="utf-8")
        cfg = ScoringConfig.load(params)
    return Scorer(ref, model, md5, cfg)


def training_rows(scorer: Scorer, root: Path) -> pd.DataFrame:
    """The feature columns of the training split the model's version was fitted on."""
    import io

    import pandas as pd

    stages = yaml_at(root, scorer.ref.commit, DVC_FILE).get("stages") or {}
    outs = [out if isinstance(out, str) else next(iter(out)) for out in (stages.get("split") or {}).get("outs", [])]
    if not outs:
        raise RegistryError(f"{DVC_FILE}: no `split` stage output to compare the input with")
    with open_output(root, scorer.ref.commit, f"{outs[0]}/{TRAIN_SPLIT}.parquet") as handle:
        return pd.read_parquet(io.BytesIO(handle.read()), columns=scorer.cfg.schema_.features)


# ------------------------------------------------------------------ reading the input
def _is_data(line: bytes, comment: bytes | None) -> bool:
    """A line holding a row: not blank, not only a comment."""
    return bool((line.split(comment, 1)[0] if comment else line).strip())


def names_header(line: bytes, fmt: SourceFormat) -> bool:
    """A line of a headerless format that is a header all the same: the format's own column names
    (in any order, the label's optional), as spreadsheets and `to_csv` write them. Scoring reads it
    as the header rather than as a row of bad values."""
    if fmt.header:
        return False
    try:
        text = line.decode(fmt.encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    names = [field.strip().strip("\"'") for field in text.rstrip("\r\n").split(fmt.delimiter)]
    known = set(fmt.columns)
    return len(set(names)) == len(names) >= len(known) - 1 and set(names) <= known


@contextlib.contextmanager
def _opened(uri: str) -> Iterator[IO[bytes]]:
    """The input's bytes; any failure to open or read it (missing, a directory, no connection,
    no credentials, not Parquet) is one line naming the input."""
    import fsspec

    try:
        with fsspec.open(uri, "rb") as handle:
            yield handle
    except (PipelineError, GeneratorExit):
        raise
    except Exception as exc:
        raise source_error("input", uri, exc) from None


def _lines(handle: IO[bytes], uri: str) -> Iterator[bytes]:
    """The input's lines, each at most MAX_LINE_BYTES: a longer one refuses the file before it
    is held in memory whole."""
    number = 0
    while line := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise InputError(f"input {uri} line {number}: longer than {MAX_LINE_BYTES:,} bytes; refused")
        yield line


def _parquet(handle: IO[bytes], uri: str) -> Any:
    """The input as a Parquet file, refused when a row is larger than a text line may be."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    meta = parquet.metadata
    for group in range(meta.num_row_groups):
        info = meta.row_group(group)
        if info.num_rows and info.total_byte_size / info.num_rows > MAX_LINE_BYTES:
            raise InputError(f"input {uri} row group {group}: rows larger than {MAX_LINE_BYTES:,} bytes; refused")
    return parquet


def input_digest(uri: str, fmt: SourceFormat) -> tuple[str, int]:
    """md5 of the input's bytes (as DVC computes it) and its number of data rows."""
    digest = hashlib.md5()
    rows = 0
    comment = fmt.comment.encode(fmt.encoding) if fmt.comment else None
    with _opened(uri) as handle:
        if uri.lower().endswith(".parquet"):
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            handle.seek(0)
            return digest.hexdigest(), int(_parquet(handle, uri).metadata.num_rows)
        headed = fmt.header
        for line in _lines(handle, uri):
            digest.update(line)
            if _is_data(line, comment):
                headed = headed or (rows == 0 and names_header(line, fmt))
                rows += 1
    return digest.hexdigest(), max(rows - int(headed), 0)


def read_chunks(uri: str, fmt: SourceFormat, label: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Raw rows as delivered, `chunk_rows` at a time, indexed by row number (0-based, data rows).

    Text is cut at line ends and each piece parsed by `parse_source` (the pipeline's own parser);
    a headerless file without the label column gets the other names in order.
    """
    import pandas as pd

    from census_income.data.ingest import parse_source

    if uri.lower().endswith(".parquet"):
        first = 0
        with _opened(uri) as handle:
            for batch in _parquet(handle, uri).iter_batches(batch_size=chunk_rows):
                frame: pd.DataFrame = batch.to_pandas()
                frame.index = pd.RangeIndex(first, first + len(frame))
                first += len(frame)
                yield frame
        return

    comment = fmt.comment.encode(fmt.encoding) if fmt.comment else None
    unlabelled = [c for c in fmt.columns if c != label]

    def parse(lines: list[bytes], header: bytes | None, first: int) -> pd.DataFrame:
        where = f"{uri} rows {first}-{first + len(lines) - 1}"
        # a header in a headerless format (`names_header`) is parsed as the header it is
        read_as = fmt if fmt.header or header is None else fmt.model_copy(update={"header": True})
        frame = parse_source((header or b"") + b"".join(lines), read_as, where)
        if not read_as.header and frame.shape[1] == len(unlabelled) and len(unlabelled) < len(fmt.columns):
            frame.columns = unlabelled
        frame.index = pd.RangeIndex(first, first + len(frame))
        return frame

    header: bytes | None = None
    lines: list[bytes] = []
    first = 0
    with _opened(uri) as handle:
        for line in _lines(handle, uri):
            if not _is_data(line, comment):
                continue
            if header is None and (fmt.header or (first == 0 and not lines and names_header(line, fmt))):
                header = line if line.endswith(b"\n") else line + b"\n"
                continue
            lines.append(line)
            if len(lines) == chunk_rows:
                chunk = parse(lines, header, first)
                first += len(chunk)
                lines = []
                yield chunk
        if lines:
            yield parse(lines, header, first)


# ------------------------------------------------------------------ gating rows
def failing_rows(frame: pd.DataFrame, expectations: list[Any]) -> tuple[dict[int, list[str]], list[str]]:
    """Which rows fail which expectation, from Great Expectations' own `unexpected_index_list`
    (`COMPLETE` result format); expectations that fail without row indices (table level, such
    as a missing column) are listed apart: no row can be blamed, the whole batch fails."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # a context of its own per call: Great Expectations refuses a second validation definition
    # of the same name in one context (the same holds for `Gate.check`, hence one gate per chunk)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_or_update_pandas("predict-rows")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("rows")
    )
    suite = context.suites.add_or_update(gx.ExpectationSuite(name="predict-rows", expectations=expectations))
    result = gx.ValidationDefinition(name="predict-rows", data=batch, suite=suite).run(
        batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}
    )
    reasons: dict[int, list[str]] = {}
    whole: list[str] = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        assert config is not None
        column = config.kwargs.get("column")
        indices = item.result.get("unexpected_index_list")
        if not indices:
            whole.append(f"{config.type}" + (f" on {column}" if column else ""))
            continue
        values = item.result.get("unexpected_list") or [None] * len(indices)
        why = _why(config.type, config.kwargs)
        for row, value in zip(indices, values, strict=False):
            reasons.setdefault(int(row), []).append(f"{column}={value!r} {why}")
    return reasons, whole


def _why(kind: str, kwargs: dict[str, Any]) -> str:
    """A few words for a failed row-level expectation, with its name for the full story."""
    if kind == "expect_column_values_to_be_between":
        text = f"outside [{kwargs.get('min_value')}, {kwargs.get('max_value')}]"
    elif kind == "expect_column_values_to_be_in_set":
        text = "not an allowed value"
    elif kind == "expect_column_values_to_not_be_in_set":
        text = f"is one of {kwargs.get('value_set')}"
    elif kind == "expect_column_values_to_match_regex":
        text = f"does not match {kwargs.get('regex')}"
    elif kind == "expect_column_values_to_not_be_null":
        text = "is missing"
    else:
        return f"({kind})"
    return f"{text} ({kind})"


def checked_rows(
    raw: pd.DataFrame, cfg: ScoringConfig, gate: Gate, skip: bool
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Prepared rows that pass the input contract, and the rejected raw rows with their reasons.

    Without `skip`, any failure raises the gate's report. Rows keep their input row numbers.
    """
    import pandas as pd

    from census_income.contracts.suites import input_prepared_suite, input_suite, stored_as_integers
    from census_income.data.prepare import prepare_features

    fmt, schema = cfg.format, cfg.schema_
    raw = raw.drop(columns=[schema.label.column], errors="ignore")
    rejected: list[pd.DataFrame] = []

    def gated(frame: pd.DataFrame, suite: str, build: Any, *config: Any) -> pd.DataFrame:
        try:
            gate.check(suite, frame, build, *config)
        except GateError as exc:
            if not skip:
                raise
            reasons, whole = failing_rows(frame, build(*config))
            if whole:
                raise GateError(f"{exc}\n  no single row to skip for: {', '.join(whole)}") from None
            bad = sorted(reasons)
            rejected.append(raw.loc[bad].assign(reasons=["; ".join(reasons[r]) for r in bad]))
            return frame.drop(index=bad)
        return frame

    integer_columns = stored_as_integers(raw, fmt, schema)
    good = gated(raw, "input", input_suite, fmt, schema, cfg.contract, integer_columns)
    if good.empty:
        prepared = pd.DataFrame(columns=schema.features)
    else:
        prepared = gated(
            prepare_features(good, fmt, schema), "input-prepared", input_prepared_suite, schema, cfg.contract
        )
    bad_rows = pd.concat(rejected).sort_index() if rejected else None
    if bad_rows is not None:
        bad_rows.insert(0, "row", bad_rows.index.to_numpy())
    return prepared, bad_rows


def predictions_frame(
    prepared: pd.DataFrame, scores: np.ndarray, threshold: float, version: str, input_md5: str
) -> pd.DataFrame:
    """One row per scored input row: row number, score, decision, model version, input md5."""
    import pandas as pd

    rows = len(scores)
    return pd.DataFrame(
        {
            "row": prepared.index.to_numpy(dtype="int64"),
            "score": scores,
            "label": (scores >= threshold).astype("int8"),
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
            try:
                prepared, bad = checked_rows(raw, cfg, Gate("predict", "fail"), skip=on_bad_rows == "skip")
            except GateError as exc:
                raise InputError(
                    f"input {source} refused (rows {raw.index[0]}-{raw.index[-1]}), nothing written; "
                    f"`--on-bad-rows=skip` scores the good rows:\n{exc}"
                ) from None
            if bad is not None:
                rejected.append(bad)
            if prepared.empty:
                continue
            scores = score(primary.model, prepared)
            monitor.update(prepared)
            if compare is not None and second is not None:
                compare.update(prepared, scores, score(second.model, prepared))
            writer.write(predictions_frame(prepared, scores, cfg.evaluate.threshold, primary.ref.label, input_md5))
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
    parser.add_argument("input", help="raw rows in the source format of data.format (a path or fsspec URL)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="predictions (Parquet)")
    parser.add_argument("--model", default="prod", help="a version (v1.2.0), a stage (prod) or a model file")
    parser.add_argument(
        "--on-bad-rows", choices=ON_BAD_ROWS, default="refuse", help="refuse the file (default) or skip bad rows"
    )
    parser.add_argument("--shadow", help="also score with this version or stage and report disagreements")
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
