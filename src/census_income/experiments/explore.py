"""What the notebooks compute: data summaries, and runs (commits, experiments) side by side.

The notebooks in `notebooks/` only load, call and plot; the summaries live here so that they
are unit-tested and a stage can call them too. The frame functions are pure (they take and
return frames and never change their input). `load_runs` is the one reader: it lists runs with
`dvc.api.exp_show` and reads each run's own params and metrics files through `dvc.api` at its
revision (exp_show's flat table turns integers into floats and lists into text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from census_income.modeling.metrics import lower_is_better
from census_income.repo.lock import flatten

# how a missing slice value is labelled (as in `evaluation.slice_metrics` and `scoring`)
MISSING = "<missing>"
# experiment states in `dvc.api.exp_show` that have results (None: run in the workspace)
_FINISHED = (None, "", "Success")


# ------------------------------------------------------------------ data
def missing_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing count and share per column, most missing first; complete columns too, so none is forgotten."""
    counts = frame.isna().sum()
    table = pd.DataFrame(
        {
            "column": counts.index.astype(str),
            "missing": counts.to_numpy(dtype="int64"),
            "share": (counts / max(len(frame), 1)).to_numpy(dtype="float64"),
        }
    )
    return table.sort_values(["missing", "column"], ascending=[False, True], kind="stable").reset_index(drop=True)


def numeric_summary(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Count, missing, mean, spread, quantiles and the share of zeros of each numeric column.

    The share of zeros shows the spikes a histogram hides (capital gain is zero for most rows).
    """
    rows = []
    for column in columns:
        values = pd.to_numeric(frame[column], errors="raise").astype("float64")
        present = values.dropna()
        quantiles = present.quantile([0.25, 0.5, 0.75]) if len(present) else pd.Series([float("nan")] * 3)
        rows.append(
            {
                "column": column,
                "count": int(present.size),
                "missing": int(values.isna().sum()),
                "mean": present.mean(),
                "std": present.std(),
                "min": present.min(),
                "p25": float(quantiles.iloc[0]),
                "median": float(quantiles.iloc[1]),
                "p75": float(quantiles.iloc[2]),
                "max": present.max(),
                "zero_share": float((present == 0).mean()) if len(present) else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("column")


def label_rate_by_slice(frame: pd.DataFrame, label: str, slices: Sequence[str]) -> pd.DataFrame:
    """Rows, share of rows, positives and label rate per value of each slice column.

    One row per `(slice, value)`, largest groups first within a slice; missing values are a
    group of their own (`<missing>`). The label must be 0/1, as prepare writes it.
    """
    target = frame[label]
    if target.isna().any() or not target.isin([0, 1]).all():
        raise ValueError(f"label column {label!r} must hold only 0 and 1")
    parts = []
    for column in slices:
        groups = frame[column].astype("string").fillna(MISSING)
        stats = target.astype("int64").groupby(groups, sort=True).agg(["size", "sum"])
        parts.append(
            pd.DataFrame(
                {
                    "slice": column,
                    "value": stats.index.astype(str),
                    "rows": stats["size"].to_numpy(dtype="int64"),
                    "share": stats["size"].to_numpy(dtype="float64") / max(len(frame), 1),
                    "positives": stats["sum"].to_numpy(dtype="int64"),
                    "label_rate": stats["sum"].to_numpy(dtype="float64") / stats["size"].to_numpy(dtype="float64"),
                }
            ).sort_values(["rows", "value"], ascending=[False, True], kind="stable")
        )
    columns = ["slice", "value", "rows", "share", "positives", "label_rate"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


# ------------------------------------------------------------------ runs
@dataclass(frozen=True)
class RunRef:
    """A row of `dvc.api.exp_show` that has results: a commit or an experiment on one."""

    name: str  # the experiment's name, or the commit's branch, tag or short sha
    rev: str  # what `dvc.api` takes as `rev=`
    kind: str  # "commit" | "experiment"
    baseline: str  # the commit an experiment was run on (a commit's own name)


@dataclass(frozen=True)
class Run:
    """One run's `params.yaml` and metrics files as written; `error` when they could not be read."""

    ref: RunRef
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def name(self) -> str:
        return self.ref.name


def run_refs(rows: Iterable[Mapping[str, Any]]) -> list[RunRef]:
    """Commits and finished experiments from `dvc.api.exp_show` rows (the workspace row is skipped).

    exp_show lists each commit, then the experiments run on it; queued, running and failed
    experiments have no results and are left out.
    """
    refs: list[RunRef] = []
    baseline = ""
    for row in rows:
        rev = str(row.get("rev") or "")
        if row.get("typ") == "baseline":
            baseline = rev
            if rev and rev != "workspace":
                refs.append(RunRef(name=rev, rev=rev, kind="commit", baseline=rev))
        elif rev and row.get("State") in _FINISHED:
            refs.append(RunRef(name=str(row.get("Experiment") or rev), rev=rev, kind="experiment", baseline=baseline))
    return refs


def load_runs(
    metrics_file: str, slices_file: str, repo: str | None = None, revs: str | list[str] | None = None, num: int = 1
) -> list[Run]:
    """The runs `dvc exp show` lists for `revs` (default HEAD) and the `num - 1` commits before.

    Each run's `params.yaml` and metrics files are read at its own revision. A run whose
    outputs are neither in the cache nor in the workspace (say an old commit never pulled)
    comes back with `error` set instead of failing the whole comparison.
    """
    import dvc.api
    from dvc.exceptions import DvcException

    refs = run_refs(dvc.api.exp_show(repo=repo, revs=revs, num=num))
    runs = []
    for ref in refs:
        try:
            params = dvc.api.params_show(repo=repo, rev=ref.rev)
            metrics = dvc.api.metrics_show(metrics_file, repo=repo, rev=ref.rev)
            slices = dvc.api.metrics_show(slices_file, repo=repo, rev=ref.rev)
        # a missing output (DvcException, FileNotFoundError), an unreadable file (ValueError), or
        # a revision DVC reports an error for instead of data (KeyError)
        except (DvcException, OSError, ValueError, KeyError) as exc:
            runs.append(Run(ref=ref, error=f"{type(exc).__name__}: {exc}".splitlines()[0]))
            continue
        runs.append(Run(ref=ref, params=params, metrics=metrics, slices=slices))
    return runs


def _index(runs: Sequence[Run]) -> pd.Index:
    return pd.Index([run.name for run in runs], name="run")


def runs_table(runs: Sequence[Run]) -> pd.DataFrame:
    """What each run is: kind, revision, the commit it belongs to, and why it has no results."""
    return pd.DataFrame(
        {
            "kind": [run.ref.kind for run in runs],
            "rev": [run.ref.rev for run in runs],
            "baseline": [run.ref.baseline for run in runs],
            "error": [run.error or "" for run in runs],
        },
        index=_index(runs),
    )


def param_table(runs: Sequence[Run], only_differing: bool = True) -> pd.DataFrame:
    """Parameters per run (dotted keys as columns); by default only those that differ between runs.

    Lists become text so that they compare and display; a key a run lacks counts as differing.
    """
    readable = [run for run in runs if run.error is None]
    flat = [flatten(run.params) for run in readable]
    keys = sorted({key for params in flat for key in params})
    cells = {key: [_cell(params.get(key)) for params in flat] for key in keys}
    if only_differing and len(readable) > 1:
        cells = {key: values for key, values in cells.items() if len({repr(v) for v in values}) > 1}
    return pd.DataFrame(cells, index=_index(readable), columns=list(cells))


def _cell(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, list) else value


def metric_table(runs: Sequence[Run], splits: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """`split.metric` columns per run, in the order asked; a value a run lacks is NaN."""
    columns = [f"{split}.{metric}" for split in splits for metric in metrics]
    readable = [run for run in runs if run.error is None]
    data = [
        [_number(run.metrics.get(split, {}).get(metric)) for split in splits for metric in metrics] for run in readable
    ]
    return pd.DataFrame(data, index=_index(readable), columns=columns, dtype="float64")


def best_run(table: pd.DataFrame, column: str) -> str | None:
    """The run with the best value of a `split.metric` column (lowest error, highest AUC)."""
    values = table[column].dropna()
    if values.empty:
        return None
    return str(values.idxmin() if lower_is_better(column) else values.idxmax())


def slice_table(runs: Sequence[Run], split: str, metric: str) -> pd.DataFrame:
    """One metric per slice value (rows) and run (columns), with the slice's row count.

    Read from each run's slices file (`{split: {slice: {value: {metric, rows}}}}`, as
    `evaluation.slice_metrics` writes it). `rows` is the first run's count (the split's rows
    per group change only when the data or the split does).
    """
    readable = [run for run in runs if run.error is None]
    index: dict[tuple[str, str], int] = {}
    for run in readable:
        for column, by_value in run.slices.get(split, {}).items():
            for value, values in by_value.items():
                index.setdefault((column, value), int(values.get("rows", 0)))
    if not index:
        return pd.DataFrame(columns=["rows", *[run.name for run in readable]], index=_slice_index([]))
    table = pd.DataFrame(
        {
            run.name: [
                _number(run.slices.get(split, {}).get(column, {}).get(value, {}).get(metric)) for column, value in index
            ]
            for run in readable
        },
        index=_slice_index(list(index)),
        dtype="float64",
    )
    table.insert(0, "rows", list(index.values()))
    return table


def _slice_index(keys: list[tuple[str, str]]) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([[k[0] for k in keys], [k[1] for k in keys]], names=["slice", "value"])


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")
