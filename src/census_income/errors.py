"""Errors a user can act on: the stage harness and the CLI print them as one line and exit non-zero."""


class PipelineError(Exception):
    """Something wrong with the input or the configuration, said in one line."""

    # the CLI's exit status: 1 for a failure, 2 for bad usage or input (InputError)
    exit_code = 1


class InputError(PipelineError):
    """Bad usage or bad input (an argument, a file to read, an output name); exit status 2."""

    exit_code = 2


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
