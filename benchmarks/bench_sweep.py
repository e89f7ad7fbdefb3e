"""Sweep benchmark (`make bench-sweep`): the default grid with 2 queue workers against 1.

In one run: a fresh temporary copy of the project (the test fixtures' copy) is reproduced once,
then copied twice, so that each leg starts from the same outputs with its own cache and run
cache (nothing one leg computed can be restored by the other). In each copy
`census-income sweep` queues the default grid and runs it:
  parallel:   `-j 2` (two workers, one OpenMP thread each);
  sequential: `-j 1` (one worker, the same experiments one after another, two threads).
Wall time is split into queueing (`dvc exp run --queue`) and running (queue start to the last
result). The stages' own time (process life: start-up, work, gate) is read back from the JSON
run log they write; what is left is DVC's per-experiment overhead (temporary copy, checkout,
hashing, lock, collecting the result) plus the status polling. Timings depend on the machine
and its load, so they are figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SECTION = "## Experiments (issue 5)"
TARGET_RATIO = 0.75


@dataclass
class Leg:
    """One sweep run: its timings, the stage runs it logged, and its output."""

    jobs: int
    queue_seconds: float = 0.0
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0
    returncode: int = 0
    stage_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    loads: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    output: str = ""

    @property
    def wall(self) -> float:
        return self.queue_seconds + self.run_seconds

    @property
    def experiments(self) -> int:
        return len(self.stage_seconds.get("train", []))

    @property
    def stage_total(self) -> float:
        return sum(sum(values) for values in self.stage_seconds.values())


def run_leg(project: Path, env: dict[str, str], jobs: int, log_dir: Path) -> Leg:
    """`census-income sweep -j <jobs>` on the default grid; timestamps come from its progress lines."""
    leg = Leg(jobs)
    load_before = os.getloadavg()
    command = [sys.executable, "-m", "census_income.cli", "sweep", "-j", str(jobs), "--label", "bench", "--poll", "2"]
    lines: list[str] = []
    clock = time.perf_counter()
    running_at = None
    proc = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        print(f"  [j={jobs} {time.perf_counter() - clock:6.1f}s] {line}", end="", flush=True)
        if running_at is None and line.startswith("running "):
            running_at = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.perf_counter()
    leg.returncode = os.waitstatus_to_exitcode(status)
    leg.queue_seconds = (running_at or end) - clock
    leg.run_seconds = end - (running_at or end)
    leg.cpu_seconds = usage.ru_utime + usage.ru_stime  # the runner and its dvc calls, not the workers
    leg.output = "".join(lines)
    leg.loads = (load_before, os.getloadavg())
    for line in (log_dir / "pipeline.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("status") != "start":
            leg.stage_seconds[event["stage"]].append(float(event["wall_seconds"]) + float(event.get("startup") or 0))
    return leg


def best_experiment(project: Path, env: dict[str, str]) -> tuple[str, dict[str, float | None], list[Any]]:
    """The default grid's best experiment on validation error, its metrics, and all results."""
    from census_income.sweep import parse_experiments, rank

    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    experiments = [exp for exp in parse_experiments(json.loads(shown.stdout)) if exp.name.startswith("bench-")]
    best = rank(experiments)[0]
    keys = ("validation.error_rate", "validation.roc_auc", "test.error_rate", "test.roc_auc")
    return best.name, {key: best.metric(key) for key in keys}, experiments


def render(parallel: Leg, sequential: Leg, best: tuple[str, dict[str, float | None]], same_results: bool) -> str:
    """The section for results.md (also what the script prints)."""
    ratio = parallel.wall / sequential.wall
    n = max(sequential.experiments, 1)
    seq_overhead = (sequential.run_seconds - sequential.stage_total) / n
    par_overhead = (parallel.jobs * parallel.run_seconds - parallel.stage_total) / max(parallel.experiments, 1)

    def loads(leg: Leg) -> str:
        return (
            " / ".join(f"{value:.2f}" for value in leg.loads[0])
            + " -> "
            + " / ".join(f"{value:.2f}" for value in leg.loads[1])
        )

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    name, metrics = best
    lines = [
        SECTION,
        "",
        f"Measured {stamp} by `make bench-sweep` (`benchmarks/bench_sweep.py`) on {os.cpu_count()} cores "
        f"({platform.machine()}, Python {platform.python_version()}): the default grid "
        f"({sequential.experiments} experiments, `census-income sweep`), each leg in its own copy of the same "
        "reproduced project (own cache and run cache). The machine was shared with other work; load average "
        f"(1/5/15 min) during the parallel leg {loads(parallel)}, during the sequential leg {loads(sequential)}. "
        "Seconds are wall time.",
        "",
        "| | parallel `-j 2` | sequential `-j 1` |",
        "| --- | ---: | ---: |",
        f"| experiments | {parallel.experiments} | {sequential.experiments} |",
        f"| queueing (`dvc exp run --queue`) s | {parallel.queue_seconds:.1f} | {sequential.queue_seconds:.1f} |",
        f"| running (queue start to last result) s | {parallel.run_seconds:.1f} | {sequential.run_seconds:.1f} |",
        f"| **total wall s** | **{parallel.wall:.1f}** | **{sequential.wall:.1f}** |",
        f"| stage process time, summed s | {parallel.stage_total:.1f} | {sequential.stage_total:.1f} |",
    ]
    for stage in ("featurize", "train", "evaluate"):
        p, s = parallel.stage_seconds.get(stage, []), sequential.stage_seconds.get(stage, [])
        lines.append(
            f"| &nbsp;&nbsp;{stage}: runs, mean s | {len(p)}, {sum(p) / max(len(p), 1):.1f} | "
            f"{len(s)}, {sum(s) / max(len(s), 1):.1f} |"
        )
    lines += [
        f"| overhead per experiment beyond stage work s | {par_overhead:.1f} (worker-seconds) | {seq_overhead:.1f} |",
        f"| queueing per experiment s | {parallel.queue_seconds / max(parallel.experiments, 1):.1f} | "
        f"{sequential.queue_seconds / n:.1f} |",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
        f"| parallel / sequential wall <= {TARGET_RATIO} | {ratio:.2f} | {'yes' if ratio <= TARGET_RATIO else 'NO'} |",
        "",
        f"Best of the grid on validation error: `{name}`, validation error rate "
        f"{_pct(metrics['validation.error_rate'])}, test error rate {_pct(metrics['test.error_rate'])} "
        f"(ROC AUC {_num(metrics['test.roc_auc'])}); target test error <= 12.6%: "
        f"{'met' if (metrics['test.error_rate'] or 1) <= 0.126 else 'NOT met'}. Both legs gave "
        f"{'identical' if same_results else 'DIFFERENT'} metrics for every experiment.",
        "",
        "Overhead per experiment: sequential = (running wall - summed stage process time) / experiments, i.e. "
        "what DVC adds per queued experiment (temporary copy under .dvc/tmp/exps, checkout of unchanged "
        "outputs, hashing, dvc.lock, collecting the result into a git ref) plus up to one status poll; "
        "parallel = the same over both workers' time, so idle time of one worker while the other finishes "
        "counts as overhead too.",
    ]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


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
    """Reproduce once, run both legs in copies, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md", help="markdown file to update")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import make_project_copy, project_env

    with tempfile.TemporaryDirectory(prefix="census-income-bench-sweep-") as tmp:
        work = Path(tmp)
        base = make_project_copy(work / "base")
        print("reproducing the baseline once ...", flush=True)
        subprocess.run(["dvc", "repro", "--quiet"], cwd=base, env=project_env(base), check=True)
        legs: dict[int, Leg] = {}
        results: dict[int, list[Any]] = {}
        for jobs in (2, 1):
            project = work / f"j{jobs}" / "project"
            shutil.copytree(base, project, symlinks=True)
            env = project_env(project)
            env["CENSUS_INCOME_LOG_DIR"] = str(work / f"logs-j{jobs}")  # queued copies log here too
            print(f"sweep with {jobs} worker(s) ...", flush=True)
            legs[jobs] = run_leg(project, env, jobs, work / f"logs-j{jobs}")
            if legs[jobs].returncode != 0:
                sys.exit(f"the sweep with -j {jobs} exited {legs[jobs].returncode}:\n{legs[jobs].output[-4000:]}")
            name, metrics, experiments = best_experiment(project, env)
            results[jobs] = sorted((exp.name, exp.metrics.get("reports/evaluate/metrics.json")) for exp in experiments)
            if jobs == 2:
                best = (name, metrics)
    section = render(legs[2], legs[1], best, same_results=results[1] == results[2])
    print()
    print(section)
    update_results(args.results, section)
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
