"""The software environment the pipeline runs with, as a small deterministic record.

The `environment` stage writes the Python version and the versions of the key packages
(the project's direct dependencies in `uv.lock`, plus the numerical libraries they compute
with) after checking that the installed distributions are exactly the locked ones. The
record is therefore the same on every machine synced from the same `uv.lock` (no platform,
no Python micro version), so `dvc.lock` stays machine-independent; and because `train`
depends on it, a library upgrade changes its md5 in `dvc.lock` and retrains the model.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from census_income.errors import LockMismatchError, PipelineError

# numerical libraries the model's results depend on that pyproject.toml leaves to scikit-learn
ALSO_RECORDED = ("scipy",)


def normalise(name: str) -> str:
    """A distribution name as uv.lock writes it (PEP 503: lower case, runs of `-_.` as `-`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_uv_lock(text: str, source: str = "uv.lock") -> tuple[list[str], dict[str, set[str]]]:
    """The project's direct runtime dependencies and every locked version per package."""
    try:
        lock = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{source}: not valid TOML: {exc}") from None
    versions: dict[str, set[str]] = {}
    direct: list[str] = []
    for package in lock.get("package", []):
        name = normalise(str(package.get("name", "")))
        spec = package.get("source")
        if isinstance(spec, dict) and "." in (spec.get("editable"), spec.get("virtual")):
            direct = sorted(normalise(dep["name"]) for dep in package.get("dependencies", []))
        elif "version" in package:
            versions.setdefault(name, set()).add(str(package["version"]))
    if not direct:
        raise PipelineError(f"{source}: no project package (source = editable or virtual '.') with dependencies")
    return direct, versions


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_record(
    lock_text: str,
    installed: Callable[[str], str | None] = installed_version,
    python: tuple[int, int] | None = None,
    source: str = "uv.lock",
) -> dict[str, Any]:
    """`{"python": "3.11", "packages": {name: version}}` for the key packages, checked against uv.lock.

    Raises when an installed key package is missing or is not the locked version, so the
    record never claims versions that did not run.
    """
    direct, locked = parse_uv_lock(lock_text, source)
    names = sorted({*direct, *(normalise(n) for n in ALSO_RECORDED)})
    packages: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        pinned = locked.get(name, set())
        actual = installed(name)
        if not pinned:
            problems.append(f"{name} is not in {source}")
        elif actual is None:
            problems.append(f"{name} is not installed ({source}: {', '.join(sorted(pinned))})")
        elif actual not in pinned:
            problems.append(f"{name} {actual} is installed ({source}: {', '.join(sorted(pinned))})")
        else:
            packages[name] = actual
    if problems:
        raise LockMismatchError(
            f"the environment is not {source}: {'; '.join(problems)}; run `make setup` (uv sync --frozen)"
        )
    major, minor = python or (sys.version_info.major, sys.version_info.minor)
    return {"python": f"{major}.{minor}", "packages": packages}


def read_environment_record(lock_file: Path | str) -> dict[str, Any]:
    """The record for the environment this process runs in, from a `uv.lock` file."""
    path = Path(lock_file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (the environment is recorded from the lock file)") from None
    return environment_record(text, source=str(path))


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Where a recorded environment and this process's differ, one phrase each."""
    found = []
    if recorded.get("python") != current.get("python"):
        found.append(f"python {current.get('python')} (recorded {recorded.get('python')})")
    old, new = recorded.get("packages", {}), current.get("packages", {})
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            found.append(f"{name} {new.get(name, 'not installed')} (recorded {old.get(name, 'none')})")
    return found


def current_environment(names: list[str]) -> dict[str, Any]:
    """This process's Python (major.minor) and installed versions of `names` (no checks)."""
    packages = {name: version for name in names if (version := installed_version(name)) is not None}
    return {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "packages": packages}
