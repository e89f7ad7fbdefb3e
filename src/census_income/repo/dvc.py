"""One way to run DVC: the real `dvc` CLI of this interpreter, in one project with one environment.

`Dvc(project)(*args)` gives the finished process, for callers that read its exit status (the
experiment queue); `Dvc(project).run(*args)` gives its output and raises `DvcError` naming the
command and DVC's error line. Reading a DVC output at a git revision (`open_output`) is here too,
so a question about DVC has one answer in the project.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from census_income.errors import DvcError


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with this Python first on PATH: stages run
    `python -m ...` from PATH, and must find this environment's."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def error_line(output: str, returncode: int) -> str:
    """DVC's own error line (`ERROR: ...`) from its output, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or [f"exit status {returncode}"])[0 if errors else -1]


class Dvc:
    """Runs the real `dvc` CLI in one project with one environment."""

    def __init__(self, project: Path = Path(), env: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.env = environment() if env is None else dict(env)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `dvc <args>` and return the finished process, whatever its exit status.

        Output goes through files, not pipes: `dvc queue start` leaves worker daemons behind that
        inherit its stdout/stderr, and waiting for the end of a pipe would wait for the workers.
        """
        with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
            result = subprocess.run(
                [sys.executable, "-m", "dvc", *args],
                cwd=self.project,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                text=True,
                check=False,
            )
            stdout.seek(0)
            stderr.seek(0)
            return subprocess.CompletedProcess(result.args, result.returncode, stdout.read(), stderr.read())

    def run(self, *args: str) -> str:
        """The standard output of `dvc <args>`; `DvcError` when it fails."""
        done = self(*args)
        if done.returncode != 0:
            raise DvcError(f"dvc {' '.join(args)}: {error_line(done.stderr + done.stdout, done.returncode)}")
        return done.stdout

    def json(self, *args: str) -> Any:
        """The JSON that `dvc <args>` prints (pass `--json`); `DvcError` when it prints none."""
        text = self.run(*args)
        try:
            return json.loads(text or "null")
        except json.JSONDecodeError as exc:
            raise DvcError(f"dvc {' '.join(args)}: not JSON ({exc.msg}): {text[:80]!r}") from None

    def status(self) -> dict[str, Any]:
        """`dvc status --json` of the whole pipeline: stage -> what changed (empty: up to date)."""
        found = self.json("status", "--json") or {}
        if not isinstance(found, dict):
            raise DvcError(f"dvc status --json: expected a mapping, got {type(found).__name__}")
        return found


@contextlib.contextmanager
def open_output(root: Path, rev: str | None, path: str) -> Iterator[IO[bytes]]:
    """A DVC output's bytes at a git revision (from the DVC cache, or the default remote), or in
    the workspace when `rev` is None."""
    if rev is None:
        try:
            with (root / path).open("rb") as handle:
                yield handle
        except FileNotFoundError:
            raise DvcError(f"{path}: not found (run `dvc pull` or `dvc repro`)") from None
        return
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        with dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as handle:
            yield handle
    except DvcException as exc:
        raise DvcError(
            f"{path} at {rev[:7]}: not in the DVC cache or remote ({type(exc).__name__}); "
            f"run `dvc fetch --rev {rev[:7]}` or `dvc pull`"
        ) from None
