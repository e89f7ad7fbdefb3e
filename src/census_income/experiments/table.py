"""The experiment table: `dvc exp show --json` parsed, ranked on validation, and printed as text.

`census-income exps` and `census-income sweep` print it; `exp-branch` ranks with it. The ranking
metric and its direction come from `modeling.metrics`; test is shown for reporting, never used
to choose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from census_income.modeling.metrics import QUALITY_KEY, RANK_METRIC, lower_is_better, noise_band, standard_error
from census_income.repo.lock import flatten

# the headline figures the table shows beside the ranking metric (test is for reporting only)
SHOWN_METRICS = ("validation.roc_auc", "test.error_rate", "test.roc_auc")
# rows shown by default; the rest are folded into one line (`--all` shows them)
SHOWN_ROWS = 15
# characters of the params cell: the table stays within a 200-column screen
PARAMS_WIDTH = 40
# parameter groups whose values tell experiments apart in the table
SHOWN_PARAM_GROUPS = ("data.name", "split.method", "model", "features", "evaluate.threshold")
HIDDEN_PARAMS = ("model.name", "model.estimator", "model.n_jobs")
# when `dvc exp show` lists one experiment twice (a task moving between states), keep the later state
_STATE_ORDER = {"queued": 0, "running": 1, "success": 2, "failed": 2}


@dataclass(frozen=True)
class Experiment:
    """One row of `dvc exp show --json`: an experiment (or its baseline commit) and its results."""

    name: str
    rev: str
    state: str  # queued | running | success | failed | baseline
    params: dict[str, Any] = field(default_factory=dict)  # dotted keys of params.yaml
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # metrics file -> dotted key -> value
    error: str | None = None
    baseline: str | None = None  # the name of the commit an experiment ran on

    def metric(self, key: str) -> float | None:
        """A metric by dotted key (`validation.error_rate`) or `file:key`; None when absent."""
        if ":" in key:
            path, dotted = key.split(":", 1)
            value = self.metrics.get(path, {}).get(dotted)
        else:
            value = next((flat[key] for flat in self.metrics.values() if key in flat), None)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_experiments(show: Sequence[Mapping[str, Any]], params_file: str = "params.yaml") -> list[Experiment]:
    """Baselines and experiments from `dvc exp show --json` (the workspace row is skipped)."""
    found: dict[str, Experiment] = {}
    order: list[str] = []

    def keep(exp: Experiment) -> None:
        old = found.get(exp.name)
        if old is None:
            order.append(exp.name)
        if old is None or _STATE_ORDER.get(exp.state, 0) >= _STATE_ORDER.get(old.state, 0):
            found[exp.name] = exp

    for baseline in show:
        if baseline.get("rev") == "workspace":
            continue
        base = baseline.get("name") or str(baseline["rev"])[:7]
        keep(_experiment(baseline, base, "baseline", params_file))
        for exp_range in baseline.get("experiments") or []:
            executor = exp_range.get("executor") or {}
            state = str(executor.get("state") or "success")
            for rev in exp_range.get("revs") or []:
                name = rev.get("name") or exp_range.get("name") or str(rev["rev"])[:7]
                keep(replace(_experiment(rev, name, state, params_file), baseline=base))
    return [found[name] for name in order]


def _experiment(entry: Mapping[str, Any], name: str, state: str, params_file: str) -> Experiment:
    data = entry.get("data") or {}
    error = entry.get("error")
    params = ((data.get("params") or {}).get(params_file) or {}).get("data") or {}
    metrics = {path: flatten(result.get("data") or {}) for path, result in (data.get("metrics") or {}).items()}
    return Experiment(
        name=name,
        rev=str(entry.get("rev")),
        state=state,
        params=flatten(params),
        metrics=metrics,
        error=error.get("msg") if isinstance(error, Mapping) else None,
    )


def rank(experiments: Iterable[Experiment], key: str = RANK_METRIC) -> list[Experiment]:
    """Experiments with the metric, best first (ties keep their order); then those without it."""
    rows = list(experiments)
    scored = [exp for exp in rows if exp.state in ("success", "baseline") and exp.metric(key) is not None]
    sign = 1.0 if lower_is_better(key) else -1.0
    scored.sort(key=lambda exp: sign * (exp.metric(key) or 0.0))
    placed = {id(exp) for exp in scored}
    return scored + [exp for exp in rows if id(exp) not in placed]


def varying_params(experiments: Sequence[Experiment]) -> list[str]:
    """Shown parameter keys whose values differ between the experiments (missing counts as differing)."""
    keys = sorted({key for exp in experiments for key in exp.params if _shown_param(key)})
    return [key for key in keys if len({repr(exp.params.get(key, "<absent>")) for exp in experiments}) > 1]


def changed_params(exp: Experiment, baseline: Experiment) -> list[str]:
    """Shown parameter keys an experiment sets otherwise than the commit it ran on: what it tried.
    (The keys that vary anywhere in the table would list every family's keys on every row.)"""
    return [key for key in sorted(exp.params) if _shown_param(key) and exp.params[key] != baseline.params.get(key)]


def _short_key(key: str) -> str:
    """`model.learning_rate` -> `learning_rate`; `data.name` -> `data`."""
    group, _, last = key.rpartition(".")
    return group.rsplit(".", 1)[-1] if last in ("name", "method") and group else last


def _shown_param(key: str) -> bool:
    return key not in HIDDEN_PARAMS and any(key == group or key.startswith(f"{group}.") for group in SHOWN_PARAM_GROUPS)


def below_bar(exp: Experiment) -> bool:
    """Evaluate recorded that the model falls below the quality bar (`quality.passed` is 0)."""
    return exp.metric(QUALITY_KEY) == 0


def against_best(exp: Experiment, best: Experiment | None, key: str) -> str:
    """How an experiment's ranking metric compares with the best one's: `best`, `within noise`
    (inside the noise band of the two, from their recorded standard errors) or `worse`."""
    value, top = exp.metric(key), None if best is None else best.metric(key)
    if best is None or value is None or top is None:
        return "-"
    if exp is best:
        return "best"
    errors = [standard_error(flat, key) for flat in (_flat(exp), _flat(best))]
    band = noise_band(*errors)
    if band is None:
        return "no noise band"
    return "within noise" if abs(value - top) <= band else "worse"


def _flat(exp: Experiment) -> dict[str, Any]:
    return {key: value for flat in exp.metrics.values() for key, value in flat.items()}


def format_table(
    experiments: Sequence[Experiment],
    key: str = RANK_METRIC,
    metrics: Sequence[str] = SHOWN_METRICS,
    rows_shown: int | None = SHOWN_ROWS,
) -> str:
    """A ranked text table: name, state, model family, the parameters that differ, the ranking
    metric ± its standard error, how it compares with the best (noise band), the headline
    metrics, and whether the model is below the quality bar. At most `rows_shown` rows; the rest
    are counted in a last line."""
    ranked = rank(experiments, key)
    shown = [m for m in metrics if m != key]
    params = varying_params(ranked)
    baselines = {exp.name: exp for exp in ranked if exp.state == "baseline"}
    best = next((exp for exp in ranked if exp.state in ("success", "baseline") and exp.metric(key) is not None), None)
    header = ["rank", "experiment", "state", "model", "params", f"{key} ± se", "vs best", *shown, "quality bar"]
    rows = []
    for position, exp in enumerate(ranked, start=1):
        base = baselines.get(exp.baseline or "")
        changed = [p for p in params if p in exp.params] if base is None else changed_params(exp, base)
        settings = _clip(" ".join(f"{_short_key(p)}={_value(exp.params[p])}" for p in changed))
        finished = exp.state in ("success", "baseline")  # others show their baseline's files
        scored = finished and exp.metric(key) is not None
        error = standard_error(_flat(exp), key) if finished else None
        ranking = _number(exp.metric(key) if finished else None) + (f" ± {error:.4f}" if error is not None else "")
        values = [_number(exp.metric(m) if finished else None) for m in shown]
        bar = "-" if not finished or exp.metric(QUALITY_KEY) is None else "BELOW" if below_bar(exp) else "met"
        rows.append(
            [
                str(position) if scored else "-",
                exp.name,
                exp.state,
                str(exp.params.get("model.name", "-")),
                settings or "-",
                ranking,
                against_best(exp, best, key) if scored else "-",
                *values,
                bar,
            ]
        )
    folded = len(rows) - rows_shown if rows_shown is not None and len(rows) > rows_shown else 0
    rows = rows[: len(rows) - folded]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    if folded:
        lines.append(f"... {folded} more (--all shows every experiment)")
    return "\n".join(lines)


def _clip(text: str, width: int = PARAMS_WIDTH) -> str:
    """A cell cut to `width` characters, so the table fits one screen (`dvc exp show` has them all)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "[]"
    return str(value)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
