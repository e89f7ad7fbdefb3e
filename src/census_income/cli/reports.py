"""`census-income runs`, `report` and `lineage`: what the project records, printed."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from census_income.paths import MODEL_CARD_FILE, PLOTS_DIR, PR_REPORT_FILE, given_path, log_file


def add_runs(commands: Any) -> None:
    """`census-income runs [-n N]`."""
    parser = commands.add_parser("runs", help="show the last stage runs from the run log")
    parser.add_argument("-n", "--last", type=int, default=20)
    parser.set_defaults(handler=runs_command)


def runs_command(args: argparse.Namespace) -> None:
    """The last stage runs of the run log as a table."""
    from census_income.reporting.runs import format_runs, read_runs

    events = read_runs(log_file())
    if not events:
        sys.stdout.write(f"no runs logged yet in {log_file()}\n")
    else:
        sys.stdout.write(format_runs(events, args.last) + "\n")


def add_report(commands: Any) -> None:
    """`census-income report [--base REV] [-o FILE] ...`."""
    parser = commands.add_parser("report", help="the pull-request report against a base revision (reports/pr.md)")
    parser.add_argument("--base", default="main", help="the revision to compare with (default: main)")
    parser.add_argument("-o", "--output", type=given_path, default=PR_REPORT_FILE, help=f"default: {PR_REPORT_FILE}")
    parser.add_argument(
        "--plots-dir", type=given_path, default=PLOTS_DIR, help="where `dvc plots diff` writes its HTML"
    )
    parser.add_argument("--plots-url", default="", help="a link to the rendered plots (CI: the run's artifacts)")
    parser.add_argument(
        "--no-reproduce-base",
        dest="reproduce",
        action="store_false",
        help="when base's metrics are not in the DVC cache, report without them instead of reproducing base",
    )
    parser.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> None:
    """Write the report and print where (progress, such as reproducing base, on stderr)."""
    from census_income.reporting.report import write_report

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="census-income report: %(message)s")
    write_report(args.base, args.output, args.reproduce, args.plots_dir, args.plots_url)
    sys.stdout.write(f"wrote {args.output}\n")


def add_lineage(commands: Any) -> None:
    """`census-income lineage [--card FILE | --no-card] [--no-status]`."""
    parser = commands.add_parser("lineage", help="the current model's chain from dvc.lock; writes the model card")
    parser.add_argument(
        "--card", type=given_path, default=MODEL_CARD_FILE, help=f"model card to write ({MODEL_CARD_FILE})"
    )
    parser.add_argument("--no-card", action="store_true", help="print the lineage only")
    parser.add_argument("--no-status", action="store_true", help="skip `dvc status` (faster; no staleness check)")
    parser.set_defaults(handler=lineage_command)


def lineage_command(args: argparse.Namespace) -> None:
    """Print the lineage of the current model and write its model card."""
    from census_income.reporting.lineage_report import collect, format_lineage
    from census_income.reporting.model_card import write_card_for

    lineage = collect(check_status=not args.no_status)
    card_path = None if args.no_card else args.card
    if card_path is not None:
        write_card_for(lineage, card_path)
    sys.stdout.write(format_lineage(lineage, card_path) + "\n")
