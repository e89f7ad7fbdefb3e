"""`census-income`: the project's commands beside `dvc` (compose params, show runs, run sweeps)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from census_income.errors import PipelineError
from census_income.experiments.exp_branch import add_exp_branch_arguments, exp_branch_command
from census_income.experiments.sweep import add_exps_arguments, add_sweep_arguments, exps_command, sweep_command
from census_income.paths import CONF_DIR, PARAMS_FILE, log_file
from census_income.reporting.lineage_report import add_lineage_arguments, lineage_command
from census_income.reporting.report import add_report_arguments, report_command
from census_income.serving.predict import add_predict_arguments, predict_command
from census_income.serving.registry import COMMANDS as REGISTRY_COMMANDS
from census_income.serving.registry import add_registry_commands, registry_command

# set to any value, errors end in their traceback instead of one line
DEBUG_VARIABLE = "CENSUS_INCOME_DEBUG"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `census-income` console script."""
    parser = argparse.ArgumentParser(prog="census-income", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    params = commands.add_parser(
        "params", help="compose conf/ into params.yaml; with overrides, print the composition (a preview)"
    )
    params.add_argument("overrides", nargs="*", help="Hydra overrides to preview, e.g. model=random_forest")
    params.add_argument("-o", "--output", type=Path, help=f"default: {PARAMS_FILE}, or stdout with overrides")
    params.add_argument("--conf", type=Path, default=CONF_DIR)

    runs = commands.add_parser("runs", help="show the last stage runs from the run log")
    runs.add_argument("-n", "--last", type=int, default=20)

    sweep = commands.add_parser("sweep", help="queue experiments, run them in parallel, rank them on validation")
    add_sweep_arguments(sweep)
    branch = commands.add_parser(
        "exp-branch", help="an experiment (default: the best) as a branch with its overrides in conf/, committed"
    )
    add_exp_branch_arguments(branch)

    exps = commands.add_parser("exps", help="the experiments ranked on validation: noise band, state, quality bar")
    add_exps_arguments(exps)
    commands.add_parser("gates", help="each stage's gate outcome from reports/gates/ (passed / evaluated)")
    commands.add_parser("check-quality", help="fail when the workspace's model is below the quality bar (CI on main)")

    add_registry_commands(commands)
    predict = commands.add_parser("predict", help="score raw rows with a model version (gated, drift, shadow)")
    add_predict_arguments(predict)

    report = commands.add_parser("report", help="the pull-request report against a base revision (reports/pr.md)")
    add_report_arguments(report)
    commands.add_parser("check-lock", help="fail when dvc.lock or params.yaml is stale, saying what to run")
    lineage = commands.add_parser("lineage", help="the current model's chain from dvc.lock; writes the model card")
    add_lineage_arguments(lineage)
    add_data_arguments(commands.add_parser("data", help="data set configuration"))

    args = parser.parse_args(argv)
    try:
        return dispatch(args)
    except PipelineError as exc:
        sys.stderr.write(f"census-income {args.command}: {exc}\n")
        return exc.exit_code
    except Exception as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        sys.stderr.write(f"census-income {args.command}: {unexpected(exc)}\n")
        return 1


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; errors are turned into one line by `main`."""
    if args.command == "params":
        from census_income.compose import params_command

        sys.stdout.write(params_command(args.overrides, args.output, args.conf))
    elif args.command == "runs":
        from census_income.reporting.runs import format_runs, read_runs

        events = read_runs(log_file())
        if not events:
            sys.stdout.write(f"no runs logged yet in {log_file()}\n")
        else:
            sys.stdout.write(format_runs(events, args.last) + "\n")
    elif args.command in HANDLERS:
        return HANDLERS[args.command](args)
    elif args.command == "exp-branch":
        exp_branch_command(args)
    elif args.command in REGISTRY_COMMANDS:
        return registry_command(args)
    elif args.command == "lineage":
        lineage_command(args)
    elif args.command == "check-lock":
        from census_income.repo.staleness import check_lock

        sys.stdout.write(check_lock() + "\n")
    return 0


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """`census-income data draft FILE --label COL [--positive V]`."""
    draft = parser.add_subparsers(dest="data_command", required=True).add_parser(
        "draft", help="draft conf/data/<name>.yaml, its description and card from a CSV or Parquet file"
    )
    draft.add_argument("file", type=Path, help="the data file (a path relative to the project root)")
    draft.add_argument("--label", required=True, help="the label column (two values)")
    draft.add_argument("--positive", help="the label's positive value (default: the rarer one)")
    draft.add_argument("--name", help="the data set's name (default: the file's name in snake_case)")
    draft.add_argument("--margin", type=float, default=0.1, help="how far ranges are widened (share of their width)")
    draft.add_argument("--force", action="store_true", help="replace an existing draft")


def data_command(args: argparse.Namespace) -> int:
    from census_income.data.draft import draft, write_draft

    drafted = draft(args.file, args.label, args.positive, args.name, args.margin)
    for path in write_draft(drafted, Path.cwd(), args.force):
        sys.stdout.write(f"wrote {path}\n")
    sys.stdout.write(f"review them, then run: dvc exp run -S data={drafted.name} -S split=stratified\n")
    return 0


def gates_command(args: argparse.Namespace) -> int:
    """`census-income gates`: the gate summaries in the workspace, one line per stage."""
    import json

    from census_income.contracts.gate import format_summaries
    from census_income.paths import GATE_SUMMARIES_DIR

    files = sorted(GATE_SUMMARIES_DIR.glob("*.json"))
    if not files:
        sys.stdout.write(f"no gate summaries in {GATE_SUMMARIES_DIR}/ yet: run `dvc repro` (or `dvc pull`)\n")
        return 0
    summaries = {str(path): json.loads(path.read_text(encoding="utf-8")) for path in files}
    sys.stdout.write(format_summaries(summaries) + "\n")
    failed = any(
        not entry.get("success") and entry.get("enforced") is not False
        for summary in summaries.values()
        for entry in summary.values()
        if isinstance(entry, dict)
    )
    return 1 if failed else 0


def check_quality_command(args: argparse.Namespace) -> int:
    """`census-income check-quality`: the model's quality bar, as register enforces it (CI on main)."""
    from census_income.serving.registry import quality_failures

    failed = quality_failures(Path.cwd(), None)
    if failed:
        sys.stderr.write(f"census-income check-quality: below the quality bar ({', '.join(failed)})\n")
        return 1
    sys.stdout.write("the model meets the quality bar\n")
    return 0


# the commands whose module parses their arguments and returns the exit code
HANDLERS = {
    "data": data_command,
    "sweep": sweep_command,
    "exps": exps_command,
    "gates": gates_command,
    "check-quality": check_quality_command,
    "predict": predict_command,
    "report": report_command,
}


def unexpected(exc: BaseException) -> str:
    """One line for an error no code path foresaw: disk full and other OS errors by their
    file, anything else by its kind; the traceback is one switch away."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    if isinstance(exc, OSError):
        return first
    return f"unexpected {type(exc).__name__}: {first} (set {DEBUG_VARIABLE}=1 for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
