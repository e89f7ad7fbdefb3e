"""Gate benchmark (`make bench-gates`): Great Expectations time against stage time, per stage.

In a fresh temporary copy of the project (the test fixtures' copy), it runs `dvc repro` on
the default data, then on 1M rows (`data=adult_large`: the `generate` stages resample the
real Adult rows with the project's seed into Parquet in that temporary folder). Each stage
logs `gate_seconds` (building the suites, which imports Great Expectations, plus
validating) and `wall_seconds` (the stage's body: read, work, gate, write; interpreter
start-up excluded, so the share is the stricter one) to the JSON run log; this reads them
back, prints one table per size and writes them to `benchmarks/results.md`, replacing only
its own section. Budget (issue 4): at 1M rows a stage's gates take at most 25% of its time.
Timings depend on the machine and its load: figures to read, never assertions.

    python benchmarks/bench_gates.py [--rows 1000000] [--results benchmarks/results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BENCH_DIR, finished_stages, load_text, machine, project_copy, publish, stamp, timed

SECTION = "## Gates (issue 4)"
BUDGET = 0.25
# what a pandas-engine stage process pays: its harness skips the optional packages first
IMPORT_PROBE = (
    "import time, pandas; from census_income.stages.harness import UNUSED_ON_PANDAS, skip_imports; "
    "skip_imports(UNUSED_ON_PANDAS); t = time.perf_counter(); "
    "import great_expectations, great_expectations.expectations; print(time.perf_counter() - t)"
)


@dataclass
class StageTime:
    """One finished stage run, from the run log."""

    name: str
    rows_in: int
    wall: float
    gate: float
    suites: str

    @property
    def share(self) -> float:
        return self.gate / self.wall if self.wall else 0.0


def run(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Run a command to completion (exit on failure); its wall seconds."""
    return timed(args, cwd, env, log).seconds


def import_seconds(env: dict[str, str], cwd: Path, times: int = 3) -> list[float]:
    """Importing Great Expectations in fresh processes that have pandas, `times` times."""
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(times)
    ]


def profile_suites(top: int = 3) -> list[tuple[str, int, int, float, list[tuple[float, str]]]]:
    """Inside a reproduced project: time each data suite once on the stage outputs, and its
    `top` dearest expectations alone. `(suite, rows, expectations, seconds, dearest)`."""
    import logging

    import pandas as pd

    from census_income.contracts import expectation_classes, suites
    from census_income.contracts.gate import Gate
    from census_income.data.config import IngestConfig

    logging.getLogger("census_income").setLevel(logging.ERROR)
    cfg = IngestConfig.load()
    raw = pd.read_parquet("data/raw/train.parquet")
    table = pd.read_parquet("data/prepared/table.parquet")
    gate = Gate("bench", "warn")
    gate.check("import", table.head(10), lambda: [expectation_classes().ExpectTableRowCountToBeBetween(min_value=0)])
    checks = [
        (
            "raw (train part)",
            raw,
            suites.raw_suite,
            (cfg.format, cfg.schema_, cfg.contract, cfg.rules, suites.stored_as_integers(raw, cfg.format, cfg.schema_)),
        ),
        ("prepared (table)", table, suites.prepared_suite, (cfg.schema_, cfg.contract, cfg.rules)),
    ]
    measured = []
    for name, frame, build, config in checks:
        expectations = build(*config)
        started = time.perf_counter()
        gate.check(name, frame, build, *config)
        whole = time.perf_counter() - started
        alone = []
        for index, expectation in enumerate(expectations):
            started = time.perf_counter()
            gate.check(f"{name}-{index}", frame, lambda e=expectation: [e])
            column = getattr(expectation, "column", None)
            alone.append(
                (time.perf_counter() - started, f"{expectation.expectation_type}" + (f"({column})" if column else ""))
            )
        measured.append((name, len(frame), len(expectations), whole, sorted(alone, reverse=True)[:top]))
    return measured


def stage_times(log_file: Path) -> list[StageTime]:
    """Finished stage runs in the order they ran; repeated names (one per part) get a number."""
    return [
        StageTime(name, event["rows_in"], event["wall_seconds"], event["gate_seconds"], event["gate"])
        for name, event in finished_stages(log_file)
    ]


def table(title: str, times: list[StageTime], gx_import: float) -> list[str]:
    lines = [
        f"{title}",
        "",
        "| stage | rows in | stage s | gate s | gate share | gate s without GX import | share without import |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in times:
        rest = max(t.gate - gx_import, 0.0)
        lines.append(
            f"| {t.name} | {t.rows_in:,} | {t.wall:.2f} | {t.gate:.2f} | {t.share:.0%} | {rest:.2f} "
            f"| {rest / t.wall if t.wall else 0:.0%} |"
        )
    wall, gate = sum(t.wall for t in times), sum(t.gate for t in times)
    lines.append(f"| all stages | | {wall:.2f} | {gate:.2f} | {gate / wall:.0%} | | |")
    return lines


def render(
    *,
    default: list[StageTime],
    large: list[StageTime],
    rows: int,
    gx_import: float,
    suites: list[Any],
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    over = [t for t in large if t.share > BUDGET]
    lines = [
        SECTION,
        "",
        f"Measured {stamp()} by `make bench-gates` (`benchmarks/bench_gates.py`) on {machine()}. The machine was "
        f"shared (load average 1/5/15 min: {load_text(loads[0])} before, {load_text(loads[1])} after): seconds "
        "are upper bounds, shares are the figures "
        "to compare.",
        "",
        "Stage s is the stage's body as its run log records it (read, work, gates, write; interpreter start-up "
        "left out, which makes the share stricter). Gate s is building the suites (where Great Expectations is "
        f"imported: {gx_import:.2f} s in a fresh process that already has pandas, the fastest of six probes before "
        "and after the runs) plus validating, with the "
        "SUMMARY result format.",
        "",
        *table("Default data (bundled UCI Adult):", default, gx_import),
        "",
        *table(f"{rows:,} rows (`data=adult_large data.rows={rows}`):", large, gx_import),
        "",
        f"Budget: gates at most {BUDGET:.0%} of each stage's time at {rows:,} rows: "
        + (
            "met by every stage."
            if not over
            else "NOT met by " + ", ".join(f"{t.name} ({t.share:.0%})" for t in over) + "."
        ),
        "",
        f"Where the gate time goes at {rows:,} rows: each data suite once on the stage outputs (Great "
        "Expectations already imported), and its dearest expectations validated alone:",
        "",
        "| suite | rows | expectations | seconds | dearest alone (s) |",
        "| --- | ---: | ---: | ---: | --- |",
        *(
            f"| {name} | {n:,} | {count} | {seconds:.2f} | "
            + ", ".join(f"{label} {cost:.2f}" for cost, label in dearest)
            + " |"
            for name, n, count, seconds, dearest in suites
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Both sizes in one temporary project copy; print and record the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large run")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md", help="markdown file to update")
    parser.add_argument("--profile-suites", action="store_true", help=argparse.SUPPRESS)  # run inside the copy
    args = parser.parse_args(argv)
    if args.profile_suites:
        print(json.dumps(profile_suites()))
        return

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="census-income-bench-gates-") as tmp:
        work = Path(tmp)
        project, env = project_copy(work / "project")
        probes = import_seconds(env, project)

        env["CENSUS_INCOME_LOG_DIR"] = str(work / "logs-default")
        seconds = run(["dvc", "repro"], project, env, work / "default.log")
        default = stage_times(work / "logs-default" / "pipeline.jsonl")
        print(f"default data: dvc repro {seconds:.1f} s", flush=True)

        run(["census-income", "params", "data=adult_large", f"data.rows={args.rows}"], project, env, work / "p.log")
        env["CENSUS_INCOME_LOG_DIR"] = str(work / "logs-large")
        seconds = run(["dvc", "repro"], project, env, work / "large.log")
        large = stage_times(work / "logs-large" / "pipeline.jsonl")
        print(f"{args.rows:,} rows: dvc repro {seconds:.1f} s", flush=True)

        env["CENSUS_INCOME_GATE_DIR"] = str(work / "gates-profile")
        profiled = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--profile-suites"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        suites = json.loads(profiled.stdout.strip().splitlines()[-1])
        # the least disturbed of the probes before and after the runs: the machine may be shared
        probes += import_seconds(env, project)
        gx_import = min(probes)
        print(f"Great Expectations import: {', '.join(f'{p:.2f}' for p in probes)} s", flush=True)

    section = render(
        default=default,
        large=large,
        rows=args.rows,
        gx_import=gx_import,
        suites=suites,
        loads=(load_before, os.getloadavg()),
    )
    publish(args.results, section)


if __name__ == "__main__":
    main()
