"""The lineage of a model as data: the chain of `dvc.lock` stages behind it and the sources they read.

Pure parts, shared by `census-income lineage` (`lineage_report`) and the model card (`model_card`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from census_income.errors import PipelineError
from census_income.repo.lineage import producers, upstream
from census_income.repo.lock import LockedStage, locked_stages

# the stage that records the environment: its output is found through dvc.lock by its command,
# `python -m census_income.stages environment` (or, run directly, `census_income.stages.environment`)
ENVIRONMENT_COMMAND = re.compile(r"census_income\.stages[. ]environment\b")
INLINE_PARAM_CHARS = 60


@dataclass(frozen=True)
class Source:
    """One configured data source (`data.source.<part>`) and what dvc.lock knows of it."""

    part: str
    uri: str
    hash: str  # empty when dvc.lock does not list it (params.yaml changed since the last repro)
    read_by: tuple[str, ...]
    made_by: tuple[str, ...]  # stages that generate it (synthetic data), empty for delivered data


@dataclass(frozen=True)
class Lineage:
    """Everything `census-income lineage` prints and the model card shows."""

    artifact: str
    description: str
    model: str
    model_md5: str
    model_present: bool
    commit: str | None
    uncommitted: tuple[str, ...]
    stale: tuple[str, ...]
    sources: tuple[Source, ...]
    stages: tuple[LockedStage, ...]
    environment_file: str | None
    environment: Mapping[str, Any] | None  # as recorded
    installed: Mapping[str, Any]  # the same packages in this process's environment
    dataset: str | None = None  # the data set artifact's path and md5, when dvc.yaml declares one
    dataset_md5: str | None = None


def param_text(value: Any) -> str:
    """A parameter value as printed: itself when short, else the md5 of its canonical JSON."""
    if isinstance(value, str):
        return value
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) <= INLINE_PARAM_CHARS:
        return text
    digest = hashlib.md5(text.encode()).hexdigest()
    size = f"{len(value)} {'keys' if isinstance(value, dict) else 'items'}" if isinstance(value, dict | list) else ""
    return f"md5 {digest} ({size})" if size else f"md5 {digest}"


def defined_stages(dvc_yaml: Mapping[str, Any], params: Mapping[str, Any]) -> set[str]:
    """The stage names dvc.yaml defines with these params: `ingest@train` for each key of a
    `foreach: ${data.source}`. dvc.lock keeps the entry of a stage that is gone (a dropped part,
    an earlier data set's part): it is no part of the current model's chain."""
    names: set[str] = set()
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        foreach = stage.get("foreach") if isinstance(stage, Mapping) else None
        if isinstance(foreach, str) and foreach.startswith("${") and foreach.endswith("}"):
            node: Any = params
            for key in foreach[2:-1].split("."):
                node = node.get(key, {}) if isinstance(node, Mapping) else {}
            names.update(f"{name}@{key}" for key in (node if isinstance(node, Mapping) else {}))
        else:
            names.add(name)
    return names


def trace(
    lock: Mapping[str, Any], model: str, data_source: Mapping[str, str], defined: set[str] | None = None
) -> tuple[list[LockedStage], list[Source]]:
    """The stages upstream of `model` (pipeline order) and the configured sources they read;
    with `defined`, only the lock entries of stages dvc.yaml still defines."""
    stages = {name: stage for name, stage in locked_stages(dict(lock)).items() if defined is None or name in defined}
    chain = [stages[name] for name in upstream(stages, model)]
    if not chain:
        raise PipelineError(f"{model}: no stage in dvc.lock produces it (run `dvc repro`)")
    sources = []
    for part, uri in data_source.items():
        readers = tuple(stage.name for stage in chain if any(dep.path == uri for dep in stage.deps))
        hashes = [dep.hash for stage in chain for dep in stage.deps if dep.path == uri]
        sources.append(Source(part, uri, hashes[0] if hashes else "", readers, tuple(producers(stages, uri))))
    return chain, sources


def environment_output(chain: list[LockedStage]) -> str | None:
    """The record the environment stage writes, when it is upstream of the model."""
    for stage in chain:
        if ENVIRONMENT_COMMAND.search(stage.cmd) and stage.outs:
            return stage.outs[0].path
    return None
