"""Writing the registry: `register` a commit as a version, `promote` a version to a stage, `rollback` a stage.

The tags are written by `gto` itself (GTO's format), so `gto show`, `dvc artifacts get` and
other tools that read GTO tags see the same registry.
"""

from __future__ import annotations

import time
from pathlib import Path

from census_income.errors import GitError, RegistryError
from census_income.repo.artifacts import model_artifact
from census_income.repo.dvc import Dvc
from census_income.repo.git import git, head, uncommitted
from census_income.serving.trust import FORCED_BY, REGISTERED_BY, check_trusted, quality_failures
from census_income.serving.versions import Version, holders, stages, versions

BUMPS = ("major", "minor", "patch")


def dvc_changes(root: Path) -> list[str]:
    """What `dvc status` reports: stages whose recorded deps, params or outputs changed."""
    return sorted(Dvc(root).status())


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
    commit = head(root)
    failed = quality_failures(root, commit)
    if failed:
        raise RegistryError(f"register: the model-quality gate did not pass ({', '.join(failed)})")
    if push:
        remote_url(root)
    try:
        event = api.register(
            str(root),
            art.model,
            commit,
            version=version,
            message=f"{REGISTERED_BY}: quality gates passed and dvc status clean at {commit}",
            bump_major=bump == "major",
            bump_minor=bump == "minor",
            bump_patch=bump == "patch",
            push=push,
        )
    except GTOException as exc:
        raise RegistryError(f"register: {exc}") from None
    return Version(version=event.version, commit=event.commit_hexsha, created_at=event.created_at)


# ------------------------------------------------------------------ stages
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
    except GitError:  # no such remote: the one answer git gives that we expect
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
