"""Errors a user can act on, all of them: the stage harness and the CLI print them as one line.

Which exit status each one gives is decided in one place, the CLI (`census_income.cli.EXIT_CODES`).
"""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Something wrong with the input, the configuration or the project, said in one line."""


class InputError(PipelineError):
    """Bad usage or bad input (an argument, a file to read, an output name)."""


class ConfigError(InputError):
    """`params.yaml` does not validate; the message names the key."""


class SourceError(InputError):
    """A source is missing, unreadable or cannot be parsed; the message names it."""


class GitError(PipelineError):
    """A git command failed; the message names the command and git's own first line."""


class DvcError(PipelineError):
    """A `dvc` command failed; the message names the command and DVC's own error line."""


class GateError(PipelineError):
    """A data contract failed; the message is the short report."""


class StaleLockError(PipelineError):
    """`dvc.lock` or `params.yaml` does not match the code, `conf/` or the data; says what to run."""


class LockMismatchError(PipelineError):
    """The installed packages are not the ones `uv.lock` pins; the message lists them."""


class RegistryError(PipelineError):
    """A registry operation cannot be done as asked; the message says why."""


class RequestError(InputError):
    """An HTTP request `census-income serve` cannot score: its status, a one-line detail, the
    row-level failures, and the version it was routed to (once it was)."""

    def __init__(self, detail: str, status: int = 400, errors: list[Any] | None = None, version: str = "-") -> None:
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.version = version
        super().__init__(detail)

    def body(self) -> dict[str, Any]:
        """The JSON answer: the detail, and each failure's row, field, value and reason."""
        answer: dict[str, Any] = {"detail": self.detail}
        if self.errors:
            answer["errors"] = [
                {"row": f.row, "field": f.field, "value": f.value, "reason": f.reason} for f in self.errors
            ]
        return answer


class ExperimentError(PipelineError):
    """An experiment could not be queued, run or found; the message names it."""


class SweepTimeoutError(ExperimentError):
    """A sweep gave up waiting; its experiments keep running in DVC's queue."""
