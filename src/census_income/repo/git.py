"""One way to ask git: every git question the project asks goes through `git`, and fails one way.

A failed command raises `GitError` with the command and git's first line of error. Callers for
whom a missing answer is legitimate (no such tag, not a git repository) catch it and say so.
The environment is fixed, so the answers do not depend on the user's locale, pager or
credentials helper: messages are git's English ones, nothing waits for a password, and
read-only commands take no index lock (a `dvc exp` worker may be writing it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from census_income.errors import GitError, PipelineError

FIXED_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"}


def git(root: Path, *args: str) -> str:
    """The standard output of `git <args>` run in `root`; `GitError` when git fails."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            env={**os.environ, **FIXED_ENV},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:  # no git executable, or `root` does not exist
        raise GitError(f"git {' '.join(args)}: {exc.strerror}: {exc.filename}") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()
        raise GitError(f"git {' '.join(args)}: {lines[0]}")
    return done.stdout


def head(root: Path, short: bool = False) -> str:
    """The commit checked out in `root`."""
    return git(root, "rev-parse", *(["--short"] if short else []), "HEAD").strip()


def commit_of(root: Path, rev: str, short: bool = False) -> str:
    """The commit a revision (branch, tag, hash) names."""
    return git(root, "rev-parse", *(["--short"] if short else []), "--verify", f"{rev}^{{commit}}").strip()


def uncommitted(root: Path, paths: tuple[Path | str, ...] = ()) -> list[str]:
    """Files whose content differs from the last commit: of `paths` (untracked ones too: never
    committed), or every tracked file (a build leaves untracked files around)."""
    names = [Path(path).as_posix() for path in paths]
    untracked = "--untracked-files=all" if names else "--untracked-files=no"
    listed = git(root, "status", "--porcelain", untracked, "--", *names)
    return [line[3:] for line in listed.splitlines() if line.strip()]


def text_at(root: Path, rev: str | None, path: Path | str) -> str:
    """A git-tracked file as committed at `rev`, or as in the workspace when `rev` is None."""
    if rev is None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PipelineError(f"{path}: not found in {root}") from None
    return git(root, "show", f"{rev}:{Path(path).as_posix()}")


def yaml_at(root: Path, rev: str | None, path: Path | str) -> dict[str, Any]:
    """A YAML mapping (dvc.yaml, dvc.lock, params.yaml) at a revision or in the workspace."""
    loaded = yaml.safe_load(text_at(root, rev, path)) or {}
    if not isinstance(loaded, dict):
        raise PipelineError(f"{path}{f' at {rev[:7]}' if rev else ''}: expected a mapping")
    return loaded


def tag_message(root: Path, tag: str) -> str:
    """The message of an annotated tag; '' for a lightweight tag (whose `contents` would be its
    commit's message, which anyone can write) or no such tag."""
    kind, _, message = git(root, "for-each-ref", "--format=%(objecttype)%00%(contents)", f"refs/tags/{tag}").partition(
        "\0"
    )
    return message.strip() if kind == "tag" else ""
