"""`Project`: one handle on a temporary copy of the project for the end-to-end tests.

What the tests used to copy from module to module (run a command, read `dvc.lock` at a
revision, edit params, commit, compare the outputs on disk with the lock) is written once here.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import run


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str] | None = None  # None: `project_env` of the copy

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command in the copy; on an unexpected exit the test fails with its output."""
        return run(list(args), self.root, check=check, env=self.env)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("dvc", *args, check=check)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`census-income <args>` with the copy's own code."""
        return self.run(sys.executable, "-m", "census_income.cli", *args, check=check)

    def lock(self, rev: str | None = None) -> dict[str, Any]:
        """The stages of `dvc.lock`, in the workspace or at a git revision."""
        if rev is None:
            text = (self.root / "dvc.lock").read_text()
        else:
            text = self.run("git", "show", f"{rev}:dvc.lock").stdout
        stages: dict[str, Any] = yaml.safe_load(text)["stages"]
        return stages

    def outs(self, rev: str | None = None) -> dict[str, str]:
        """`out path -> md5` for every output `dvc.lock` records."""
        return {out["path"]: out["md5"] for stage in self.lock(rev).values() for out in stage.get("outs", [])}

    def params(self) -> dict[str, Any]:
        """params.yaml with the data set's description (the file `data.spec` names) under `data`."""
        loaded: dict[str, Any] = yaml.safe_load((self.root / "params.yaml").read_text(encoding="utf-8"))
        loaded["data"].update(yaml.safe_load((self.root / loaded["data"]["spec"]).read_text(encoding="utf-8")))
        return loaded

    def set_param(self, old: str, new: str) -> None:
        """Replace the one line of params.yaml holding `old` (what a user edits by hand)."""
        path = self.root / "params.yaml"
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new), encoding="utf-8")

    def edit_params(self, changes: dict[str, Any]) -> None:
        """Set dotted keys in params.yaml."""
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            node = params
            for key in parents:
                node = node[key]
            node[last] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str) -> str:
        """Commit everything (empty when nothing changed); the new revision."""
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "--allow-empty", "-m", message)
        return self.run("git", "rev-parse", "HEAD").stdout.strip()

    def mismatches(self, skip: tuple[str, ...] = ()) -> list[str]:
        """Outputs whose bytes on disk differ from what dvc.lock records (directories file by
        file, through their `.dir` listing in the cache)."""
        wrong = []
        for path, recorded in self.outs().items():
            if path in skip:
                continue
            target = self.root / path
            if not recorded.endswith(".dir"):
                if not target.is_file() or md5(target) != recorded:
                    wrong.append(path)
                continue
            listing = self.root / ".dvc/cache/files/md5" / recorded[:2] / recorded[2:]
            expected = {entry["relpath"]: entry["md5"] for entry in json.loads(listing.read_text())}
            found = {p.relative_to(target).as_posix(): md5(p) for p in target.rglob("*") if p.is_file()}
            if found != expected:
                wrong.append(path)
        return wrong
