"""The one model of `dvc.lock`: its stages, each with its command, hashed deps, params and outputs.

Everything that reads `dvc.lock` (lineage, the PR report, the staleness check, the registry)
reads it through `locked_stages`, so hashes are named one way (`md5 <hex>`, `etag <tag>`, ...)
and params are keyed one way: as the stage declares them (`model`, `data.format`), prefixed
with their file unless it is `params.yaml`; `flatten` takes them down to their leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from census_income.paths import LOCK_FILE, PARAMS_FILE

# hash fields dvc.lock writes, by kind of dependency: local files (md5), cloud objects (etag,
# version_id), HTTP and other external sources (checksum)
HASH_FIELDS = ("md5", "etag", "version_id", "checksum")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: the leaves (lists are kept as values; an empty mapping has none)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


# libyaml's safe loader when PyYAML has it: the same mapping, 0.01 s instead of 0.08 s for a 40 KB
# dvc.lock, which the gated stages read up to twice each (an input checked against it, a model's recorded md5)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_lock(path: Path = LOCK_FILE) -> dict[str, Any]:
    """`dvc.lock` as a mapping (empty when there is none yet)."""
    if not path.exists():
        return {}
    return parse_lock(path.read_text(encoding="utf-8"))


def parse_lock(text: str) -> dict[str, Any]:
    """The text of a `dvc.lock` as a mapping (empty when it holds none)."""
    loaded = yaml.load(text, Loader=LOADER) or {}
    return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class Hashed:
    """A dependency or output as `dvc.lock` records it."""

    path: str
    kind: str  # the hash field: md5, etag, version_id, checksum; empty when none is recorded
    value: str
    size: int | None = None

    @property
    def hash(self) -> str:
        """`md5 <hex>` (`<hex>.dir` for a folder), `etag <tag>`, ...; empty when none is recorded."""
        return f"{self.kind} {self.value}" if self.kind else ""

    @property
    def md5(self) -> str | None:
        """The md5 DVC recorded, for a file or folder in the project (None for external sources)."""
        return self.value if self.kind == "md5" else None


@dataclass(frozen=True)
class LockedStage:
    """One stage's entry in `dvc.lock`: what it ran with and what it made."""

    name: str
    cmd: str
    deps: tuple[Hashed, ...]
    params: dict[str, Any]  # `key` for params.yaml, `file:key` for other parameter files
    outs: tuple[Hashed, ...]

    @property
    def flat_params(self) -> dict[str, Any]:
        """The params down to their leaves (`model.max_iter`), as the PR report compares them."""
        return flatten(self.params)


def hashed(entry: Mapping[str, Any]) -> Hashed:
    """One dependency or output entry of `dvc.lock`."""
    kind = next((name for name in HASH_FIELDS if name in entry), "")
    return Hashed(str(entry["path"]), kind, str(entry[kind]) if kind else "", entry.get("size"))


def locked_stages(lock: Mapping[str, Any]) -> dict[str, LockedStage]:
    """Every stage of a `dvc.lock` mapping, in its order (the pipeline's)."""
    stages = {}
    for name, entry in (lock.get("stages") or {}).items():
        params = {
            (key if file == PARAMS_FILE.name else f"{file}:{key}"): value
            for file, values in (entry.get("params") or {}).items()
            for key, value in (values or {}).items()
        }
        cmd = entry.get("cmd", "")
        stages[name] = LockedStage(
            name=name,
            cmd=" ".join(cmd) if isinstance(cmd, list) else str(cmd),
            deps=tuple(hashed(e) for e in entry.get("deps") or []),
            params=params,
            outs=tuple(hashed(e) for e in entry.get("outs") or []),
        )
    return stages


def outputs(lock: Mapping[str, Any]) -> list[Hashed]:
    """Every stage output `dvc.lock` records, in pipeline order."""
    return [out for stage in locked_stages(lock).values() for out in stage.outs]


def overlaps(path: str, other: str) -> bool:
    """Whether two paths are the same, or one is inside the other (a folder output and its files)."""
    return path == other or path.startswith(f"{other}/") or other.startswith(f"{path}/")
