"""Trust in a version: its model-quality gates passed at its commit, and `census-income register` tagged it.

Trust comes from git at the version's commit (its gate summaries as its `dvc.lock` records them),
never from the workspace, which anyone can edit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from census_income.errors import PipelineError, RegistryError
from census_income.paths import GATE_SUMMARIES_DIR, LOCK_FILE
from census_income.repo.artifacts import DVC_FILE, declared
from census_income.repo.dvc import open_output
from census_income.repo.git import git, tag_message, yaml_at
from census_income.repo.lineage import recorded_md5
from census_income.serving.versions import Version


def gate_failures(summaries: dict[str, dict[str, Any]]) -> list[str]:
    """`file: suite` for each suite that did not pass, from gate summaries (`reports/gates/*.json`)."""
    return [
        f"{path}: {suite}"
        for path, summary in summaries.items()
        for suite, result in summary.items()
        if isinstance(result, dict) and not result.get("success")
    ]


def quality_gates(root: Path, commit: str | None) -> dict[str, dict[str, Any]]:
    """The gate summaries of the stages that evaluate the model (stages with the model as a dep),
    as committed at `commit`: its dvc.yaml, and each summary's bytes as its dvc.lock records them.
    Never the workspace, which anyone can edit."""
    dvc_yaml = yaml_at(root, commit, DVC_FILE)
    lock = yaml_at(root, commit, LOCK_FILE)
    model_path = declared(dvc_yaml).model_path
    paths = [
        entry if isinstance(entry, str) else next(iter(entry))
        for stage in (dvc_yaml.get("stages") or {}).values()
        if model_path in [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        for entry in stage.get("outs", [])
        if Path(entry if isinstance(entry, str) else next(iter(entry))).parent == GATE_SUMMARIES_DIR
    ]
    summaries = {}
    for path in paths:
        try:
            with open_output(root, commit, path) as handle:
                data = handle.read()
            if hashlib.md5(data).hexdigest() != recorded_md5(path, lock):
                raise RegistryError(f"{path}: bytes differ from dvc.lock")
            summaries[path] = json.loads(data)
        except (PipelineError, json.JSONDecodeError, UnicodeDecodeError):
            summaries[path] = {"(missing, not JSON or not as dvc.lock records it)": {"success": False}}
    return summaries


def quality_failures(root: Path, commit: str | None) -> list[str]:
    """Why the model of `commit` did not pass its quality bar (empty: it passed). The one answer
    to that question: register, promote, loading a version and CI on main (`census-income
    check-quality`, on the workspace it just reproduced: `commit` None) all ask it."""
    summaries = quality_gates(root, commit)
    return gate_failures(summaries) if summaries else ["no gate summary"]


# ------------------------------------------------------------------ trust in a version
# the first words of the messages of tags this project writes: `register`'s version tags, and
# the stage tags of a promotion forced past an unverified version (the override, on record)
REGISTERED_BY = "census-income register"
FORCED_BY = "census-income promote --force"


def unverified(root: Path, name: str, version: str) -> str | None:
    """Why a version's tag is not trusted as made by `census-income register`, or None."""
    if not tag_message(root, f"{name}@{version}").startswith(REGISTERED_BY):
        return f"{name}@{version} was not tagged by `census-income register` (a `gto register` or git tag)"
    return None


def forced(root: Path, name: str, version: str) -> bool:
    """Whether a promotion of `version` was forced past its being unverified (and so recorded)."""
    listed = git(root, "for-each-ref", "--format=%(refname:short)", f"refs/tags/{name}#*").split()
    return any(tag_message(root, tag).startswith(f"{FORCED_BY} {version}") for tag in listed)


def check_trusted(root: Path, name: str, version: str, commit: str, force: bool = False) -> str | None:
    """Refuse a version whose quality bar failed at its commit, or (unless `force`) whose tag
    `census-income register` did not make; the reason it is unverified when forced."""
    failed = quality_failures(root, commit)
    if failed:
        raise RegistryError(
            f"{name}@{version}: the model-quality gate did not pass at commit {commit[:7]} ({', '.join(failed)})"
        )
    reason = unverified(root, name, version)
    if reason and not force:
        raise RegistryError(f"{reason}; refused (`census-income promote --force` overrides, on record)")
    return reason


def trust(root: Path, name: str, entry: Version) -> str:
    """`verified`, `unverified` (not tagged by `census-income register`) or `gate failed`."""
    if quality_failures(root, entry.commit):
        return "gate failed"
    return "unverified" if unverified(root, name, entry.version) else "verified"
