"""The `census-income` command: argument parsing and printing only.

Each area's module (`experiments`, `project`, `reports`) adds its subcommands and their
handlers; the work is done by the domain modules, which return data and raise the errors of
`census_income.errors`. This module turns an error into one line and its exit status, through
`EXIT_CODES`, the one mapping from error class to exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from census_income.cli import experiments, project, reports
from census_income.errors import InputError, PipelineError, SweepTimeoutError
from census_income.paths import project_root
from census_income.serving.predict import add_predict_arguments, predict_command
from census_income.serving.registry import COMMANDS as REGISTRY_COMMANDS
from census_income.serving.registry import add_registry_commands, registry_command
from census_income.serving.serve import add_serve_arguments, serve_command

DESCRIPTION = "`census-income`: the project's commands beside `dvc` (compose params, show runs, run sweeps)."
# set to any value, operating-system errors end in their traceback instead of one line
DEBUG_VARIABLE = "CENSUS_INCOME_DEBUG"
# the exit status of each error a command can end with; the first class that matches wins
EXIT_CODES: dict[type[Exception], int] = {
    SweepTimeoutError: 2,  # the sweep gave up waiting; its experiments keep running
    InputError: 2,  # bad usage or bad input
    PipelineError: 1,  # a failure: a gate, a stale lock, a failed experiment, ...
    OSError: 1,  # disk full, permissions, a directory where a file should be
}

INTERRUPTED_STATUS = 130  # 128 + SIGINT
# what goes on after Ctrl-C, per command
INTERRUPTED = {
    "sweep": "; its queued experiments keep running (`dvc queue status`; `dvc queue stop --kill` stops them)"
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `census-income` console script."""
    args = parser().parse_args(argv)  # (paths given are made relative to the root: `paths.given_path`)
    root = project_root(Path.cwd())
    if root is not None:
        os.chdir(root)  # from a subfolder, as `dvc` does: every project file is the root's
    try:
        return int(args.handler(args) or 0)
    except tuple(EXIT_CODES) as exc:
        if isinstance(exc, OSError) and os.environ.get(DEBUG_VARIABLE):
            raise
        sys.stderr.write(f"census-income {args.command}: {message(exc)}\n")
        return exit_code(exc)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT (nothing half-written stays)
        sys.stderr.write(f"census-income {args.command}: interrupted{INTERRUPTED.get(args.command, '')}\n")
        return INTERRUPTED_STATUS


def parser() -> argparse.ArgumentParser:
    """Every subcommand, each with its `handler` (returns the exit status, or None for 0)."""
    parser = argparse.ArgumentParser(prog="census-income", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    project.add_params(commands)
    reports.add_runs(commands)
    experiments.add_sweep(commands)
    experiments.add_exp_branch(commands)
    experiments.add_exps(commands)
    project.add_gates(commands)
    project.add_check_quality(commands)
    add_registry_commands(commands)
    for name in REGISTRY_COMMANDS:
        commands.choices[name].set_defaults(handler=registry_command)
    predict = commands.add_parser("predict", help="score raw rows with a model version (gated, drift, shadow)")
    add_predict_arguments(predict)
    predict.set_defaults(handler=predict_command)
    serve = commands.add_parser("serve", help="serve a model version over HTTP (canary, shadow, reload on promote)")
    add_serve_arguments(serve)
    serve.set_defaults(handler=serve_command)
    reports.add_report(commands)
    project.add_check_lock(commands)
    reports.add_lineage(commands)
    project.add_data(commands)
    return parser


def exit_code(exc: Exception) -> int:
    """The exit status `EXIT_CODES` gives this error."""
    return next(code for kind, code in EXIT_CODES.items() if isinstance(exc, kind))


def message(exc: Exception) -> str:
    """The error's own message; an operating-system error by its reason and file."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    if isinstance(exc, OSError):
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return str(exc)
