"""`census-income sweep`, `exps` and `exp-branch`: their options, and printing what they return."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from census_income.errors import ExperimentError, SweepTimeoutError
from census_income.experiments.exp_branch import exp_branch
from census_income.experiments.grid import Sweep, default_grid, queue_command
from census_income.experiments.queue import POLL_SECONDS, Dvc, SweepResult, run_sweep, sweep_environment
from census_income.experiments.table import SHOWN_ROWS, below_bar, format_table, rank
from census_income.modeling.metrics import RANK_METRIC, lower_is_better
from census_income.paths import given_path


def add_sweep(commands: Any) -> None:
    """`census-income sweep`: queue experiments, run them in parallel, rank them on validation."""
    parser = commands.add_parser("sweep", help="queue experiments, run them in parallel, rank them on validation")
    parser.add_argument(
        "-S",
        "--set-param",
        dest="overrides",
        action="append",
        default=[],
        metavar="OVERRIDE",
        help="Hydra override, `key=a,b` sweeps; without any, the default grid runs",
    )
    parser.add_argument("-n", "--name", default="exp", help="name of an -S sweep (after the label: sweep1-exp-1, ...)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel queue workers")
    parser.add_argument("--label", help="prefix of the experiment names (default: the first free sweep1, sweep2, ...)")
    parser.add_argument("--sort-by", default=RANK_METRIC, help="metric to rank on; a validation metric")
    parser.add_argument(
        "--poll", type=float, default=POLL_SECONDS, help="seconds between status checks (each about 0.02 s of CPU)"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after this many seconds")
    parser.add_argument("--keep-failed", action="store_true", help="leave failed tasks in `dvc queue status`")
    parser.add_argument("--plots", type=given_path, help="also write `dvc plots diff` of the results to this folder")
    parser.add_argument("--dry-run", action="store_true", help="print the dvc commands and stop")
    parser.set_defaults(handler=sweep_command)


def sweep_command(args: argparse.Namespace) -> None:
    """The default grid, or one sweep of -S overrides; the failed experiments' logs and the ranked
    table when it is done. Failed experiments are an `ExperimentError`, a timeout a `SweepTimeoutError`."""
    sweeps = [Sweep(args.name, tuple(args.overrides))] if args.overrides else default_grid()
    if args.dry_run:
        label = args.label or "sweep<n>"
        for sweep in sweeps:
            sys.stdout.write(" ".join(["dvc", *(shlex.quote(arg) for arg in queue_command(sweep, label))]) + "\n")
        sys.stdout.write(f"dvc queue start -j {args.jobs}\n")
        return
    result = run_sweep(
        sweeps,
        out=sys.stdout,
        jobs=args.jobs,
        label=args.label,
        rank_by=args.sort_by,
        poll_seconds=args.poll,
        timeout_seconds=args.timeout,
        keep_failed=args.keep_failed,
        plots=args.plots,
    )
    sys.stdout.write(format_sweep(result, args.sort_by))
    sys.stdout.flush()
    total = len(result.names) + len(result.queue_errors)
    if not result.finished:
        raise SweepTimeoutError(f"gave up waiting after {result.elapsed}; the unfinished experiments keep running")
    lost = [*result.failed, *(error.split(":", 1)[0] for error in result.queue_errors)]
    if lost:
        raise ExperimentError(f"{len(lost)} of {total} experiments failed or were not queued: {', '.join(lost)}")


def format_sweep(result: SweepResult, key: str) -> str:
    """The failed experiments' logs, the ranked table, the best experiment and the count."""
    lines = []
    for name, log in result.failed.items():
        lines += ["", f"--- {name} failed; last lines of `dvc queue logs {name}`:", log]
    lines += ["", f"{ranking(key)}; test is for reporting only)"]
    lines.append(format_table([*result.experiments, *result.baselines], key))
    best = next((exp for exp in rank(result.experiments, key) if exp.state == "success"), None)
    baseline = next(iter(rank(result.baselines, key)), None)
    if best is not None and baseline is not None and rank([best, baseline], key)[0] is not best:
        lines += ["", f"no experiment beats {baseline.name} on {key} (the best: {best.name}); nothing to promote"]
    elif best is not None:
        weak = " (below the quality bar: register and promote will refuse it)" if below_bar(best) else ""
        lines += ["", f"best: {best.name}{weak}; promote it with `census-income exp-branch <branch> --exp {best.name}`"]
    if result.plots:
        lines.append(result.plots)
    total = len(result.names) + len(result.queue_errors)
    lines.append(f"{len(result.succeeded)} of {total} experiments succeeded in {result.elapsed}")
    return "\n".join(lines) + "\n"


def ranking(key: str) -> str:
    """`ranked on <key> (lower is better` (the caller closes the parenthesis)."""
    return f"ranked on {key} ({'lower' if lower_is_better(key) else 'higher'} is better"


def add_exps(commands: Any) -> None:
    """`census-income exps`: every experiment of `dvc exp show`, ranked, with its noise band and state."""
    parser = commands.add_parser("exps", help="the experiments ranked on validation: noise band, state, quality bar")
    parser.add_argument("--sort-by", default=RANK_METRIC, help="metric to rank on; a validation metric")
    parser.add_argument("--all", action="store_true", help=f"every experiment (default: the first {SHOWN_ROWS})")
    parser.set_defaults(handler=exps_command)


def exps_command(args: argparse.Namespace) -> None:
    """Print the ranked table of this project's experiments."""
    experiments = Dvc(Path(), sweep_environment(1)).experiments()
    if experiments is None:
        raise ExperimentError("`dvc exp show --json` failed; run it to see why")
    sys.stdout.write(
        f"{ranking(args.sort_by)}; test is for reporting only; "
        "within noise: inside 2 standard errors of the difference)\n"
    )
    sys.stdout.write(format_table(experiments, args.sort_by, rows_shown=None if args.all else SHOWN_ROWS) + "\n")


def add_exp_branch(commands: Any) -> None:
    """`census-income exp-branch BRANCH [--exp NAME] [--preset NAME]`."""
    parser = commands.add_parser(
        "exp-branch", help="an experiment (default: the best) as a branch with its overrides in conf/, committed"
    )
    parser.add_argument("branch", help="the git branch to create")
    parser.add_argument("--exp", help=f"the experiment (default: the best of this commit's on {RANK_METRIC})")
    parser.add_argument("--preset", help="name of the preset in conf/experiment/ (default: the branch's)")
    parser.set_defaults(handler=exp_branch_command)


def exp_branch_command(args: argparse.Namespace) -> None:
    """Print what was done and what to run next."""
    sys.stdout.write(exp_branch(args.branch, args.exp, args.preset) + "\n")
