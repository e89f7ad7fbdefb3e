"""The pull-request report: what a change does to params, metrics, gates and stages, in Markdown.

CI posts it on every pull request, and `census-income report --base main` writes the same text
locally. The pure functions below take what DVC reports (the mappings behind
`dvc params diff --json` and `dvc metrics diff --json --all`: `file -> dotted key -> {old, new}`)
and two `dvc.lock` mappings, and return Markdown. The thin layer at the end asks git and DVC for
them; when the base revision's metrics are not in the DVC cache (a fresh CI clone without a
remote), it reproduces the base in a temporary git worktree that shares this cache, so the
unchanged stages come back from DVC's run cache instead of running twice.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from census_income.errors import PipelineError
from census_income.experiments.table import flatten
from census_income.io import atomic_path
from census_income.modeling.metrics import SE_SUFFIX, Verdict, direction, noise_band, standard_error, verdict
from census_income.paths import GATE_SUMMARIES_DIR, LOCK_FILE, PARAMS_FILE, PLOTS_DIR
from census_income.repo.lineage import read_lock

log = logging.getLogger(__name__)

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


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _fold(summary: str, body: str, rows: int) -> str:
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
    return "### Parameters\n\n" + _table(["param", "base", "head"], rows)


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
    body = _table(
        header,
        [[f"**{row or '(all)'}**", *(cells.get(m, "") for m in metrics)] for row, cells in rows.items()],
        ["---", *("---:" for _ in metrics)],
    )
    summary = (
        f"{tally['better']} {BETTER} better, {tally['worse']} {WORSE} worse, "
        f"{tally['within noise']} {NOISE} within noise (validation and test; 2 standard errors of the difference)"
    )
    return f"#### `{path}`\n\n{summary}\n\n" + _fold(f"show the {len(rows)} rows", body, len(rows))


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
    table = _table(["gate", "suites", "checks passed", "result", "change against base"], rows)
    return "### Gates\n\n" + headline + "\n\n" + _fold("show every gate", table, len(rows))


@dataclass(frozen=True)
class StageChange:
    """How one stage's `dvc.lock` entry differs between base and head."""

    name: str
    kind: str  # added | removed | changed
    what: tuple[str, ...] = ()


def _hashes(items: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["path"]: item.get("md5", item.get("etag", item.get("checksum"))) for item in items or []}


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _lock_params(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A lock entry's params as dotted keys, prefixed with their file unless it is params.yaml."""
    found: dict[str, Any] = {}
    for path, values in (entry.get("params") or {}).items():
        prefix = "" if path == PARAMS_FILE.name else f"{path}:"
        found.update({f"{prefix}{key}": value for key, value in flatten(values or {}).items()})
    return found


def changed_stages(base_lock: Mapping[str, Any], head_lock: Mapping[str, Any]) -> list[StageChange]:
    """Stages whose `dvc.lock` entries differ: the stages that reran (or would) for this change."""
    old_stages, new_stages = base_lock.get("stages", {}) or {}, head_lock.get("stages", {}) or {}
    changes = []
    # pipeline order (dvc.lock keeps dvc.yaml's), then the stages head no longer has
    for name in [*new_stages, *(name for name in old_stages if name not in new_stages)]:
        old, new = old_stages.get(name), new_stages.get(name)
        if old is None or new is None:
            changes.append(StageChange(name, "added" if old is None else "removed"))
            continue
        what = []
        if old.get("cmd") != new.get("cmd"):
            what.append("command")
        params = _changed_keys(_lock_params(old), _lock_params(new))
        for part, keys in (
            ("params", params),
            ("deps", _changed_keys(_hashes(old.get("deps")), _hashes(new.get("deps")))),
            ("outs", _changed_keys(_hashes(old.get("outs")), _hashes(new.get("outs")))),
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
    return title + _table(["stage", "change", "what changed"], rows) + tail


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


# ------------------------------------------------------------------ thin layer: git and DVC
def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PipelineError(f"git {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def commit_of(rev: str) -> str:
    """The short commit a revision names; a one-line error when git does not know it."""
    try:
        return _git("rev-parse", "--short", "--verify", f"{rev}^{{commit}}").strip()
    except PipelineError:
        raise PipelineError(f"unknown base revision `{rev}` (fetch it first, e.g. `git fetch origin main`)") from None


def lock_at(rev: str) -> dict[str, Any]:
    """`dvc.lock` as committed at `rev` (empty when that revision has none)."""
    try:
        text = _git("show", f"{rev}:{LOCK_FILE.as_posix()}")
    except PipelineError:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / LOCK_FILE.name
        path.write_text(text, encoding="utf-8")
        return read_lock(path)


def gate_summaries(*locks: Mapping[str, Any]) -> list[str]:
    """The gate summary files these `dvc.lock`s record (stage outputs under `reports/gates/`)."""
    return sorted(
        {
            str(out["path"])
            for lock in locks
            for stage in (lock.get("stages") or {}).values()
            for out in stage.get("outs") or []
            if Path(str(out.get("path", ""))).parent == GATE_SUMMARIES_DIR
        }
    )


def dvc_diffs(base: str, gates: list[str]) -> tuple[Diff, Diff, Diff, dict[str, list[str]]]:
    """`dvc params diff base`, `dvc metrics diff base --all`, the same for the gate summaries
    (outputs, not declared metrics, so named as targets), and the metrics files DVC could not load.

    Through DVC's Python API, which returns the same mappings as `--json` and also the
    per-revision load errors (the CLI only prints them as a warning).
    """
    from dvc.repo import Repo

    with Repo() as repo:
        params = repo.params.diff(a_rev=base, b_rev="workspace").get("diff", {})
        result = repo.metrics.diff(a_rev=base, b_rev="workspace", all=True)
        gate_diff = repo.metrics.diff(a_rev=base, b_rev="workspace", targets=gates, all=True) if gates else {}
    unreadable: dict[str, list[str]] = {}
    for rev, errors in result.get("errors", {}).items():
        files = sorted(errors) if isinstance(errors, Mapping) else ["(all)"]
        unreadable[rev] = files
    return params, result.get("diff", {}), gate_diff.get("diff", {}), unreadable


def _env_for(root: Path) -> dict[str, str]:
    """Environment for a DVC run in `root`: this Python first on PATH, `root`'s own code first on the path."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    return env


def _dvc(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    root = (cwd or Path.cwd()).resolve()
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, env=_env_for(root), capture_output=True, text=True, check=False
    )


def reproduce_base(base: str) -> None:
    """Put `base`'s outputs into this project's DVC cache: `dvc repro` it in a temporary worktree.

    The worktree uses this project's cache, so stages whose inputs match the head's are restored
    from the run cache, not run again, and `dvc metrics|plots diff` find base's outputs afterwards.
    With a DVC remote configured, missing data is pulled first (`--pull`).
    """
    cache = _dvc(["cache", "dir"]).stdout.strip() or str(Path(".dvc/cache").resolve())
    has_remote = bool(_dvc(["remote", "list"]).stdout.strip())
    tmp = Path(tempfile.mkdtemp(prefix="census-income-base-"))
    tree = tmp / "base"
    _git("worktree", "add", "--detach", "--quiet", str(tree), base)
    try:
        local_config = Path(".dvc/config.local")  # remotes configured for this clone only (CI's, credentials)
        if local_config.is_file():
            shutil.copyfile(local_config, tree / local_config)
        if _dvc(["config", "--local", "cache.dir", cache], tree).returncode != 0:
            raise PipelineError(f"cannot point the worktree of `{base}` at the cache {cache}")
        log.info("reproducing %s in %s (shares the cache %s)", base, tree, cache)
        done = _dvc(["repro", *(["--pull"] if has_remote else [])], tree)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise PipelineError(f"`dvc repro` of base `{base}` failed:\n{tail}")
    finally:
        _git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(tmp, ignore_errors=True)


def render_plots(base: str, out: Path) -> bool:
    """`dvc plots diff base -o out`: the HTML page of every plot `dvc.yaml` declares, base beside head."""
    done = _dvc(["plots", "diff", base, "-o", str(out)])
    if done.returncode != 0:
        log.warning("dvc plots diff %s failed: %s", base, done.stderr.strip().splitlines()[-1:] or done.returncode)
    return done.returncode == 0


def gather(base: str, reproduce: bool = True, plots_dir: Path | None = PLOTS_DIR, plots_url: str = "") -> ReportInputs:
    """Ask git and DVC for everything the report shows (the workspace is the head)."""
    base_commit = commit_of(base)
    head_commit = _git("rev-parse", "--short", "HEAD").strip()
    base_lock, head_lock = lock_at(base), read_lock()
    gates = gate_summaries(base_lock, head_lock)
    params, metrics, gate_diff, unreadable = dvc_diffs(base, gates)
    if reproduce and base in unreadable and "workspace" not in unreadable:
        log.info("metrics of %s are not in the DVC cache: reproducing it", base)
        try:
            reproduce_base(base)
        except PipelineError as exc:  # report without base's metrics (the report says so) rather than not at all
            log.warning("%s", exc)
        else:
            params, metrics, gate_diff, unreadable = dvc_diffs(base, gates)
    plots = ""
    if plots_dir is not None and render_plots(base, plots_dir):
        plots = f"`dvc plots diff {base}` renders every plot in `dvc.yaml`, base beside head: `{plots_dir}/index.html`"
        plots += f" ([download it from this run]({plots_url}): artifact `plots`)." if plots_url else "."
    elif plots_url:
        plots = f"See the artifacts of [this run]({plots_url})."
    return ReportInputs(
        base=base,
        base_commit=base_commit,
        head_commit=head_commit,
        params=params,
        metrics=metrics,
        base_lock=base_lock,
        head_lock=head_lock,
        unreadable=unreadable,
        plots=plots,
        gates=gate_diff,
    )


def write_report(
    base: str, output: Path, reproduce: bool = True, plots_dir: Path | None = PLOTS_DIR, plots_url: str = ""
) -> str:
    """Gather, build and write the report to `output` (atomically); returns its text."""
    text = build_report(gather(base, reproduce, plots_dir, plots_url))
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return text
