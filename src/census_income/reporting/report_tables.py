"""The pull-request report's tables of what DVC diffs: parameters, metrics with their noise band, gates.

Pure: each takes a mapping shaped like `dvc params|metrics diff --json` (`file -> dotted key ->
{old, new}`) and returns Markdown. `report_text` puts them together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from census_income.modeling.metrics import SE_SUFFIX, Verdict, direction, noise_band, standard_error, verdict

# `file -> dotted key -> {"old": ..., "new": ..., "diff": ...}`, as `dvc params|metrics diff --json` print it
Diff = Mapping[str, Mapping[str, Mapping[str, Any]]]

# tables with more rows than this are folded (GitHub renders `<details>`)
FOLD_ROWS = 8
BETTER, WORSE, NOISE = "🟢", "🔴", "≈"


# ------------------------------------------------------------------ values
def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def judge(metric: str, old: Any, new: Any, band: float | None) -> Verdict:
    """`better` or `worse` when a validation or test metric moved by more than its noise band,
    `within noise` when it moved less; `` for anything else (train figures, counts, unchanged)."""
    return verdict(metric, _number(old), _number(new), band)


def fmt(value: Any, width: int = 60) -> str:
    """A value as a table cell: numbers to 6 significant digits, structures as short JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = text if len(text) <= width else text[: width - 1] + "…"
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def fmt_change(metric: str, old: Any, new: Any, band: float | None = None) -> str:
    """A metric's head value and its change against base, marked better, worse or within noise."""
    if old == new:
        return fmt(new)
    if old is None:
        return f"{fmt(new)} (new)"
    if new is None:
        return f"~~{fmt(old)}~~ (removed)"
    before, after = _number(old), _number(new)
    if before is None or after is None:
        return f"{fmt(new)} (was {fmt(old)})"
    mark = {"better": f" {BETTER}", "worse": f" {WORSE}", "within noise": f" {NOISE}"}.get(
        judge(metric, old, new, band), ""
    )
    return f"{fmt(new)} ({after - before:+.4g}{mark})"


def table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fold(summary: str, body: str, rows: int) -> str:
    if rows <= FOLD_ROWS:
        return body
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


# ------------------------------------------------------------------ sections
def params_section(diff: Diff) -> str:
    """Changed parameters, base beside head (`dvc params diff`)."""
    rows = [
        [f"`{key}`" if len(diff) == 1 else f"`{path}:{key}`", fmt(entry.get("old")), fmt(entry.get("new"))]
        for path in sorted(diff)
        for key, entry in sorted(diff[path].items())
        if entry.get("old") != entry.get("new")
    ]
    if not rows:
        return "### Parameters\n\nNo parameter changed."
    return "### Parameters\n\n" + table(["param", "base", "head"], rows)


def _split_key(key: str) -> tuple[str, str]:
    row, _, metric = key.rpartition(".")
    return row, metric


def metrics_table(path: str, entries: Mapping[str, Mapping[str, Any]]) -> str:
    """One metrics file as a table: a row per key prefix (`validation`, `test`), a column per metric.

    Each cell is the head value, ± its standard error where evaluate recorded one, and its change
    against base, marked 🟢/🔴 only when it is larger than the noise band of base and head (≈
    inside it), and only on validation and test: train figures improve with over-fitting. The
    column header says which direction is better (↑ higher, ↓ lower).
    """
    old_flat = {key: entry.get("old") for key, entry in entries.items()}
    new_flat = {key: entry.get("new") for key, entry in entries.items()}
    values = {key: entry for key, entry in entries.items() if not key.endswith(SE_SUFFIX)}
    metrics = list(dict.fromkeys(_split_key(key)[1] for key in values))
    rows: dict[str, dict[str, str]] = {}
    tally = {"better": 0, "worse": 0, "within noise": 0}
    for key, entry in values.items():
        row, metric = _split_key(key)
        old, new = entry.get("old"), entry.get("new")
        band = noise_band(standard_error(old_flat, key), standard_error(new_flat, key))
        error = standard_error(new_flat, key)
        cell = fmt_change(key, old, new, band)
        rows.setdefault(row, {})[metric] = (
            cell if error is None else cell.replace(fmt(new), f"{fmt(new)} ± {error:.2g}", 1)
        )
        judged = judge(key, old, new, band)
        if judged:
            tally[judged] += 1
    arrows = {1: " ↑", -1: " ↓", 0: ""}
    header = ["", *(f"{m}{arrows[direction(m)]}" for m in metrics)]
    body = table(
        header,
        [[f"**{row or '(all)'}**", *(cells.get(m, "") for m in metrics)] for row, cells in rows.items()],
        ["---", *("---:" for _ in metrics)],
    )
    summary = (
        f"{tally['better']} {BETTER} better, {tally['worse']} {WORSE} worse, "
        f"{tally['within noise']} {NOISE} within noise (validation and test; 2 standard errors of the difference)"
    )
    return f"#### `{path}`\n\n{summary}\n\n" + fold(f"show the {len(rows)} rows", body, len(rows))


def metrics_section(diff: Diff) -> str:
    """The model's metrics files (`dvc metrics diff`): headline deltas with their noise band."""
    legend = (
        f"Head value ± standard error (change against base): {BETTER} better, {WORSE} worse, "
        f"{NOISE} within noise; ↑ higher is better, ↓ lower is better."
    )
    if not diff:
        return "### Metrics\n\nNo metrics to compare."
    return "### Metrics\n\n" + legend + "\n\n" + "\n\n".join(metrics_table(path, diff[path]) for path in sorted(diff))


@dataclass
class GateSummary:
    """One gate summary file (`suite -> {evaluated, passed, success}`), at head, and what moved since base."""

    path: str
    suites: int = 0
    passed: int = 0
    evaluated: int = 0
    failed: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    new: bool = False


def summarise_gate(path: str, entries: Mapping[str, Mapping[str, Any]]) -> GateSummary:
    """Totals of a gate summary file; any suite whose `success` is false at head is listed as failed."""
    summary = GateSummary(path)
    suites: dict[str, dict[str, Any]] = {}
    for key, entry in entries.items():
        suite, name = _split_key(key)
        suites.setdefault(suite, {})[name] = entry.get("new")
        if entry.get("old") != entry.get("new"):
            summary.changes.append(f"`{key}` {fmt(entry.get('old'))} → {fmt(entry.get('new'))}")
    summary.new = bool(entries) and all(entry.get("old") is None for entry in entries.values())
    for suite, values in sorted(suites.items()):
        if all(value is None for value in values.values()):
            continue  # removed at head
        summary.suites += 1
        summary.passed += int(_number(values.get("passed")) or 0)
        summary.evaluated += int(_number(values.get("evaluated")) or 0)
        if values.get("success") is False:
            summary.failed.append(suite or "(all)")
    return summary


def gates_section(diff: Diff) -> str:
    """Gate summaries: checks passed per gate file at head, failed suites, and what changed since base."""
    gates = [summarise_gate(path, diff[path]) for path in sorted(diff)]
    if not gates:
        return "### Gates\n\nNo gate summaries."
    rows = []
    for gate in gates:
        result = f"{WORSE} failed: " + ", ".join(gate.failed) if gate.failed else f"{BETTER} passed"
        moved = "new" if gate.new else ("; ".join(gate.changes[:4]) + (" …" if len(gate.changes) > 4 else ""))
        checks = f"{gate.passed}/{gate.evaluated}" if gate.evaluated else "—"
        rows.append([f"`{gate.path}`", str(gate.suites), checks, result, moved or "unchanged"])
    failed = sum(1 for gate in gates if gate.failed)
    headline = f"{len(gates)} gate summaries, " + (f"{failed} with failed suites." if failed else "all suites passed.")
    listed = table(["gate", "suites", "checks passed", "result", "change against base"], rows)
    return "### Gates\n\n" + headline + "\n\n" + fold("show every gate", listed, len(rows))
