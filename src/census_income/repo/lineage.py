"""Trust and lineage from `dvc.lock` (read through `repo.lock`): whether a file holds the bytes the lock
records for it, and the chain of stages behind an output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from census_income.errors import PipelineError
from census_income.io import md5_file
from census_income.paths import LOCK_FILE
from census_income.repo.lock import LockedStage, outputs, overlaps, read_lock


def recorded_md5(output: Path | str, lock: dict[str, Any] | None = None) -> str:
    """The md5 `dvc.lock` records for an output file; an error when it records none."""
    wanted = Path(output).as_posix()
    for out in outputs(read_lock() if lock is None else lock):
        if Path(out.path).as_posix() == wanted and out.md5 is not None:
            return out.md5
    raise PipelineError(f"{wanted}: no md5 recorded in {LOCK_FILE} (produce it with `dvc repro`)")


def dvc_md5(path: Path) -> str:
    """The md5 DVC gives a file, or a folder (`<md5>.dir`: the md5 of its sorted file list)."""
    if not path.is_dir():
        return md5_file(path)
    entries = [
        {"md5": md5_file(file), "relpath": file.relative_to(path).as_posix()}
        for file in sorted(path.rglob("*"))
        if file.is_file()
    ]
    entries.sort(key=lambda entry: entry["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def matches_lock(path: Path | str, lock: dict[str, Any] | None = None) -> bool:
    """Whether `path` (a stage output, or a file inside a folder output) holds the bytes `dvc.lock`
    records for that output: then it is what the stage that wrote it checked before writing.

    False when no output covers it, or its bytes differ (edited by hand, a stage run outside DVC).
    """
    wanted = Path(path)
    for out in outputs(read_lock() if lock is None else lock):
        root = Path(out.path)
        if out.md5 is not None and (wanted == root or root in wanted.parents) and root.exists():
            return dvc_md5(root) == out.md5
    return False


# ------------------------------------------------------------------ the chain behind an output
def producers(stages: dict[str, LockedStage], path: str) -> list[str]:
    """The stages whose outputs are `path`, inside it, or contain it."""
    return [name for name, stage in stages.items() if any(overlaps(path, out.path) for out in stage.outs)]


def upstream(stages: dict[str, LockedStage], path: str) -> list[str]:
    """Every stage `path` depends on, transitively, producers first (pipeline order)."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in stages[name].deps:
            for producer in producers(stages, dep.path):
                visit(producer)
        ordered.append(name)

    for name in producers(stages, path):
        visit(name)
    return ordered
