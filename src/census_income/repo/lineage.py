"""What `dvc.lock` records: the hashes that make a model trustworthy, and the chain of stages behind it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from census_income.errors import PipelineError
from census_income.io import md5_file
from census_income.paths import LOCK_FILE


def read_lock(path: Path = LOCK_FILE) -> dict[str, Any]:
    """`dvc.lock` as a mapping (empty when there is none yet)."""
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return loaded if isinstance(loaded, dict) else {}


def recorded_md5(output: Path | str, lock: dict[str, Any] | None = None) -> str:
    """The md5 `dvc.lock` records for an output file; an error when it records none."""
    wanted = Path(output).as_posix()
    lock = read_lock() if lock is None else lock
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if Path(out["path"]).as_posix() == wanted and "md5" in out:
                return str(out["md5"])
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
    lock = read_lock() if lock is None else lock
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            root = Path(out["path"])
            if "md5" in out and (wanted == root or root in wanted.parents) and root.exists():
                return dvc_md5(root) == str(out["md5"])
    return False


# ------------------------------------------------------------------ the chain behind an output
# hash fields dvc.lock writes, by kind of dependency: local files (md5), cloud objects (etag,
# version_id), HTTP and other external sources (checksum)
HASH_FIELDS = ("md5", "etag", "version_id", "checksum")


@dataclass(frozen=True)
class Hashed:
    """A dependency or output as `dvc.lock` records it."""

    path: str
    hash: str  # `md5 <hex>` (`<hex>.dir` for a folder), `etag <tag>`, ...; empty when none is recorded
    size: int | None = None


@dataclass(frozen=True)
class LockedStage:
    """One stage's entry in `dvc.lock`: what it ran with and what it made."""

    name: str
    cmd: str
    deps: tuple[Hashed, ...]
    params: dict[str, Any]  # `key` for params.yaml, `file:key` for other parameter files
    outs: tuple[Hashed, ...]


def entry_hash(entry: dict[str, Any]) -> str:
    """`md5 <hex>` (or the hash field `dvc.lock` has) of one dependency or output."""
    for name in HASH_FIELDS:
        if name in entry:
            return f"{name} {entry[name]}"
    return ""


def locked_stages(lock: dict[str, Any]) -> dict[str, LockedStage]:
    """Every stage of a `dvc.lock` mapping, in its order."""

    def hashed(entries: list[dict[str, Any]] | None) -> tuple[Hashed, ...]:
        return tuple(Hashed(str(e["path"]), entry_hash(e), e.get("size")) for e in entries or [])

    stages = {}
    for name, entry in (lock.get("stages") or {}).items():
        params = {
            (key if file == "params.yaml" else f"{file}:{key}"): value
            for file, values in (entry.get("params") or {}).items()
            for key, value in (values or {}).items()
        }
        cmd = entry.get("cmd", "")
        stages[name] = LockedStage(
            name=name,
            cmd=" ".join(cmd) if isinstance(cmd, list) else str(cmd),
            deps=hashed(entry.get("deps")),
            params=params,
            outs=hashed(entry.get("outs")),
        )
    return stages


def overlaps(path: str, other: str) -> bool:
    """Whether two paths are the same, or one is inside the other (a folder output and its files)."""
    return path == other or path.startswith(f"{other}/") or other.startswith(f"{path}/")


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
