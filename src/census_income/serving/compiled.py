"""The exported pipeline's preprocessing as plain numpy, built from the fitted featurizer.

On a few rows `pipeline.predict_proba` spends most of its time in the featurizer's pandas
machinery (set_output frames per step, column selection, concatenation: ~12 of 15.6 ms on one
row), not in the model (~1.5 ms). `compile_model` reads the fitted parameters of the shape
`modeling.features.build_featurizer` makes (one-hot or ordinal codes, log1p, median
imputation, scaling) and builds the model's input array directly, then calls the fitted
estimator as the pipeline would, on a frame of the same names and values.

It does not guess: any other step, setting or estimator is not compiled (None), a compiled
featurizer that does not reproduce the real one to the bit on probe rows is dropped, and a
call it cannot reproduce (a missing column, another dtype, a value that is not finite where
the pipeline would refuse or warn) answers None. Callers then use the pipeline itself.

Long module: compiling and running share the parts' layout, and the model's input is built
from a prepared frame or from a few rows' plain values (`serving.fast`) by one `input_of`.
"""

from __future__ import annotations

import copy
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from census_income.modeling.features import to_model_input

Codes = Callable[["Categories"], "np.ndarray | None"]
Values = Callable[[str], "np.ndarray | None"]
PROBE_NUMBERS = (0.0, 1.0, np.nan, 37.0, 1e6, -0.5, 2.5e-7)
UNSEEN_PROBE = "\x00unseen category probe"


@dataclass(frozen=True)
class Categories:
    """One categorical column: what each category becomes, and missing and unseen values."""

    column: str
    to: dict[str, float]  # one-hot: the output row; ordinal: the code
    missing: float | None  # None: one-hot all zeros
    unseen: float | None

    def code(self, category: str | None) -> float:
        """What a category (None: missing) becomes; NaN: no one-hot column."""
        found = self.missing if category is None else self.to.get(category, self.unseen)
        return np.nan if found is None else found


@dataclass(frozen=True)
class Encoded:
    """An encoder's columns: one-hot (`width` output rows) or ordinal codes (one row each)."""

    columns: tuple[Categories, ...]
    onehot: bool
    width: int


@dataclass(frozen=True)
class Numbers:
    """Numeric columns through [log1p], imputation and [scaling], in the pipeline's order."""

    columns: tuple[str, ...]
    log: bool
    fill: np.ndarray
    mean: np.ndarray | None
    scale: np.ndarray | None


class CompiledModel:
    """A fitted scoring pipeline whose featurizer runs as numpy (see the module)."""

    def __init__(self, estimator: Any, parts: list[Encoded | Numbers], names: np.ndarray, named: bool) -> None:
        """`named`: hand the estimator a frame with the names. Otherwise it gets the array, and a
        copy of it (sharing the fitted arrays) that does not check the names on every call (~1 ms of
        pandas dtype checks on 108 columns): `compile_model` checked them once."""
        self.estimator = estimator
        if not named:
            self.estimator = copy.copy(estimator)
            del self.estimator.feature_names_in_
        self.parts = parts
        self.names = names
        self.named = named

    def features(self, prepared: pd.DataFrame) -> np.ndarray | None:
        """The model's input, one row per feature (the pipeline's values), or None: not reproducible."""
        return self.input_of(lambda cats: _category_codes(prepared, cats), lambda c: _number_values(prepared, c))

    def input_of(self, codes: Codes, numbers: Values) -> np.ndarray | None:
        """The model's input from each column's category codes (`Categories.code`) and numbers,
        as float64 arrays (None: that column is not reproducible, and so is not the input)."""
        blocks: list[np.ndarray] = []
        for part in self.parts:
            columns = [codes(c) for c in part.columns] if isinstance(part, Encoded) else map(numbers, part.columns)
            given = [column for column in columns if column is not None]
            if len(given) != len(part.columns):
                return None
            rows = np.array(given, dtype="float64").reshape(len(given), -1)
            block = _encode(part, rows) if isinstance(part, Encoded) else _transformed(part, rows)
            if block is None:
                return None
            blocks.append(block)
        return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]

    def predict_proba(self, prepared: pd.DataFrame) -> np.ndarray | None:
        """`pipeline.predict_proba(prepared)` to the bit, or None when this call is not reproducible."""
        return self.estimate(self.features(prepared))

    def estimate(self, block: np.ndarray | None) -> np.ndarray | None:
        """The estimator's `predict_proba` on the model's input (`features`), as the pipeline calls it."""
        if block is None:
            return None
        # the rows of one float64 block, column-major: what the estimator's own check makes of the
        # pipeline's frame (float32 one-hot codes and float64 numbers), the same values and layout
        rows = pd.DataFrame(block.T, columns=self.names, copy=False) if self.named else block.T
        return np.asarray(self.estimator.predict_proba(rows))


def _encode(part: Encoded, codes: np.ndarray) -> np.ndarray:
    """Each column's codes (one row each) as one-hot rows, or as they are (ordinal)."""
    if not part.onehot:
        return codes
    block = np.zeros((part.width, codes.shape[1]), dtype="float64")
    for column in codes:
        hot = np.flatnonzero(~np.isnan(column))
        block[column[hot].astype("intp"), hot] = 1.0
    return block


def _category_codes(prepared: pd.DataFrame, cats: Categories) -> np.ndarray | None:
    """Per row: what its category becomes (NaN: no one-hot column), or None for a column
    `to_model_input` would not hand over as text."""
    if cats.column not in prepared:
        return None
    column = prepared[cats.column]
    values = column.array
    if not isinstance(values, pd.Categorical):
        if not pd.api.types.is_string_dtype(column):  # as `to_model_input` tells text
            return None
        values = pd.Categorical(values)
    if not all(isinstance(category, str) for category in values.categories):
        return None
    lookup = [*(cats.code(category) for category in values.categories), cats.code(None)]  # code -1: missing
    codes: np.ndarray = np.asarray(lookup, dtype="float64")[values.codes]
    return codes


def _number_values(prepared: pd.DataFrame, column: str) -> np.ndarray | None:
    if column not in prepared:
        return None
    values = prepared[column]
    if not (pd.api.types.is_integer_dtype(values) or pd.api.types.is_float_dtype(values)):
        return None
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _transformed(part: Numbers, block: np.ndarray) -> np.ndarray | None:
    """The numeric columns' values (one row each) through [log1p], imputation and [scaling]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if part.log:
            block = np.log1p(block)
    block = np.where(np.isnan(block), part.fill[:, None], block)
    if part.mean is not None:
        block -= part.mean[:, None]
    if part.scale is not None:
        block /= part.scale[:, None]
    # infinity: the pipeline's imputer refuses it (and a scaled overflow is not worth reproducing)
    return block if np.isfinite(block).all() else None


# ------------------------------------------------------------------ compiling a fitted pipeline
def _is_nan(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _onehot(encoder: OneHotEncoder, columns: list[str]) -> Encoded | None:
    if (
        encoder.drop is not None
        or encoder.sparse_output
        or encoder.handle_unknown not in ("ignore", "infrequent_if_exist")
    ):
        return None
    infrequent = getattr(encoder, "infrequent_categories_", [None] * len(columns))
    compiled, offset = [], 0
    for column, categories, rare in zip(columns, encoder.categories_, infrequent, strict=True):
        rare_set = set() if rare is None else {("nan" if _is_nan(c) else c) for c in rare}
        frequent = [c for c in categories if ("nan" if _is_nan(c) else c) not in rare_set]
        rare_row = float(offset + len(frequent)) if rare is not None else None
        to: dict[str, float] = {}
        missing: float | None = None
        position = 0
        for category in categories:
            key = "nan" if _is_nan(category) else category
            row = float(offset + (len(frequent) if key in rare_set else position))
            position += key not in rare_set
            if _is_nan(category):
                missing = row
            elif isinstance(category, str):
                to[category] = row
            else:
                return None
        unseen = rare_row if encoder.handle_unknown == "infrequent_if_exist" else None
        compiled.append(Categories(column, to, missing if missing is not None else unseen, unseen))
        offset += len(frequent) + (rare is not None)
    return Encoded(tuple(compiled), onehot=True, width=offset)


def _ordinal(encoder: OrdinalEncoder, columns: list[str]) -> Encoded | None:
    if encoder.handle_unknown != "use_encoded_value" or getattr(encoder, "_infrequent_enabled", True):
        return None

    def as_output(value: float) -> float:  # through the encoder's dtype, as the pipeline hands it on
        return float(np.asarray(value, dtype=encoder.dtype))

    compiled = []
    for column, categories in zip(columns, encoder.categories_, strict=True):
        to: dict[str, float] = {}
        missing = as_output(encoder.unknown_value)  # missing not seen in fit: unknown
        for code, category in enumerate(categories):
            if _is_nan(category):
                missing = as_output(encoder.encoded_missing_value)
            elif isinstance(category, str):
                to[category] = as_output(code)
            else:
                return None
        compiled.append(Categories(column, to, missing, as_output(encoder.unknown_value)))
    return Encoded(tuple(compiled), onehot=False, width=len(columns))


def _numeric(steps: list[Any], columns: list[str]) -> Numbers | None:
    log = bool(steps) and isinstance(steps[0], FunctionTransformer)
    if log and (steps[0].func is not np.log1p or steps[0].kw_args or steps[0].validate):
        return None
    rest = steps[1:] if log else steps
    if not rest or not isinstance(rest[0], SimpleImputer) or len(rest) > 2:
        return None
    imputer = rest[0]
    if not _is_nan(imputer.missing_values) or imputer.add_indicator:
        return None
    fill = np.asarray(imputer.statistics_, dtype="float64")
    if not np.isfinite(fill).all():  # a column with no value in training: the imputer drops it
        return None
    mean = scale = None
    if len(rest) == 2:
        if type(rest[1]) is not StandardScaler:
            return None
        scaler = rest[1]
        mean = scaler.mean_ if scaler.with_mean else None
        scale = scaler.scale_ if scaler.with_std else None
    return Numbers(tuple(columns), log, fill, mean, scale)


def _part(transformer: Any, columns: list[str]) -> Encoded | Numbers | None:
    if type(transformer) is OneHotEncoder:
        return _onehot(transformer, columns)
    if type(transformer) is OrdinalEncoder:
        return _ordinal(transformer, columns)
    steps = [step for _, step in transformer.steps] if type(transformer) is Pipeline else [transformer]
    return _numeric(steps, columns)


def _probe(parts: list[Encoded | Numbers]) -> pd.DataFrame:
    """Rows that visit every category, missing and unseen values, and numbers of every kind."""
    lists: dict[str, list[Any]] = {}
    for part in parts:
        if isinstance(part, Encoded):
            for cats in part.columns:
                lists[cats.column] = [*cats.to, None, UNSEEN_PROBE]
        else:
            for column in part.columns:
                lists[column] = list(PROBE_NUMBERS)
    rows = max(len(values) for values in lists.values())
    columns = {}
    for column, values in lists.items():
        cycled = [values[i % len(values)] for i in range(rows)]
        columns[column] = (
            pd.Series(cycled, dtype="float64") if isinstance(values[0], float) else pd.Series(pd.Categorical(cycled))
        )
    return pd.DataFrame(columns)


def _pieces(model: Any) -> tuple[Pipeline, ColumnTransformer, Any] | None:
    """The featurizer, its column transformer and the estimator of a `scoring_pipeline`."""
    if type(model) is not Pipeline or len(model.steps) != 2:
        return None
    featurizer, estimator = model.steps[0][1], model.steps[1][1]
    if not type(estimator).__module__.startswith("sklearn.") or type(featurizer) is not Pipeline:
        return None
    if len(featurizer.steps) != 2:
        return None
    convert, columns = featurizer.steps[0][1], featurizer.steps[1][1]
    if type(convert) is not FunctionTransformer or convert.func is not to_model_input or convert.kw_args:
        return None
    return (featurizer, columns, estimator) if type(columns) is ColumnTransformer else None


def _parts(columns: ColumnTransformer) -> list[Encoded | Numbers] | None:
    parts: list[Encoded | Numbers] = []
    for _, transformer, selected in columns.transformers_:
        if isinstance(transformer, str):
            if transformer != "drop":
                return None
            continue
        if not len(selected):  # an empty selection is skipped by the ColumnTransformer too
            continue
        part = _part(transformer, list(selected)) if all(isinstance(c, str) for c in selected) else None
        if part is None:
            return None
        parts.append(part)
    return parts or None


def compile_model(model: Any) -> CompiledModel | None:
    """The numpy version of a fitted `scoring_pipeline`, or None for anything else."""
    pieces = _pieces(model)
    if pieces is None:
        return None
    featurizer, columns, estimator = pieces
    parts = _parts(columns)
    if parts is None:
        return None
    names = np.asarray(columns.get_feature_names_out(), dtype=object)
    expected = getattr(estimator, "feature_names_in_", None)
    if expected is None or list(expected) != list(names):
        return None
    named, unnamed = (CompiledModel(estimator, parts, names, named=flag) for flag in (True, False))
    probe = _probe(parts)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")  # unseen categories, log1p of a negative number
        got, real = named.features(probe), featurizer.transform(probe)
        expected_proba = model.predict_proba(probe).tobytes()
        warned.clear()
        proba = unnamed.predict_proba(probe)
    if got is None or real.to_numpy(dtype="float64").tobytes() != np.ascontiguousarray(got.T).tobytes():
        return None  # the compiled featurizer does not reproduce the real one to the bit
    # an estimator that checks names further in (native categories: an inner encoder) warns on an array
    if not warned and proba is not None and proba.tobytes() == expected_proba:
        return unnamed
    proba = named.predict_proba(probe)
    return named if proba is not None and proba.tobytes() == expected_proba else None


_compiled: weakref.WeakKeyDictionary[Any, CompiledModel | None] = weakref.WeakKeyDictionary()
_compiling = threading.Lock()


def compiled_model(model: Any) -> CompiledModel | None:
    """`compile_model(model)`, once per loaded model (it lives as long as the model does)."""
    try:
        return _compiled[model]
    except KeyError:
        pass
    except TypeError:  # not weakly referable: not a pipeline
        return None
    with _compiling:
        if model not in _compiled:
            _compiled[model] = compile_model(model)
        return _compiled[model]
