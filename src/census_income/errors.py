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


class GateError(PipelineError):
    """A data contract failed; the message is the short report."""


class StaleLockError(PipelineError):
    """`dvc.lock` or `params.yaml` does not match the code, `conf/` or the data; says what to run."""


class LockMismatchError(PipelineError):
    """The installed packages are not the ones `uv.lock` pins; the message lists them."""


class RegistryError(PipelineError):
    """A registry operation cannot be done as asked; the message says why."""


class RowsError(InputError):
    """Rows to score that fail the input contract, refused together: each failure (a
    `contracts.rows.Failure`) names its row, field, value and reason; `whole` lists what failed
    for the table (its columns), when no row can be blamed."""

    def __init__(self, failures: list[Any], rows: int, whole: list[str] | None = None) -> None:
        self.failures = failures
        self.whole = whole or []
        if self.whole:
            message = f"the rows do not have the data set's columns ({', '.join(self.whole)}); nothing scored"
        else:
            message = f"{len({f.row for f in failures})} of {rows} rows refused by the input contract; nothing scored"
        super().__init__(message)


class RequestError(InputError):
    """An HTTP request `census-income serve` cannot score: its status, a one-line detail, the
    row-level failures, and the version it was routed to (once it was)."""

    def __init__(self, status: int, detail: str, errors: list[Any] | None = None, version: str = "-") -> None:
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
