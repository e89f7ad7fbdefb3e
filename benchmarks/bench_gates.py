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
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SECTION = "## Gates (issue 4)"
BUDGET = 0.25
IMPORT_PROBE = (
    "import time, pandas; t = time.perf_counter(); import great_expectations, great_expectations.expectations; "
    "print(time.perf_counter() - t)"
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
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        sys.exit(f"{' '.join(args)} exited {code}:\n{log.read_text(encoding='utf-8', errors='replace')[-4000:]}")
    return time.perf_counter() - started


def import_seconds(env: dict[str, str], cwd: Path) -> float:
    """Importing Great Expectations in a fresh process that has pandas (median of three)."""
    probes = [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    return statistics.median(probes)


def stage_times(log_file: Path) -> list[StageTime]:
    """Finished stage runs in the order they ran; repeated names (one per part) get a number."""
    events = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    finished = [e for e in events if e.get("status") != "start"]
    failed = [e for e in finished if e.get("status") != "ok"]
    if failed:
        sys.exit(f"stage runs did not succeed: {failed}")
    names = [e["stage"] for e in finished]
    times = []
    for index, event in enumerate(finished):
        name = event["stage"]
        if names.count(name) > 1:
            name = f"{name} ({names[: index + 1].count(name)})"
        times.append(StageTime(name, event["rows_in"], event["wall_seconds"], event["gate_seconds"], event["gate"]))
    return times


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
    default: list[StageTime],
    large: list[StageTime],
    rows: int,
    gx_import: float,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    over = [t for t in large if t.share > BUDGET]
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-gates` (`benchmarks/bench_gates.py`) on "
        f"{os.cpu_count()} cores ({platform.machine()}, Python {platform.python_version()}). The machine was "
        f"shared (load average 1/5/15 min: {' / '.join(f'{v:.2f}' for v in loads[0])} before, "
        f"{' / '.join(f'{v:.2f}' for v in loads[1])} after): seconds are upper bounds, shares are the figures "
        "to compare.",
        "",
        "Stage s is the stage's body as its run log records it (read, work, gates, write; interpreter start-up "
        "left out, which makes the share stricter). Gate s is building the suites (where Great Expectations is "
        f"imported: {gx_import:.2f} s in a fresh process that already has pandas) plus validating, with the "
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
    ]
    return "\n".join(lines) + "\n"


def update_results(path: Path, section: str) -> None:
    """Replace this benchmark's section of results.md (or append it), leaving the others alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Both sizes in one temporary project copy; print and record the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large run")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md", help="markdown file to update")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import make_project_copy, project_env

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="census-income-bench-gates-") as tmp:
        work = Path(tmp)
        project = make_project_copy(work / "project")
        env: dict[str, Any] = project_env(project)
        gx_import = import_seconds(env, project)
        print(f"Great Expectations import: {gx_import:.2f} s", flush=True)

        env["CENSUS_INCOME_LOG_DIR"] = str(work / "logs-default")
        seconds = run(["dvc", "repro"], project, env, work / "default.log")
        default = stage_times(work / "logs-default" / "pipeline.jsonl")
        print(f"default data: dvc repro {seconds:.1f} s", flush=True)

        run(["census-income", "params", "data=adult_large", f"data.rows={args.rows}"], project, env, work / "p.log")
        env["CENSUS_INCOME_LOG_DIR"] = str(work / "logs-large")
        seconds = run(["dvc", "repro"], project, env, work / "large.log")
        large = stage_times(work / "logs-large" / "pipeline.jsonl")
        print(f"{args.rows:,} rows: dvc repro {seconds:.1f} s", flush=True)

    section = render(default, large, args.rows, gx_import, (load_before, os.getloadavg()))
    print()
    print(section)
    update_results(args.results, section)
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
