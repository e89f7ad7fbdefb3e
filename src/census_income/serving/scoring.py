"""Batch scoring, the pure part: scores, drift against the training rows, shadow comparison.

Everything here works chunk by chunk with state that does not grow with the number of rows
(bin counts, disagreement counts), so a file of any size is scored in bounded memory and a
chunked run gives the same figures as one pass.

Drift is the population stability index (PSI) per feature: the training rows of the model's
version set the bins (deciles for numbers, categories for text, plus missing and unseen) and
their shares; `sum((actual - expected) * ln(actual / expected))` over the bins compares a
batch with them. Below 0.1 is usually read as stable, 0.1-0.25 as a moderate shift, 0.25 and
above as a shift that needs attention.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
import pandas as pd

PSI_MODERATE = 0.1
PSI_DRIFT = 0.25
BINS = 10
# floor of a bin's share: an empty bin would make the index infinite
EPSILON = 1e-4
MISSING = "<missing>"
UNSEEN = "<unseen>"
SCORE_BANDS = 10
SHOWN_ROWS = 10


def score(model: Any, prepared: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class for prepared rows (the model picks its columns): through
    the featurizer compiled to numpy when it reproduces this call (`compiled`), else the pipeline."""
    from census_income.serving.compiled import compiled_model

    compiled = compiled_model(model)
    proba = compiled.predict_proba(prepared) if compiled is not None else None
    if proba is None:
        proba = model.predict_proba(prepared)
    return np.asarray(proba[:, 1], dtype="float64")


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = EPSILON) -> float:
    """Population stability index of two distributions over the same bins (shares or counts)."""
    e = np.maximum(np.asarray(expected, dtype="float64") / max(float(np.sum(expected)), 1.0), epsilon)
    a = np.maximum(np.asarray(actual, dtype="float64") / max(float(np.sum(actual)), 1.0), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_status(value: float, threshold: float = PSI_DRIFT) -> str:
    """`drift` at or above the threshold, `moderate` from 0.1, else `stable`."""
    if value >= threshold:
        return "drift"
    return "moderate" if value >= PSI_MODERATE else "stable"


@dataclass(frozen=True)
class FeatureBins:
    """The bins of one feature and the training rows' share in each.

    Numbers: right-closed bins between the distinct deciles of the training values, so a value
    that fills several deciles (capital gain 0) gets a bin of its own. Categories: the training
    categories, then missing, then unseen values.
    """

    name: str
    expected: np.ndarray
    edges: np.ndarray | None = None
    categories: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        """A readable name per bin: `<= 25`, `(25, 31]`, `> 70`, or the category."""
        if self.edges is None:
            return [*self.categories, MISSING, UNSEEN]
        edges = [f"{e:g}" for e in self.edges]
        inner = [f"({low}, {high}]" for low, high in pairwise(edges)]
        return [f"<= {edges[0]}", *inner, f"> {edges[-1]}"]

    def counts(self, values: pd.Series | list[Any]) -> np.ndarray:
        """How many of `values` (a column, or a few rows' prepared values: text or None, numbers) fall in each bin."""
        if self.edges is not None:
            numbers = (
                np.array(values, dtype="float64")
                if isinstance(values, list)
                else values.to_numpy(dtype="float64", na_value=np.nan)
            )
            numbers = numbers[~np.isnan(numbers)]
            return np.bincount(np.searchsorted(self.edges, numbers, side="left"), minlength=len(self.edges) + 1)
        if isinstance(values, list):  # the codes `pd.Categorical(values)` would give them
            present = sorted({value for value in values if value is not None})
            where = {category: code for code, category in enumerate(present)}
            return self._coded([-1 if value is None else where[value] for value in values], present)
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype) and all(isinstance(c, str) for c in dtype.categories):
            return self._coded(values.cat.codes.to_numpy(), list(values.cat.categories))
        text = values.astype("string")
        codes = pd.Index(self.categories, dtype="string").get_indexer(pd.Index(text.dropna()))
        known = np.bincount(codes[codes >= 0], minlength=len(self.categories))
        missing = int(text.isna().sum())
        return np.concatenate([known, [missing, len(values) - missing - int(known.sum())]])

    def _coded(self, codes: Any, categories: list[str]) -> np.ndarray:
        """Prepared rows by category code (-1: missing): a bin per category, then its codes (no text per row)."""
        where = dict(zip(self.categories, range(len(self.categories)), strict=True))
        unseen, missing = len(self.categories) + 1, len(self.categories)
        bins = np.array([where.get(c, unseen) for c in categories] + [missing], dtype="intp")
        return np.bincount(bins[np.asarray(codes, dtype="intp")], minlength=len(self.categories) + 2)


class Table(Protocol):
    """Prepared rows: a frame, or a few rows' prepared values (`small.Prepared`)."""

    def __len__(self) -> int: ...

    def __getitem__(self, column: str) -> Any: ...


def feature_bins(
    train: pd.DataFrame, categorical: list[str], numeric: list[str], bins: int = BINS
) -> list[FeatureBins]:
    """The bins of every feature, from the training rows of a model version."""
    result = []
    for name in numeric:
        values = train[name].to_numpy(dtype="float64", na_value=np.nan)
        values = values[~np.isnan(values)]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if len(values) else np.array([0.0])
        empty = FeatureBins(name, np.zeros(len(edges) + 1), edges=edges)
        result.append(FeatureBins(name, empty.counts(train[name]) / max(len(values), 1), edges=edges))
    for name in categorical:
        text = train[name].astype("string")
        categories = tuple(sorted(str(c) for c in text.dropna().unique()))
        empty = FeatureBins(name, np.zeros(len(categories) + 2), categories=categories)
        result.append(FeatureBins(name, empty.counts(train[name]) / max(len(train), 1), categories=categories))
    return result


class DriftMonitor:
    """Bin counts of the scored rows, chunk by chunk; `summary` compares them with training."""

    def __init__(self, bins: list[FeatureBins]) -> None:
        self.bins = bins
        self.actual = {b.name: np.zeros(len(b.expected), dtype="int64") for b in bins}
        self.rows = 0

    def update(self, prepared: pd.DataFrame) -> None:
        """Count one chunk of prepared rows."""
        for b in self.bins:
            self.actual[b.name] += b.counts(prepared[b.name])
        self.rows += len(prepared)

    def summary(self, threshold: float = PSI_DRIFT) -> dict[str, Any]:
        """PSI and status per feature (largest first), with each bin's expected and actual share."""
        features: dict[str, dict[str, Any]] = {}
        for b in self.bins:
            actual = self.actual[b.name] / max(self.rows, 1)
            value = psi(b.expected, self.actual[b.name])
            features[b.name] = {
                "psi": round(value, 6),
                "status": drift_status(value, threshold),
                "bins": [
                    {"bin": label, "expected": round(float(e), 6), "actual": round(float(a), 6)}
                    for label, e, a in zip(b.labels, b.expected, actual, strict=True)
                ],
            }
        ordered = dict(sorted(features.items(), key=lambda item: -float(item[1]["psi"])))
        return {
            "rows": self.rows,
            "threshold": threshold,
            "drifted": [name for name, f in ordered.items() if f["status"] == "drift"],
            "features": ordered,
        }


class DriftWindow:
    """PSI per feature of the most recent rows (whole updates: the server's batching passes, at
    least `rows` of them once that many came) against the training bins: what a server's drift
    gauges show. Thread-safe."""

    def __init__(self, bins: list[FeatureBins], rows: int) -> None:
        self.bins = bins
        self.limit = rows
        self.rows = 0
        self._chunks: deque[tuple[int, dict[str, np.ndarray]]] = deque()
        self._totals = {b.name: np.zeros(len(b.expected), dtype="int64") for b in bins}
        self._lock = threading.Lock()

    def update(self, prepared: Table) -> None:
        """Add one request's prepared rows; forget the oldest requests beyond the window."""
        if not len(prepared):
            return
        counts = {b.name: b.counts(prepared[b.name]) for b in self.bins}
        with self._lock:
            self._chunks.append((len(prepared), counts))
            self.rows += len(prepared)
            for name, values in counts.items():
                self._totals[name] += values
            while self._chunks and self.rows - self._chunks[0][0] >= self.limit:
                rows, old = self._chunks.popleft()
                self.rows -= rows
                for name, values in old.items():
                    self._totals[name] -= values

    def psi(self) -> dict[str, float]:
        """PSI per feature of the rows in the window (none yet: no figures)."""
        with self._lock:
            if not self.rows:
                return {}
            return {b.name: psi(b.expected, self._totals[b.name]) for b in self.bins}


def format_drift(summary: dict[str, Any]) -> str:
    """One line per feature: PSI and status, largest first."""
    lines = [f"  {name:<16} {f['psi']:8.4f}  {f['status']}" for name, f in summary["features"].items()]
    return "\n".join(lines)


@dataclass
class _Counts:
    rows: int = 0
    disagreements: int = 0

    def as_dict(self) -> dict[str, Any]:
        rate = self.disagreements / self.rows if self.rows else 0.0
        return {"rows": self.rows, "disagreements": self.disagreements, "rate": round(rate, 6)}


@dataclass
class ShadowComparison:
    """How often and where a second model's decisions differ from the primary's, chunk by chunk.

    A disagreement is a row whose decision (score >= that model's threshold) differs. `where`:
    per value of each slice column and per band of the primary score, plus the first few rows.
    """

    primary_threshold: float
    shadow_threshold: float
    slices: list[str]
    overall: _Counts = field(default_factory=_Counts)
    by_slice: dict[str, dict[str, _Counts]] = field(default_factory=dict)
    by_band: dict[str, _Counts] = field(default_factory=dict)
    abs_diff_sum: float = 0.0
    abs_diff_max: float = 0.0
    primary_positive: int = 0
    shadow_positive: int = 0
    rows_shown: list[int] = field(default_factory=list)

    def update(self, prepared: pd.DataFrame, primary: np.ndarray, shadow: np.ndarray) -> None:
        """Compare one chunk's scores (row numbers are the frame's index)."""
        primary_label = primary >= self.primary_threshold
        shadow_label = shadow >= self.shadow_threshold
        differ = primary_label != shadow_label
        diff = np.abs(primary - shadow)
        self.overall.rows += len(primary)
        self.overall.disagreements += int(differ.sum())
        self.abs_diff_sum += float(diff.sum())
        self.abs_diff_max = max(self.abs_diff_max, float(diff.max(initial=0.0)))
        self.primary_positive += int(primary_label.sum())
        self.shadow_positive += int(shadow_label.sum())
        room = SHOWN_ROWS - len(self.rows_shown)
        if room > 0:
            self.rows_shown += [int(r) for r in prepared.index[differ][:room]]
        bands = np.minimum((primary * SCORE_BANDS).astype(int), SCORE_BANDS - 1)
        for band in np.unique(bands):
            mask = bands == band
            key = f"{band / SCORE_BANDS:.1f}-{(band + 1) / SCORE_BANDS:.1f}"
            counts = self.by_band.setdefault(key, _Counts())
            counts.rows += int(mask.sum())
            counts.disagreements += int(differ[mask].sum())
        for column in self.slices:
            values = prepared[column].astype("string").fillna(MISSING).to_numpy()
            per_value = self.by_slice.setdefault(column, {})
            for value in np.unique(values):
                mask = values == value
                counts = per_value.setdefault(str(value), _Counts())
                counts.rows += int(mask.sum())
                counts.disagreements += int(differ[mask].sum())

    def summary(self) -> dict[str, Any]:
        """The comparison as a JSON-ready mapping."""
        rows = max(self.overall.rows, 1)
        return {
            **self.overall.as_dict(),
            "mean_abs_score_diff": round(self.abs_diff_sum / rows, 6),
            "max_abs_score_diff": round(self.abs_diff_max, 6),
            "positive_rate": {
                "primary": round(self.primary_positive / rows, 6),
                "shadow": round(self.shadow_positive / rows, 6),
            },
            "by_score_band": {k: v.as_dict() for k, v in sorted(self.by_band.items())},
            "by_slice": {
                column: {value: c.as_dict() for value, c in sorted(values.items())}
                for column, values in self.by_slice.items()
            },
            "example_rows": self.rows_shown,
        }


def format_shadow(summary: dict[str, Any]) -> str:
    """Overall disagreement, then the slice values where it is highest."""
    lines = [
        f"  {summary['disagreements']:,} of {summary['rows']:,} rows decided differently ({summary['rate']:.2%}), "
        f"mean |score difference| {summary['mean_abs_score_diff']:.4f}"
    ]
    worst = sorted(
        (
            (counts["rate"], f"{column}={value}", counts)
            for column, values in summary["by_slice"].items()
            for value, counts in values.items()
            if counts["disagreements"]
        ),
        key=lambda item: -item[0],
    )[:3]
    lines += [f"  {name}: {c['disagreements']:,} of {c['rows']:,} ({c['rate']:.2%})" for _, name, c in worst]
    return "\n".join(lines)
