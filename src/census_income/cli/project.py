"""`census-income params`, `gates`, `check-quality`, `check-lock` and `data draft`: the project's
configuration and checks, printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from census_income.errors import GateError, PipelineError
from census_income.paths import CONF_DIR, PARAMS_FILE, given_path


def add_params(commands: Any) -> None:
    """`census-income params [OVERRIDE ...] [-o FILE] [--conf DIR]`."""
    parser = commands.add_parser(
        "params", help="compose conf/ into params.yaml; with overrides, print the composition (a preview)"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides to preview, e.g. model=random_forest")
    parser.add_argument("-o", "--output", type=given_path, help=f"default: {PARAMS_FILE}, or stdout with overrides")
    parser.add_argument("--conf", type=given_path, default=CONF_DIR)
    parser.set_defaults(handler=params_command)


def params_command(args: argparse.Namespace) -> None:
    """Recompose params.yaml, or print the preview of the overrides' composition."""
    from census_income.compose import params_command as compose

    sys.stdout.write(compose(args.overrides, args.output, args.conf))


def add_gates(commands: Any) -> None:
    """`census-income gates`."""
    parser = commands.add_parser("gates", help="each stage's gate outcome from reports/gates/ (passed / evaluated)")
    parser.set_defaults(handler=gates_command)


def gates_command(args: argparse.Namespace) -> None:
    """The gate summaries in the workspace, one line per stage; a `GateError` when an enforced
    gate failed (a quality bar only recorded does not count)."""
    from census_income.contracts.gate import format_summaries
    from census_income.io import read_json
    from census_income.paths import GATE_SUMMARIES_DIR

    files = sorted(GATE_SUMMARIES_DIR.glob("*.json"))
    if not files:
        sys.stdout.write(f"no gate summaries in {GATE_SUMMARIES_DIR}/ yet: run `dvc repro` (or `dvc pull`)\n")
        return
    summaries = {str(path): read_json(path) for path in files}
    sys.stdout.write(format_summaries(summaries) + "\n")
    failed = [
        f"{path}: {name}"
        for path, summary in summaries.items()
        for name, entry in summary.items()
        if isinstance(entry, dict) and not entry.get("success") and entry.get("enforced") is not False
    ]
    if failed:
        raise GateError(f"failed gates ({', '.join(failed)})")


def add_check_quality(commands: Any) -> None:
    """`census-income check-quality`."""
    parser = commands.add_parser(
        "check-quality", help="fail when the workspace's model is below the quality bar (CI on main)"
    )
    parser.set_defaults(handler=check_quality_command)


def check_quality_command(args: argparse.Namespace) -> None:
    """The model's quality bar, as register enforces it (CI on main)."""
    from census_income.serving.registry import quality_failures

    failed = quality_failures(Path.cwd(), None)
    if failed:
        raise PipelineError(f"below the quality bar ({', '.join(failed)})")
    sys.stdout.write("the model meets the quality bar\n")


def add_check_lock(commands: Any) -> None:
    """`census-income check-lock`."""
    parser = commands.add_parser("check-lock", help="fail when dvc.lock or params.yaml is stale, saying what to run")
    parser.set_defaults(handler=check_lock_command)


def check_lock_command(args: argparse.Namespace) -> None:
    """The all-clear line; a `StaleLockError` says what is stale and what to run."""
    from census_income.repo.staleness import check_lock

    sys.stdout.write(check_lock() + "\n")


def add_data(commands: Any) -> None:
    """`census-income data draft FILE --label COL [--positive V]`."""
    parser = commands.add_parser("data", help="data set configuration")
    draft = parser.add_subparsers(dest="data_command", required=True).add_parser(
        "draft", help="draft conf/data/<name>.yaml, its description and card from a CSV or Parquet file"
    )
    draft.add_argument("file", type=given_path, help="the data file (a path inside the project)")
    draft.add_argument("--label", required=True, help="the label column (two values)")
    draft.add_argument("--positive", help="the label's positive value (default: the rarer one)")
    draft.add_argument("--name", help="the data set's name (default: the file's name in snake_case)")
    draft.add_argument("--margin", type=float, default=0.1, help="how far ranges are widened (share of their width)")
    draft.add_argument("--force", action="store_true", help="replace an existing draft")
    parser.set_defaults(handler=data_draft_command)


def data_draft_command(args: argparse.Namespace) -> None:
    """Write the draft files and say what to review and run next."""
    from census_income.data.draft import draft, write_draft

    drafted = draft(args.file, args.label, args.positive, args.name, args.margin)
    for path in write_draft(drafted, Path.cwd(), args.force):
        sys.stdout.write(f"wrote {path}\n")
    sys.stdout.write(f"review them, then run: dvc exp run -S data={drafted.name} -S split=stratified\n")
