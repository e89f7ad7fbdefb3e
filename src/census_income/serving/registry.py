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
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import yaml

from census_income.errors import InputError, PipelineError, RegistryError
from census_income.io import load_model, load_model_bytes
from census_income.paths import GATE_SUMMARIES_DIR, LOCK_FILE
from census_income.repo.lineage import recorded_md5

DVC_FILE = Path("dvc.yaml")
# the figures `census-income models` shows for each version: split -> metrics
HEADLINE_SPLIT = "test"
HEADLINE_METRICS = ("roc_auc", "error_rate")
VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
BUMPS = ("major", "minor", "patch")
COMMANDS = ("register", "promote", "rollback", "models")


# ------------------------------------------------------------------ reading a revision
def git(root: Path, *args: str) -> str:
    """Output of a git command in the project; its first error line as a `RegistryError`."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()[0]
        raise RegistryError(f"git {' '.join(args)}: {message}")
    return result.stdout


def text_at(root: Path, rev: str | None, path: Path | str) -> str:
    """A git-tracked file as committed at `rev`, or as in the workspace when `rev` is None."""
    if rev is None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RegistryError(f"{path}: not found in {root}") from None
    return git(root, "show", f"{rev}:{Path(path).as_posix()}")


def yaml_at(root: Path, rev: str | None, path: Path | str) -> dict[str, Any]:
    """A YAML mapping (dvc.yaml, dvc.lock, params.yaml) at a revision or in the workspace."""
    loaded = yaml.safe_load(text_at(root, rev, path)) or {}
    if not isinstance(loaded, dict):
        raise RegistryError(f"{path}{f' at {rev[:7]}' if rev else ''}: expected a mapping")
    return loaded


@dataclass(frozen=True)
class Declared:
    """The artifacts `dvc.yaml` declares: the model (type `model`) and its data set (`dataset`)."""

    model: str
    model_path: str
    data: str | None = None
    data_path: str | None = None


def declared(dvc_yaml: dict[str, Any]) -> Declared:
    """The model and data set artifacts of a `dvc.yaml` mapping (one model is required)."""
    artifacts = dvc_yaml.get("artifacts") or {}
    models = [(name, spec["path"]) for name, spec in artifacts.items() if spec.get("type") == "model"]
    if len(models) != 1:
        raise RegistryError(f"{DVC_FILE}: expected one artifact of type model under `artifacts:`, found {len(models)}")
    data = [(name, spec["path"]) for name, spec in artifacts.items() if spec.get("type") == "dataset"]
    return Declared(models[0][0], models[0][1], *(data[0] if data else (None, None)))


@contextlib.contextmanager
def open_output(root: Path, rev: str | None, path: str) -> Iterator[IO[bytes]]:
    """A DVC output's bytes at a revision (from the DVC cache, or the default remote)."""
    if rev is None:
        try:
            with (root / path).open("rb") as handle:
                yield handle
        except FileNotFoundError:
            raise RegistryError(f"{path}: not found (run `dvc pull` or `dvc repro`)") from None
        return
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        with dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as handle:
            yield handle
    except DvcException as exc:
        raise RegistryError(
            f"{path} at {rev[:7]}: not in the DVC cache or remote ({type(exc).__name__}); "
            f"run `dvc fetch --rev {rev[:7]}` or `dvc pull`"
        ) from None


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


def model_artifact(root: Path) -> Declared:
    """The artifacts declared in the workspace's dvc.yaml."""
    return declared(yaml_at(root, None, DVC_FILE))


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


# ---------------------------------------------------------------------- registering
def uncommitted(root: Path) -> list[str]:
    """Tracked files with changes git has not committed."""
    return [line[3:] for line in git(root, "status", "--porcelain", "--untracked-files=no").splitlines() if line]


def dvc_changes(root: Path) -> list[str]:
    """What `dvc status` reports: stages whose recorded deps, params or outputs changed."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        status = repo.status()
    return sorted(str(stage) for stage in status)


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


def tag_message(root: Path, tag: str) -> str:
    """The message of an annotated tag ('' for a lightweight one or none)."""
    return git(root, "for-each-ref", "--format=%(contents)", f"refs/tags/{tag}").strip()


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


def register(root: Path, version: str | None = None, bump: str | None = None, push: bool = False) -> Version:
    """Register the current commit as a new version of the model: refused unless the commit is
    exactly what DVC reproduced and the model's quality gates passed."""
    from gto import api
    from gto.exceptions import GTOException

    art = model_artifact(root)
    changed = uncommitted(root)
    if changed:
        raise RegistryError(
            f"register: uncommitted changes ({', '.join(changed[:5])}); a version is a commit: commit them first"
        )
    stale = dvc_changes(root)
    if stale:
        raise RegistryError(
            f"register: `dvc status` is not clean ({', '.join(stale[:5])}): run `dvc repro` and commit dvc.lock"
        )
    head = git(root, "rev-parse", "HEAD").strip()
    failed = quality_failures(root, head)
    if failed:
        raise RegistryError(f"register: the model-quality gate did not pass ({', '.join(failed)})")
    if push:
        remote_url(root)
    try:
        event = api.register(
            str(root),
            art.model,
            head,
            version=version,
            message=f"{REGISTERED_BY}: quality gates passed and dvc status clean at {head}",
            bump_major=bump == "major",
            bump_minor=bump == "minor",
            bump_patch=bump == "patch",
            push=push,
        )
    except GTOException as exc:
        raise RegistryError(f"register: {exc}") from None
    return Version(version=event.version, commit=event.commit_hexsha, created_at=event.created_at)


# ------------------------------------------------------------------ stages
def holders(root: Path, stage: str) -> list[str]:
    """Versions that hold `stage`, highest first (one, when stages are moved by `promote`)."""
    return [v.version for v in versions(root) if stage in v.stages]


def promote(root: Path, version: str, stage: str, push: bool = False, force: bool = False) -> list[str]:
    """Put `version` in `stage` and take the stage from any other version; what changed, in words.
    Only a trusted version (see `check_trusted`); `force` lets an unverified one in, on record."""
    from gto import api
    from gto.exceptions import GTOException

    art = model_artifact(root)
    allowed = stages(root)
    if allowed and stage not in allowed:
        raise RegistryError(f"promote: unknown stage {stage} (allowed: {', '.join(allowed)}; see .gto)")
    found = [v for v in versions(root) if v.version == version]
    if not found:
        raise RegistryError(f"promote: {art.model}@{version} is not registered")
    reason = check_trusted(root, art.model, version, found[0].commit, force=force)
    current = holders(root, stage)
    if current == [version]:
        return [f"{art.model} {version} is already in {stage}"]
    if push:
        remote_url(root)
    _after_last_tag(root, art.model)
    changes = []
    message = f"{FORCED_BY} {version}: {reason}" if reason else None
    try:
        for other in current:
            if other != version:
                api.unassign(str(root), art.model, version=other, stage=stage, push=push)
                changes.append(f"{stage}: unassigned from {other}")
        if version not in current:
            api.assign(str(root), art.model, stage, version=version, message=message, push=push)
            changes.append(f"{stage}: assigned to {version}" + (f" (forced: {reason})" if reason else ""))
    except GTOException as exc:
        raise RegistryError(f"promote: {exc}") from None
    if push:
        changes.append(f"pushed to {remote_url(root)}")
    return changes


def remote_url(root: Path, remote: str = "origin") -> str:
    """`origin (<url>)`: the git remote that `--push` pushes tags to (GTO pushes to origin)."""
    try:
        url = git(root, "remote", "get-url", remote).strip()
    except RegistryError:
        raise RegistryError(f"--push: no git remote `{remote}` to push the tags to") from None
    return f"{remote} ({url})"


def previous_holder(root: Path, stage: str, current: str) -> str:
    """The version that held `stage` before `current` got it; if none did, the highest
    registered version below `current`."""
    from gto import api
    from gto.versions import SemVer

    art = model_artifact(root)
    registered = [v.version for v in versions(root)]
    # assignment tags are numbered per artifact (`name#stage#N`): order by that number, not by
    # tag time, which has a resolution of one second
    assigned: list[tuple[int, str]] = sorted(
        (int(event["ref"].rsplit("#", 1)[1]), str(event["version"]))
        for event in api.history(str(root), artifact=art.model)
        if event["event"] == "assignment" and event["stage"] == stage
    )
    since = max((n for n, v in assigned if v == current), default=None)
    earlier = [v for n, v in assigned if (since is None or n < since) and v != current and v in registered]
    if earlier:
        return earlier[-1]
    lower = [v for v in registered if SemVer(v) < SemVer(current)]
    if not lower:
        raise RegistryError(f"rollback: no version of {art.model} before {current} to roll {stage} back to")
    return str(max(lower, key=SemVer))


def rollback(root: Path, stage: str = "prod", push: bool = False) -> list[str]:
    """Move `stage` back to the version that held it before (or the version below)."""
    art = model_artifact(root)
    current = holders(root, stage)
    if not current:
        raise RegistryError(f"rollback: no version of {art.model} is in {stage}")
    target = previous_holder(root, stage, current[0])
    return [f"{stage}: {current[0]} -> {target}", *promote(root, target, stage, push=push)]


def _after_last_tag(root: Path, name: str) -> None:
    """Wait until the clock is past the newest tag of `name`: GTO orders a version's stage
    events by tag time (whole seconds), so two events of one version within a second tie."""
    newest = git(
        root, "for-each-ref", "--sort=-taggerdate", "--count=1", "--format=%(taggerdate:unix)", f"refs/tags/{name}*"
    ).strip()
    if newest:
        wait = int(newest) + 1 - time.time()
        if wait > 0:
            time.sleep(wait)


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


def trust(root: Path, name: str, entry: Version) -> str:
    """`verified`, `unverified` (not tagged by `census-income register`) or `gate failed`."""
    if quality_failures(root, entry.commit):
        return "gate failed"
    return "unverified" if unverified(root, name, entry.version) else "verified"


def _headline(root: Path, commit: str, dvc_yaml: dict[str, Any]) -> dict[str, float | None]:
    """The headline metrics of a revision, from the first metrics file dvc.yaml declares."""
    files = [m if isinstance(m, str) else next(iter(m)) for m in dvc_yaml.get("metrics") or []]
    values: dict[str, Any] = {}
    if files:
        with contextlib.suppress(RegistryError, json.JSONDecodeError), open_output(root, commit, files[0]) as handle:
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
