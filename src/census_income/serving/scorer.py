"""The one scoring path of batch (`predict`) and HTTP (`serve`): a verified version, raw rows in,
the input contract, the pipeline's preparation, the model's probabilities and decisions out.

`score_rows` is that path. What it does with a row that fails the contract is the caller's
`keep`: batch runs Great Expectations (the gate of record: refuse the file, or blame rows and
skip them), HTTP runs the same suites compiled per row (`contracts.rows`) and refuses the
request with every bad row named. Everything else is the same code, so a row gets the same
probability from both, to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from census_income.config import StageConfig
from census_income.data.spec import Contract, Schema, SourceFormat
from census_income.errors import RegistryError
from census_income.modeling.config import EvaluateConfig
from census_income.paths import PARAMS_FILE
from census_income.serving.registry import DVC_FILE, ModelRef, open_output, resolve, text_at, yaml_at

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from great_expectations.expectations.expectation import Expectation

    from census_income.contracts.rows import Failure
    from census_income.serving.small import Prepared

TRAIN_SPLIT = "train"
# a gate over a frame: `keep(suite, frame, build, *config)` checks `frame` against `build(*config)`
# and answers the failures of the rows to drop (none: all pass), or raises to refuse them all
Keep = Callable[..., "list[Failure]"]
Predict = Callable[[Any, "pd.DataFrame"], "np.ndarray"]


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
    return load_ref(resolve(spec, root), root)


def load_ref(ref: ModelRef, root: Path) -> Scorer:
    """A resolved model, verified as the registry verifies it (see `registry.load`), with its params."""
    import tempfile

    from census_income.serving.registry import load as load_version

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


# ------------------------------------------------------------------ the contract, row by row
def failing_rows(frame: pd.DataFrame, expectations: list[Expectation]) -> tuple[list[Failure], list[str]]:
    """Which rows fail which expectation, from Great Expectations' own `unexpected_index_list`
    (`COMPLETE` result format); expectations that fail without row indices (table level, such
    as a missing column) are listed apart: no row can be blamed, the whole batch fails."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from census_income.contracts.rows import Failure, why

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
    failures: list[Failure] = []
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
        reason = why(config.type, config.kwargs)
        failures += [Failure(int(row), str(column), value, reason) for row, value in zip(indices, values, strict=False)]
    failures.sort(key=lambda failure: failure.row)
    return failures, whole


@dataclass(frozen=True)
class Scored:
    """Rows scored: the prepared rows (by input row number), probabilities, decisions, rows dropped."""

    prepared: pd.DataFrame | Prepared  # a few rows all answered by `serving.fast`: their values
    scores: np.ndarray
    labels: np.ndarray
    failures: list[Failure] = field(default_factory=list)


def input_checks(cfg: ScoringConfig, integer_columns: frozenset[str]) -> list[tuple[str, Any, tuple[Any, ...]]]:
    """The input contract's two suites, as `keep` receives them: raw rows as delivered (the
    numeric columns a typed source stores as numbers given), then the typed rows."""
    from census_income.contracts.suites import input_prepared_suite, input_suite

    return [
        ("input", input_suite, (cfg.format, cfg.schema_, cfg.contract, integer_columns)),
        ("input-prepared", input_prepared_suite, (cfg.schema_, cfg.contract)),
    ]


def checked_rows(raw: pd.DataFrame, cfg: ScoringConfig, keep: Keep) -> tuple[pd.DataFrame, list[Failure]]:
    """Prepared rows that pass the input contract (as delivered, then typed), and the failures of
    the rows `keep` dropped. Rows keep their input row numbers; the label column is ignored."""
    import pandas as pd

    from census_income.contracts.suites import stored_as_integers
    from census_income.serving.small import prepare_small

    fmt, schema = cfg.format, cfg.schema_
    if schema.label.column in raw.columns:
        raw = raw.drop(columns=[schema.label.column])
    (as_delivered, build, config), (typed, build_typed, typed_config) = input_checks(
        cfg, stored_as_integers(raw, fmt, schema)
    )
    failures = keep(as_delivered, raw, build, *config)
    good = raw.drop(index=sorted({f.row for f in failures})) if failures else raw
    if good.empty:
        return pd.DataFrame(columns=schema.features), failures
    prepared = prepare_small(good, fmt, schema)
    late = keep(typed, prepared, build_typed, *typed_config)
    if late:
        prepared = prepared.drop(index=sorted({f.row for f in late}))
        failures = sorted([*failures, *late], key=lambda failure: failure.row)
    return prepared, failures


def score_rows(scorer: Scorer, raw: pd.DataFrame, keep: Keep, predict: Predict) -> Scored:
    """The scoring path (see the module): the rows that pass the contract scored, the others'
    failures kept (`keep` may refuse them all instead, by raising)."""
    import numpy as np

    prepared, failures = checked_rows(raw, scorer.cfg, keep)
    scores = predict(scorer.model, prepared) if len(prepared) else np.empty(0, dtype="float64")
    labels = (scores >= scorer.cfg.evaluate.threshold).astype("int8")
    return Scored(prepared, scores, labels, failures)
