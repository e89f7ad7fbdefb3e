"""Errors a user can act on: the stage harness prints them as one line and exits non-zero."""


class PipelineError(Exception):
    """Something wrong with the input or the configuration, said in one line."""


class ConfigError(PipelineError):
    """`params.yaml` does not validate; the message names the key."""


class SourceError(PipelineError):
    """A source is missing, unreadable or cannot be parsed; the message names it."""


class GateError(PipelineError):
    """A data contract failed; the message is the short report."""
