"""Is the committed `dvc.lock` (and `params.yaml`) what the code, `conf/` and the data give?

Three checks, each cheap: `params.yaml` must be byte for byte the composition of `conf/` (DVC's
own composition, as `dvc exp run` does it); `dvc status` must report no changed command,
parameter or dependency (missing outputs are fine: a fresh clone has none); and `params.yaml` and
`dvc.lock` must have no uncommitted changes, so that running this after `dvc repro` catches a
reproduction that changed the lock. CI runs it before and after reproducing a pull request.
"""

from __future__ import annotations

import difflib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from census_income.compose import compose_params
from census_income.errors import StaleLockError
from census_income.paths import CONF_DIR, LOCK_FILE, PARAMS_FILE
from census_income.repo.dvc import Dvc
from census_income.repo.git import uncommitted
from census_income.repo.lock import outputs, overlaps, read_lock

FIX = "Run `make params` then `make repro` and commit params.yaml and dvc.lock."
# statuses that mean "not here" rather than "changed": a clone without the data
MISSING = ("deleted", "not in cache")


# ------------------------------------------------------------------ pure parts
def params_drift(committed: str, composed: str, context: int = 20) -> list[str]:
    """Unified diff lines from `params.yaml` to the composition of `conf/` (none when equal)."""
    if committed == composed:
        return []
    diff = difflib.unified_diff(
        committed.splitlines(), composed.splitlines(), "params.yaml", "composition of conf/", lineterm="", n=1
    )
    lines = list(diff)
    return lines[:context] + (["..."] if len(lines) > context else [])


def stale_stages(status: Mapping[str, Any], lock: Mapping[str, Any]) -> list[str]:
    """What `dvc status --json` reports that makes `dvc.lock` stale: one line per reason, naming its stages.

    A changed command, a changed parameter, a changed dependency or a modified output is stale;
    an output, or a dependency produced by another stage, that is merely missing is not (a
    fresh clone has no data). A stage `dvc.lock` does not know has never run: stale.
    """
    known = set((lock.get("stages") or {}).keys())
    produced = [out.path for out in outputs(lock)]
    found: dict[str, list[str]] = {}  # reason -> stages, in pipeline order (dvc status keeps it)
    for stage, entries in status.items():
        reasons: list[str] = []
        if stage not in known:
            reasons.append("never reproduced: not in dvc.lock")
        for entry in entries:
            if isinstance(entry, str):
                if entry != "always changed":
                    reasons.append(entry)
                continue
            for kind, changed in entry.items():
                for path, state in sorted(changed.items()):
                    if isinstance(state, Mapping):  # parameters: {key: modified|new|deleted}
                        reasons += [f"param {key} {what}" for key, what in sorted(state.items())]
                    elif state in MISSING and (kind == "changed outs" or any(overlaps(path, out) for out in produced)):
                        continue
                    else:
                        noun = "output" if kind == "changed outs" else "dependency"
                        reasons.append(f"{noun} {path} {state}")
        for reason in dict.fromkeys(reasons):
            found.setdefault(reason, []).append(stage)
    return [f"{reason} (stage{'s' if len(stages) > 1 else ''} {', '.join(stages)})" for reason, stages in found.items()]


def stale_message(problems: list[str]) -> str:
    """The error text: what is stale, then what to run."""
    lines = ["dvc.lock or params.yaml is stale:"]
    for problem in problems:
        first, *rest = problem.splitlines()
        lines.append(f"  - {first}")
        lines += [f"      {line}" for line in rest]
    lines.append(FIX)
    return "\n".join(lines)


# ------------------------------------------------------------------ thin layer
def composition_problem(params_file: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR) -> str:
    """A problem line (with the diff) when `params_file` is not the composition of `conf_dir`."""
    if not params_file.exists():
        return f"{params_file} is missing"
    with tempfile.TemporaryDirectory() as tmp:
        composed = Path(tmp) / params_file.name
        compose_params(composed, conf_dir)
        drift = params_drift(params_file.read_text(encoding="utf-8"), composed.read_text(encoding="utf-8"))
    return "\n".join([f"{params_file} is not the composition of {conf_dir}/:", *drift]) if drift else ""


def check_lock() -> str:
    """Raise `StaleLockError` listing every problem; the one-line all-clear otherwise."""
    problems = []
    if problem := composition_problem():
        problems.append(problem)
    problems += stale_stages(Dvc().status(), read_lock())
    if changed := uncommitted(Path(), (PARAMS_FILE, LOCK_FILE)):
        problems.append(", ".join(changed) + " differ from the last commit (after `dvc repro`: commit them)")
    if problems:
        raise StaleLockError(stale_message(problems))
    return "dvc.lock and params.yaml match the code, conf/ and the data."
