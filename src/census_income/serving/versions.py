"""Registered versions of the model and the stages they hold, as GTO reads them from git tags."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from census_income.repo.artifacts import model_artifact

VERSION = re.compile(r"^v\d+\.\d+\.\d+$")


def stages(root: Path) -> list[str]:
    """Stages a version can be put in: `.gto`'s list, else those already used."""
    from gto import api

    return list(api.get_stages(str(root), allowed=True) or api.get_stages(str(root), used=True))


@dataclass(frozen=True)
class Version:
    """One registered version of the model and the stages it holds."""

    version: str
    commit: str
    created_at: datetime
    stages: tuple[str, ...] = ()


def versions(root: Path) -> list[Version]:
    """Registered, active versions, newest (highest) first."""
    from gto import api
    from gto.exceptions import GTOException

    name = model_artifact(root).model
    try:
        shown = api.show(str(root), name, registered_only=True, versions_per_stage=-1)
    except GTOException:
        return []
    return [
        Version(
            version=entry["version"],
            commit=entry["commit_hexsha"],
            created_at=entry["created_at"],
            stages=tuple(dict.fromkeys(stage["stage"] for stage in entry["stages"])),
        )
        for entry in shown
    ]


def holders(root: Path, stage: str) -> list[str]:
    """Versions that hold `stage`, highest first (one, when stages are moved by `promote`)."""
    return [v.version for v in versions(root) if stage in v.stages]
