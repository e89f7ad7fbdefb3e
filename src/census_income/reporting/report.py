"""The pull-request report: what a change does to params, metrics, gates and stages, in Markdown.

CI posts it on every pull request, and `census-income report --base main` writes the same text
locally. Pure functions make the Markdown from what DVC reports (the mappings behind
`dvc params diff --json` and `dvc metrics diff --json --all`: `file -> dotted key -> {old, new}`)
and two `dvc.lock` mappings: the tables in `report_tables`, the whole text in `report_text`.
This module is the thin layer that asks git and DVC for them, and the command; when the base
revision's metrics are not in the DVC cache (a fresh CI clone without a remote), it reproduces
the base in a temporary git worktree that shares this cache, so the unchanged stages come back
from DVC's run cache instead of running twice.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from census_income.errors import DvcError, GitError, PipelineError
from census_income.io import atomic_path
from census_income.paths import GATE_SUMMARIES_DIR, LOCK_FILE, PLOTS_DIR
from census_income.repo import git
from census_income.repo.dvc import Dvc, environment
from census_income.repo.lock import outputs, parse_lock, read_lock
from census_income.reporting.report_tables import Diff
from census_income.reporting.report_text import ReportInputs, build_report

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ thin layer: git and DVC
def commit_of(rev: str) -> str:
    """The short commit a revision names; a one-line error when git does not know it."""
    try:
        return git.commit_of(Path(), rev, short=True)
    except GitError:
        raise PipelineError(f"unknown base revision `{rev}` (fetch it first, e.g. `git fetch origin main`)") from None


def lock_at(rev: str) -> dict[str, Any]:
    """`dvc.lock` as committed at `rev` (empty when that revision has none)."""
    try:
        return parse_lock(git.text_at(Path(), rev, LOCK_FILE))
    except GitError:  # no dvc.lock at base: every stage of head is new
        return {}


def gate_summaries(*locks: Mapping[str, Any]) -> list[str]:
    """The gate summary files these `dvc.lock`s record (stage outputs under `reports/gates/`)."""
    return sorted({out.path for lock in locks for out in outputs(lock) if Path(out.path).parent == GATE_SUMMARIES_DIR})


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


def _dvc_running_code_of(root: Path) -> Dvc:
    """DVC in `root`, its stages running `root`'s own code (first on the path), not the installed one."""
    env = environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    return Dvc(root, env)


def reproduce_base(base: str) -> None:
    """Put `base`'s outputs into this project's DVC cache: `dvc repro` it in a temporary worktree.

    The worktree uses this project's cache, so stages whose inputs match the head's are restored
    from the run cache, not run again, and `dvc metrics|plots diff` find base's outputs afterwards.
    With a DVC remote configured, missing data is pulled first (`--pull`).
    """
    here = Dvc(Path.cwd().resolve())
    cache = here.run("cache", "dir").strip() or str(Path(".dvc/cache").resolve())
    has_remote = bool(here.run("remote", "list").strip())
    tmp = Path(tempfile.mkdtemp(prefix="census-income-base-"))
    tree = tmp / "base"
    git.git(Path(), "worktree", "add", "--detach", "--quiet", str(tree), base)
    try:
        local_config = Path(".dvc/config.local")  # remotes configured for this clone only (CI's, credentials)
        if local_config.is_file():
            shutil.copyfile(local_config, tree / local_config)
        dvc = _dvc_running_code_of(tree)
        dvc.run("config", "--local", "cache.dir", cache)
        log.info("reproducing %s in %s (shares the cache %s)", base, tree, cache)
        done = dvc("repro", *(["--pull"] if has_remote else []))
        if done.returncode != 0:  # the last lines name the stage and its error, more than DVC's one line
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise DvcError(f"`dvc repro` of base `{base}` failed:\n{tail}")
    finally:
        git.git(Path(), "worktree", "remove", "--force", str(tree))
        shutil.rmtree(tmp, ignore_errors=True)


def render_plots(base: str, out: Path) -> bool:
    """`dvc plots diff base -o out`: the HTML page of every plot `dvc.yaml` declares, base beside head."""
    try:
        Dvc(Path.cwd().resolve()).run("plots", "diff", base, "-o", str(out))
    except DvcError as exc:  # the report says where to find the plots instead
        log.warning("%s", exc)
        return False
    return True


def gather(base: str, reproduce: bool = True, plots_dir: Path | None = PLOTS_DIR, plots_url: str = "") -> ReportInputs:
    """Ask git and DVC for everything the report shows (the workspace is the head)."""
    base_commit = commit_of(base)
    head_commit = git.head(Path(), short=True)
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
