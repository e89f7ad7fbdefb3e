"""A few rows' gate, preparation and model input as plain values: no pandas frame on the way.

For a request of a few text rows (a JSON body), building frames (a column per check, the
prepared rows for the model) cost more than checking and scoring them. `fast_scored` runs
the steps of `scorer.score_rows` on the columns' plain values, each with the code the frame
path uses: the contract compiled per row (`RowChecks.failures_of`), the preparation
(`small.typed_values`), the model's input (`CompiledModel.input_of`). It answers only rows
that all pass both suites and that every step is sure to treat as the frame path does;
anything else (a failing row, a value it is unsure of, a model not compiled) is None, and
the caller takes the frame path, which names the failures. Tests compare the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from census_income.config import to_snake_case
from census_income.serving.compiled import compiled_model
from census_income.serving.scorer import Scored, Scorer, input_checks
from census_income.serving.small import SMALL_ROWS, Prepared, few_threads, typed_values

if TYPE_CHECKING:
    from census_income.contracts.rows import RowChecks
    from census_income.serving.reload import RowGate

Columns = dict[str, list[Any]]  # column name -> plain values
TEXT_DTYPE = "str"  # pandas' text dtype: what `bodies` makes of a request's columns


def fast_scored(scorer: Scorer, gate: RowGate, raw: Columns) -> Scored | None:
    """`score_rows(scorer, <the frame of these text columns>, gate.keep, score_small)` for a few
    rows that all pass (their prepared rows as `Prepared` values), or None."""
    found = fast_scores(scorer, gate, raw)
    if found is None:
        return None
    typed, scores = found
    labels = (scores >= scorer.cfg.evaluate.threshold).astype("int8")
    return Scored(Prepared(typed, scorer.cfg.schema_), scores, labels)


def fast_scores(scorer: Scorer, gate: RowGate, raw: Columns) -> tuple[Columns, np.ndarray] | None:
    """The prepared values and probabilities of a few text rows (raw column name -> values),
    or None: take the frame path."""
    typed = _checked(scorer, gate, raw)
    scores = model_scores(scorer.model, typed) if typed is not None else None
    return None if typed is None or scores is None else (typed, scores)


def model_scores(model: Any, typed: Columns) -> np.ndarray | None:
    """`score_small(model, <the prepared frame of these values>)` from the values, or None (not compiled)."""
    compiled = compiled_model(model)
    if compiled is None:
        return None
    block = compiled.input_of(
        lambda cats: np.array([cats.code(v) for v in typed[cats.column]]) if cats.column in typed else None,
        lambda column: np.array(typed[column], dtype="float64") if column in typed else None,
    )
    with few_threads(len(next(iter(typed.values())))):
        proba = compiled.estimate(block)
    return None if proba is None else np.asarray(proba[:, 1], dtype="float64")


def _checked(scorer: Scorer, gate: RowGate, raw: Columns) -> Columns | None:
    """`checked_rows` on plain values: the prepared values when every row passes both suites."""
    cfg, schema = scorer.cfg, scorer.cfg.schema_
    rows = len(next(iter(raw.values()))) if raw else 0
    if not 0 < rows <= SMALL_ROWS or schema.label.column in raw:
        return None
    (as_delivered, build, config), (typed_suite, build_typed, typed_config) = input_checks(cfg, frozenset())
    if not _passes(gate.compile(as_delivered, build, *config), dict.fromkeys(raw, TEXT_DTYPE), raw):
        return None
    snake = {to_snake_case(name): values for name, values in raw.items()}
    typed = typed_values(snake, cfg.format, schema) if len(snake) == len(raw) else None
    dtypes = {c: "category" if c in schema.categorical else schema.dtype(c) for c in schema.features}
    if typed is None or not _passes(gate.compile(typed_suite, build_typed, *typed_config), dtypes, typed):
        return None
    return typed


def _passes(checks: RowChecks, dtypes: dict[str, str], values: dict[str, list[Any]]) -> bool:
    """No row fails and no table-level expectation fails (None, unsure: not passing here)."""
    return checks.failures_of(dtypes, values) == ([], [])
