"""A model registry on git and DVC, no server: versions and stages are git tags in GTO's format.

`register` tags the current commit as a version of the model artifact that `dvc.yaml` declares
(`census-income-model@v1.2.0`), and only when that commit is exactly what DVC reproduced
(nothing uncommitted, `dvc status` clean) and the gates of the model's evaluation passed.
`promote` puts a version in a stage (`census-income-model#prod#N`) and unassigns the stage from
the version that held it, so each stage names one version; `rollback` moves a stage back to the
version that held it before. The tags are written by `gto` itself, so `gto show`,
`dvc artifacts get` and other tools that read GTO tags see the same registry.

Loading a version reads the model file of its commit through DVC (`dvc.api.open`, the same
bytes `dvc artifacts get` gives) and unpickles it only when its md5 is the one recorded in
that commit's `dvc.lock`.

This module resolves and loads a version, lists versions (`census-income models`) and holds the
commands; the parts live by job beside it: `versions` (what GTO reads from the tags), `trust`
(quality gates and who tagged it), `tags` (register, promote, rollback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from census_income.errors import DvcError, InputError, PipelineError, RegistryError
from census_income.io import load_model, load_model_bytes
from census_income.paths import LOCK_FILE
from census_income.repo.artifacts import DVC_FILE, Declared, declared, model_artifact
from census_income.repo.dvc import open_output
from census_income.repo.git import git, text_at, yaml_at
from census_income.repo.lineage import recorded_md5
from census_income.serving.tags import BUMPS, promote, register, remote_url, rollback
from census_income.serving.trust import check_trusted, forced, gate_failures, quality_failures, trust
from census_income.serving.versions import VERSION, Version, stages, versions

# the registry's public names, wherever they are defined: the CLI, batch scoring and the HTTP
# service import them from here
__all__ = [
    "COMMANDS",
    "DVC_FILE",
    "Declared",
    "ModelRef",
    "RegistryError",
    "Version",
    "VersionInfo",
    "add_registry_commands",
    "declared",
    "describe",
    "gate_failures",
    "git",
    "load",
    "model_artifact",
    "open_output",
    "promote",
    "quality_failures",
    "register",
    "registry_command",
    "resolve",
    "rollback",
    "text_at",
    "versions",
    "yaml_at",
]

# the figures `census-income models` shows for each version: split -> metrics
HEADLINE_SPLIT = "test"
HEADLINE_METRICS = ("roc_auc", "error_rate")
COMMANDS = ("register", "promote", "rollback", "models")


# ---------------------------------------------------------------------- which model
@dataclass(frozen=True)
class ModelRef:
    """A model to load: a registered version (a commit) or the workspace's model file."""

    spec: str
    path: str
    commit: str | None = None
    version: str | None = None
    stage: str | None = None

    @property
    def label(self) -> str:
        """The version, or the path for a workspace file."""
        return self.version or self.path

    def describe(self) -> str:
        """`v1.2.0 (prod, commit 1a2b3c4)` or `models/model.joblib (workspace)`."""
        if self.commit is None:
            return f"{self.path} (workspace)"
        stage = f"{self.stage}, " if self.stage else ""
        return f"{self.version} ({stage}commit {self.commit[:7]})"


def resolve(spec: str, root: Path) -> ModelRef:
    """`v1.2.0`, `prod`, `census-income-model@v1.2.0`, `census-income-model#prod` or a file path."""
    art = model_artifact(root)
    version = stage = None
    if spec.startswith(f"{art.model}@"):
        version = spec.split("@", 1)[1]
    elif spec.startswith(f"{art.model}#"):
        stage = spec.split("#")[1]
    elif VERSION.match(spec):
        version = spec
    elif spec in stages(root):
        stage = spec
    elif _same_path(root, spec, art.model_path):
        return ModelRef(spec=spec, path=art.model_path)
    elif (root / spec).exists():
        raise InputError(f"--model {spec}: not the model artifact {art.model_path} that {DVC_FILE} declares; refused")
    else:
        raise InputError(
            f"--model {spec}: not a registered version (vX.Y.Z), a stage ({', '.join(stages(root))}) "
            f"or the model file {art.model_path}"
        )
    registered = versions(root)
    if stage is not None:
        holders = [v for v in registered if stage in v.stages]
        if not holders:
            raise RegistryError(f"no version of {art.model} is in stage {stage} (`census-income promote`)")
        found = holders[0]
    else:
        match = [v for v in registered if v.version == version]
        if not match:
            known = ", ".join(v.version for v in registered) or "none"
            raise RegistryError(f"{art.model}@{version}: not registered (registered: {known})")
        found = match[0]
    # the path as declared in that commit's dvc.yaml: it may have moved since
    path = declared(yaml_at(root, found.commit, DVC_FILE)).model_path
    return ModelRef(spec=spec, path=path, commit=found.commit, version=found.version, stage=stage)


def _same_path(root: Path, spec: str, declared_path: str) -> bool:
    """Whether `spec` names the declared path (relative to the project or absolute)."""
    import os

    given = Path(spec) if Path(spec).is_absolute() else root / spec
    return os.path.normpath(given.absolute()) == os.path.normpath((root / declared_path).absolute())


def recorded_hash(ref: ModelRef, root: Path) -> str:
    """The md5 that the model's own revision of dvc.lock records for its file."""
    return recorded_md5(ref.path, yaml_at(root, ref.commit, LOCK_FILE))


def load(ref: ModelRef, root: Path) -> tuple[Any, str]:
    """The fitted model and its md5, after checking the bytes against that revision's dvc.lock
    (and, for a registered version, that it is trusted: see `check_trusted`)."""
    expected = recorded_hash(ref, root)
    if ref.commit is None:
        return load_model(root / ref.path, expected), expected
    name = declared(yaml_at(root, ref.commit, DVC_FILE)).model
    version = ref.version or ""
    check_trusted(root, name, version, ref.commit, force=forced(root, name, version))
    with open_output(root, ref.commit, ref.path) as source:
        data = source.read()
    try:
        return load_model_bytes(data, expected, ref.path), expected
    except PipelineError as exc:
        raise RegistryError(f"{ref.describe()}: {exc}") from None


# ------------------------------------------------------------------ listing
@dataclass(frozen=True)
class VersionInfo:
    """A row of `census-income models`."""

    version: str
    stages: tuple[str, ...]
    commit: str
    created_at: datetime
    data_md5: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    trust: str = "verified"


def describe(root: Path) -> list[VersionInfo]:
    """Every registered version with its stages, commit, data version and headline metrics."""
    infos = []
    for entry in versions(root):
        dvc_yaml = yaml_at(root, entry.commit, DVC_FILE)
        art = declared(dvc_yaml)
        lock = yaml_at(root, entry.commit, LOCK_FILE)
        data_md5 = None
        if art.data_path:
            with contextlib.suppress(PipelineError):
                data_md5 = recorded_md5(art.data_path, lock)
        infos.append(
            VersionInfo(
                version=entry.version,
                stages=entry.stages,
                commit=entry.commit,
                created_at=entry.created_at,
                data_md5=data_md5,
                metrics=_headline(root, entry.commit, dvc_yaml),
                trust=trust(root, art.model, entry),
            )
        )
    return infos


def _headline(root: Path, commit: str, dvc_yaml: dict[str, Any]) -> dict[str, float | None]:
    """The headline metrics of a revision, from the first metrics file dvc.yaml declares."""
    files = [m if isinstance(m, str) else next(iter(m)) for m in dvc_yaml.get("metrics") or []]
    values: dict[str, Any] = {}
    if files:
        with contextlib.suppress(DvcError, json.JSONDecodeError), open_output(root, commit, files[0]) as handle:
            values = json.loads(handle.read()).get(HEADLINE_SPLIT, {})
    return {f"{HEADLINE_SPLIT}.{name}": values.get(name) for name in HEADLINE_METRICS}


def format_versions(name: str, infos: list[VersionInfo]) -> str:
    """A plain table, newest version first."""
    if not infos:
        return f"no version of {name} is registered yet (`census-income register`)"
    metric_names = list(infos[0].metrics)
    header = ["version", "stage", "commit", "trust", "registered", "data md5", *metric_names]
    rows = [
        [
            info.version,
            ", ".join(info.stages) or "-",
            info.commit[:7],
            info.trust.replace(" ", "-"),
            info.created_at.strftime("%Y-%m-%d %H:%M"),
            (info.data_md5 or "-")[:8],
            *("-" if info.metrics[m] is None else f"{info.metrics[m]:.4f}" for m in metric_names),
        ]
        for info in infos
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]
    ]
    return f"{name}\n" + "\n".join(line.rstrip() for line in lines)


# ------------------------------------------------------------------ commands
def add_registry_commands(commands: Any) -> None:
    """`register`, `promote`, `rollback` and `models` as subcommands of `census-income`."""
    register_ = commands.add_parser(
        "register", help="register the current commit as a model version (clean dvc status, gates passed)"
    )
    chosen = register_.add_mutually_exclusive_group()
    chosen.add_argument("--version", help="the version, vX.Y.Z (default: the next patch version)")
    chosen.add_argument("--bump", choices=BUMPS, help="bump the highest registered version")
    register_.add_argument("--push", action="store_true", help="push the tag to the git remote")

    promote_ = commands.add_parser("promote", help="put a registered version in a stage (staging, prod)")
    promote_.add_argument("version", help="a registered version, vX.Y.Z")
    promote_.add_argument("stage", help="the stage, e.g. prod")
    promote_.add_argument("--push", action="store_true", help="push the tags to the git remote")
    promote_.add_argument(
        "--force", action="store_true", help="promote a version not tagged by `register` (recorded in the stage tag)"
    )

    rollback_ = commands.add_parser("rollback", help="move a stage back to the version that held it before")
    rollback_.add_argument("--stage", default="prod")
    rollback_.add_argument("--push", action="store_true", help="push the tags to the git remote")

    commands.add_parser("models", help="list model versions: stage, commit, data version, headline metrics")


def registry_command(args: argparse.Namespace) -> int:
    """Run one registry subcommand in the current directory (the project root)."""
    root = Path.cwd()
    if args.command == "register":
        registered = register(root, version=args.version, bump=args.bump, push=args.push)
        name = model_artifact(root).model
        sys.stdout.write(f"registered {name}@{registered.version} at commit {registered.commit[:7]}\n")
        if args.push:
            sys.stdout.write(f"pushed to {remote_url(root)}\n")
    elif args.command == "promote":
        changes = promote(root, args.version, args.stage, push=args.push, force=args.force)
        sys.stdout.write("\n".join(changes) + "\n")
    elif args.command == "rollback":
        sys.stdout.write("\n".join(rollback(root, args.stage, push=args.push)) + "\n")
    else:
        sys.stdout.write(format_versions(model_artifact(root).model, describe(root)) + "\n")
    return 0
