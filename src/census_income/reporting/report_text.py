"""The pull-request report as Markdown: the headline, the tables, and the stages whose `dvc.lock` entry moved.

Pure: `build_report` takes a `ReportInputs` (gathered from git and DVC by `report.gather`, or
built by hand in tests) and returns the text CI posts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from census_income.repo.lock import Hashed, locked_stages
from census_income.reporting.report_tables import Diff, fmt, gates_section, metrics_section, params_section, table


@dataclass(frozen=True)
class StageChange:
    """How one stage's `dvc.lock` entry differs between base and head."""

    name: str
    kind: str  # added | removed | changed
    what: tuple[str, ...] = ()


def _hashes(items: tuple[Hashed, ...]) -> dict[str, str]:
    return {item.path: item.hash for item in items}


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def changed_stages(base_lock: Mapping[str, Any], head_lock: Mapping[str, Any]) -> list[StageChange]:
    """Stages whose `dvc.lock` entries differ: the stages that reran (or would) for this change."""
    old_stages, new_stages = locked_stages(base_lock), locked_stages(head_lock)
    changes = []
    # pipeline order (dvc.lock keeps dvc.yaml's), then the stages head no longer has
    for name in [*new_stages, *(name for name in old_stages if name not in new_stages)]:
        old, new = old_stages.get(name), new_stages.get(name)
        if old is None or new is None:
            changes.append(StageChange(name, "added" if old is None else "removed"))
            continue
        what = []
        if old.cmd != new.cmd:
            what.append("command")
        for part, keys in (
            ("params", _changed_keys(old.flat_params, new.flat_params)),
            ("deps", _changed_keys(_hashes(old.deps), _hashes(new.deps))),
            ("outs", _changed_keys(_hashes(old.outs), _hashes(new.outs))),
        ):
            if keys:
                what.append(f"{part}: " + ", ".join(f"`{key}`" for key in keys))
        if what:
            changes.append(StageChange(name, "changed", tuple(what)))
    return changes


def stages_section(changes: list[StageChange], head_lock: Mapping[str, Any]) -> str:
    """Which stages reran: those whose lock entry differs from base, and what in it differs."""
    title = "### Stages that reran\n\nStages whose `dvc.lock` entry differs from base.\n\n"
    if not changes:
        return title + "None: the pipeline's results are those of base."
    rows = [[f"`{c.name}`", c.kind, "; ".join(c.what)] for c in changes]
    same = [name for name in head_lock.get("stages") or {} if name not in {c.name for c in changes}]
    tail = "\n\nUnchanged: " + ", ".join(f"`{name}`" for name in same) + "." if same else ""
    return title + table(["stage", "change", "what changed"], rows) + tail


def headline(params: Diff, changes: list[StageChange], shown: int = 4) -> str:
    """The report's first line: the parameters that changed and the stages that reran (details below)."""
    moved = [
        f"`{key}` {fmt(entry.get('old'))} → {fmt(entry.get('new'))}"
        for path in sorted(params)
        for key, entry in sorted(params[path].items())
        if entry.get("old") != entry.get("new")
    ]
    more = f" and {len(moved) - shown} more" if len(moved) > shown else ""
    changed = ", ".join(moved[:shown]) + more if moved else "no parameter"
    reran = ", ".join(f"`{c.name}`" for c in changes) if changes else "none"
    return f"**Changed:** {changed}. **Reran:** {reran}."


@dataclass(frozen=True)
class ReportInputs:
    """Everything one report is made of (gathered by `gather`, or built by hand in tests)."""

    base: str
    base_commit: str
    head_commit: str
    params: Diff
    metrics: Diff
    base_lock: Mapping[str, Any]
    head_lock: Mapping[str, Any]
    unreadable: Mapping[str, list[str]] = field(default_factory=dict)  # revision -> metrics files DVC could not load
    plots: str = ""  # where the rendered plot comparison is
    gates: Diff = field(default_factory=dict)  # the gate summaries' diff, as `metrics` for them


def build_report(inputs: ReportInputs) -> str:
    """The whole report as Markdown, the text CI posts on the pull request."""
    changes = changed_stages(inputs.base_lock, inputs.head_lock)
    parts = [
        f"## Pipeline report against `{inputs.base}`",
        f"Base `{inputs.base}` at `{inputs.base_commit}`; head at `{inputs.head_commit}` (the workspace).",
        headline(inputs.params, changes),
    ]
    for rev, files in sorted(inputs.unreadable.items()):
        parts.append(
            f"> [!WARNING]\n> DVC could not load these metrics of `{rev}`: "
            + ", ".join(f"`{f}`" for f in files)
            + ". Their outputs are neither in the workspace nor in the DVC cache: `dvc pull` or `dvc repro` first."
        )
    parts += [
        params_section(inputs.params),
        metrics_section(inputs.metrics),
        gates_section(inputs.gates),
        stages_section(changes, inputs.head_lock),
    ]
    if inputs.plots:
        parts.append("### Plots\n\n" + inputs.plots)
    parts.append(f"<sub>Made by `census-income report --base {inputs.base}`.</sub>")
    return "\n\n".join(parts) + "\n"
