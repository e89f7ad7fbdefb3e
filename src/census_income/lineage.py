"""What `dvc.lock` records about outputs: the hashes that make a model trustworthy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from census_income.errors import PipelineError
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
