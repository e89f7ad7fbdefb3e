"""`census-income lineage`: the chain from the current model back to its data, from `dvc.lock`.

It names the model file and the md5 `dvc.lock` records for it (and refuses a file that does
not match), the git commit, every data source with its hash, every stage upstream of the
model with the hashes of its dependencies, its parameters and the hashes of its outputs, and
the Python and package versions the `environment` stage recorded (beside the installed ones).
`dvc.lock` is the single record read: nothing here re-hashes data or reruns a stage.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from census_income.errors import PipelineError
from census_income.paths import LOCK_FILE, PARAMS_FILE
from census_income.repo.lineage import LockedStage, locked_stages, producers, read_lock, recorded_md5, upstream

# the stage module that records the environment: its output is found through dvc.lock by its command
ENVIRONMENT_MODULE = "census_income.stages.environment"
DVC_FILE = Path("dvc.yaml")
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


# ------------------------------------------------------------------ pure parts
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
        if ENVIRONMENT_MODULE in stage.cmd and stage.outs:
            return stage.outs[0].path
    return None


def format_lineage(lineage: Lineage, card: Path | None = None) -> str:
    """The chain as aligned text: model, commit, sources, stages, environment."""
    lines = [
        f"model       {lineage.model}  md5 {lineage.model_md5}  "
        + ("(the file matches dvc.lock)" if lineage.model_present else "(not in the workspace: `dvc pull`)"),
        f"artifact    {lineage.artifact}: {lineage.description}".rstrip(": "),
    ]
    commit = lineage.commit or "none (not a git repository, or no commit yet)"
    if lineage.uncommitted:
        commit += f"  (uncommitted changes: {', '.join(lineage.uncommitted)})"
    lines.append(f"git commit  {commit}")
    if lineage.stale:
        lines.append("workspace   stale against dvc.lock:")
        lines += [f"              - {reason}" for reason in lineage.stale]
    else:
        lines.append("workspace   in sync with dvc.lock")
    if lineage.dataset:
        lines.append(f"data set    {lineage.dataset}  md5 {lineage.dataset_md5}")
    lines.append("sources")
    for source in lineage.sources:
        where = f"read by {', '.join(source.read_by)}" if source.read_by else "not in the model's chain in dvc.lock"
        made = f"; made by {', '.join(source.made_by)}" if source.made_by else ""
        lines.append(f"  {source.part:<9} {source.uri}  {source.hash or '(no hash recorded)'}  ({where}{made})")
    lines.append("stages (dvc.lock), upstream first")
    for stage in lineage.stages:
        lines.append(f"  {stage.name}")
        lines += [f"    dep    {dep.path}  {dep.hash}" for dep in stage.deps]
        lines += [f"    param  {key} = {param_text(value)}" for key, value in stage.params.items()]
        lines += [f"    out    {out.path}  {out.hash}" for out in stage.outs]
    lines += environment_lines(lineage)
    if card is not None:
        lines.append(f"model card  {card}")
    return "\n".join(lines)


def environment_lines(lineage: Lineage) -> list[str]:
    """Recorded versions, each with the installed one when they differ."""
    if lineage.environment is None:
        return ["environment not recorded (no environment stage upstream of the model in dvc.lock)"]
    lines = [f"environment (recorded in {lineage.environment_file}; installed now when different)"]
    recorded, now = lineage.environment, lineage.installed
    rows = [("python", recorded.get("python"), now.get("python"))]
    rows += [
        (name, version, now.get("packages", {}).get(name, "not installed"))
        for name, version in recorded.get("packages", {}).items()
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, version, installed in rows:
        note = "" if installed == version else f"  (installed now: {installed})"
        lines.append(f"  {name:<{width}}  {version}{note}")
    return lines


# ------------------------------------------------------------------ reading the project
def _git(*args: str) -> str | None:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def collect(check_status: bool = True) -> Lineage:
    """Read dvc.yaml, dvc.lock, params.yaml, git and the environment record of the working directory."""
    import yaml

    from census_income.config import read_params
    from census_income.io import md5_file, read_json
    from census_income.repo.environment import current_environment
    from census_income.repo.staleness import dvc_status, stale_stages, uncommitted
    from census_income.serving.registry import declared

    try:
        dvc_yaml = yaml.safe_load(DVC_FILE.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PipelineError(f"{DVC_FILE}: not found (run this in the project's root)") from None
    artifacts = declared(dvc_yaml)
    lock = read_lock()
    if not lock.get("stages"):
        raise PipelineError("dvc.lock: no stages recorded (run `dvc repro`)")
    model = artifacts.model_path
    model_md5 = recorded_md5(model, lock)
    present = Path(model).is_file()
    if present and (actual := md5_file(model)) != model_md5:
        raise PipelineError(
            f"{model}: md5 {actual} does not match {model_md5} recorded in dvc.lock; "
            f"this file is not the model the lineage describes (run `dvc checkout {model}`)"
        )
    params = read_params()
    chain, sources = trace(lock, model, params.get("data", {}).get("source", {}), defined_stages(dvc_yaml, params))
    env_file = environment_output(chain)
    recorded = read_json(env_file) if env_file and Path(env_file).is_file() else None
    names = list((recorded or {}).get("packages", {}))
    return Lineage(
        artifact=artifacts.model,
        description=" ".join(str(dvc_yaml["artifacts"][artifacts.model].get("desc", "")).split()),
        model=model,
        model_md5=model_md5,
        model_present=present,
        commit=_git("rev-parse", "HEAD"),
        uncommitted=tuple(uncommitted([DVC_FILE, LOCK_FILE, PARAMS_FILE])),
        stale=tuple(stale_stages(dvc_status(), lock)) if check_status else (),
        sources=tuple(sources),
        stages=tuple(chain),
        environment_file=env_file,
        environment=recorded,
        installed=current_environment(names),
        dataset=artifacts.data_path,
        dataset_md5=recorded_md5(artifacts.data_path, lock) if artifacts.data_path else None,
    )
