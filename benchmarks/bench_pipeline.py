"""Pipeline benchmark (`make bench`): what a user feels, each figure against the floor in the same run.

In one run, in a fresh temporary copy of the project (the test fixtures' copy, so it holds
what a clone holds):
  floor:  the same read, featurize, fit and evaluation in one plain Python process (`floor.py`),
          imports included; run before the cold run, in each inner-loop round and at the end;
  (1) inner loop: a fresh `model.learning_rate` in params.yaml (the run cache cannot answer),
      `dvc repro` (train and evaluate rerun); each round alternates with a floor run and its
      ratio is to that floor, the median of the rounds reported;
  (2) cold: `dvc repro` with no outputs and an empty cache, against the fastest floor;
  (3) nothing changed: `dvc repro` right after (median of three);
  (4) queue: experiments with fresh learning rates queued by one `dvc exp run --queue -S
      model.learning_rate=a,b` (a sweep, as `census-income sweep` queues each grid entry) and run
      on two workers (`dvc exp run --run-all -j 2`); DVC's overhead per experiment is
      workers x wall (queueing included) minus the stage processes' time, per experiment;
  (5) opt-in (`make bench LARGE=10000000`, long): `bench_large.py`'s pipeline and floor at that size.
Per stage it splits wall time into start-up/imports, work and gate, read back from the JSON
run log the stages write. It prints the tables and writes them to `benchmarks/results.md`,
replacing only its own section. Timings depend on the machine and its load, so they are
figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    Timed,
    finished_stages,
    load_text,
    machine,
    project_copy,
    publish,
    stamp,
    stop_stage_servers,
    timed,
)

SECTION = "## Pipeline (issue 22)"
# issue 22's targets, on 2 cores
TARGET_INNER_RATIO, TARGET_COLD_RATIO, TARGET_NOOP_SECONDS = 1.5, 3.5, 1.0
TARGET_QUEUE_OVERHEAD, TARGET_LARGE_RATIO, TARGET_LARGE_PEAK_MB = 4.0, 1.5, 8 * 1024.0
RESULTS_HEADER = "# Benchmarks\n\nFigures from `make bench`.\n"
LEARNING_RATE = re.compile(r"^(model:\n(?:[ ].*\n)*?  learning_rate: )(\S+)$", re.MULTILINE)


@dataclass
class Row:
    """One line of the result table; `None` prints as a dash."""

    name: str
    wall: float
    cpu: float | None = None
    startup: float | None = None
    work: float | None = None
    gate: float | None = None
    peak_mb: float | None = None


@dataclass
class Round:
    """One inner-loop round: the floor run beside it and the `dvc repro` with its stage runs."""

    floor: float
    repro: float
    stages: list[Row] = field(default_factory=list)
    floor_cpu: float = 0.0
    repro_cpu: float = 0.0

    @property
    def ratio(self) -> float:
        return self.repro / self.floor


@dataclass
class Queue:
    """Queued experiments run on `jobs` workers: wall from the first `--queue` to the last result."""

    experiments: int
    jobs: int
    wall: float
    stage_seconds: float  # the stage processes' own lives (start-up + body), summed

    @property
    def overhead(self) -> float:
        """DVC's own time per experiment: what the workers' wall holds beyond the stage processes."""
        return (self.jobs * self.wall - self.stage_seconds) / self.experiments


@dataclass
class Large:
    """The opt-in large size: pipeline and floor walls and the largest process's peak."""

    rows: int
    wall: float
    floor: float
    peak_mb: float

    @property
    def ratio(self) -> float:
        return self.wall / self.floor


def with_learning_rate(params: str, value: float) -> str:
    """params.yaml's text with `model.learning_rate` set to `value`, everything else as it was."""
    text, count = LEARNING_RATE.subn(lambda found: f"{found.group(1)}{value:g}", params)
    if count != 1:
        sys.exit("params.yaml: no model.learning_rate to change (the inner loop needs a model that has one)")
    return text


def learning_rate(params: str) -> float:
    found = LEARNING_RATE.search(params)
    if found is None:
        sys.exit("params.yaml: no model.learning_rate")
    return float(found.group(2))


def fresh_rates(base: float, count: int, start: int = 1) -> list[float]:
    """`count` learning rates near `base`, none equal to it or to each other (nothing cached)."""
    return [round(base * (1 + (start + index) / 100), 6) for index in range(count)]


def measure_floor(project: Path, env: dict[str, str], log: Path) -> tuple[Row, dict[str, Any]]:
    """One run of the one-process floor; start-up is spawn to end of imports."""
    run = timed([sys.executable, str(BENCH_DIR / "floor.py"), "params.yaml"], project, env, log)
    report = json.loads(run.output.strip().splitlines()[-1])
    row = Row(
        "floor: one plain process",
        run.seconds,
        cpu=run.cpu_seconds,
        startup=report["imported"] - run.started,
        work=report["done"] - report["imported"],
        peak_mb=report["peak_memory_mb"],
    )
    return row, report["metrics"]


def stage_rows(log_file: Path, skip: int = 0) -> list[Row]:
    """One row per finished stage run in the JSON run log, in the order they ran (the first
    `skip` left out: those of earlier runs)."""
    return [
        Row(
            f"  {name}",
            event["startup"] + event["wall_seconds"],
            startup=event["startup"],
            work=event["work_seconds"],
            gate=event["gate_seconds"],
            peak_mb=event["peak_memory_mb"],
        )
        for name, event in finished_stages(log_file)[skip:]
    ]


def cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def checks(
    *, rounds: list[Round], cold: float, floor: float, noop: float, queue: Queue | None, large: Large | None
) -> list[tuple[str, str, str, bool | None]]:
    """Each target: what, the measured figure, the floor it is set against, met (None: not measured)."""
    inner = statistics.median(r.ratio for r in rounds)
    found: list[tuple[str, str, str, bool | None]] = [
        (
            f"inner loop (fresh `model.learning_rate`, `dvc repro`) <= {TARGET_INNER_RATIO:g}x floor",
            f"{statistics.median(r.repro for r in rounds):.2f} s, {inner:.2f}x (median of {len(rounds)})",
            ", ".join(f"{r.floor:.2f}" for r in rounds) + " s",
            inner <= TARGET_INNER_RATIO,
        ),
        (
            f"cold `dvc repro` <= {TARGET_COLD_RATIO:g}x floor",
            f"{cold:.2f} s, {cold / floor:.2f}x",
            f"{floor:.2f} s",
            cold / floor <= TARGET_COLD_RATIO,
        ),
        (
            f"nothing-changed `dvc repro` <= {TARGET_NOOP_SECONDS:g} s",
            f"{noop:.2f} s (median)",
            "-",
            noop <= TARGET_NOOP_SECONDS,
        ),
    ]
    if queue is None:
        found.append((f"DVC overhead per queued experiment <= {TARGET_QUEUE_OVERHEAD:g} s", "not measured", "-", None))
    else:
        found.append(
            (
                f"DVC overhead per queued experiment <= {TARGET_QUEUE_OVERHEAD:g} s",
                f"{queue.overhead:.2f} s ({queue.experiments} experiments, {queue.jobs} workers, "
                f"{queue.wall:.1f} s wall, {queue.stage_seconds:.1f} s in stages)",
                "-",
                queue.overhead <= TARGET_QUEUE_OVERHEAD,
            )
        )
    target = f"large data <= {TARGET_LARGE_RATIO:g}x floor, peak <= {TARGET_LARGE_PEAK_MB / 1024:g} GB"
    if large is None:
        found.append((target, "not measured (opt-in, long: `make bench LARGE=10000000`)", "-", None))
    else:
        found.append(
            (
                f"{target} ({large.rows:,} rows)",
                f"{large.wall:.1f} s, {large.ratio:.2f}x, peak {large.peak_mb / 1024:.2f} GB",
                f"{large.floor:.1f} s",
                large.ratio <= TARGET_LARGE_RATIO and large.peak_mb <= TARGET_LARGE_PEAK_MB,
            )
        )
    return found


def verdict(met: bool | None) -> str:
    return "not measured" if met is None else "yes" if met else "NO"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| run | wall s | CPU s | start-up s | work s | gate s | peak MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    return lines + [
        f"| {r.name.replace('  ', '&nbsp;&nbsp;')} | {cell(r.wall)} | {cell(r.cpu)} | {cell(r.startup)} "
        f"| {cell(r.work)} | {cell(r.gate)} | {cell(r.peak_mb, 0)} |"
        for r in rows
    ]


def summed(name: str, run: Timed | Row, stages: list[Row]) -> list[Row]:
    """A `dvc repro`'s row, its stages' rows, and what is left for DVC itself."""
    wall = run.seconds if isinstance(run, Timed) else run.wall
    cpu = run.cpu_seconds if isinstance(run, Timed) else run.cpu
    peak = run.peak_memory_mb if isinstance(run, Timed) else run.peak_mb
    return [
        Row(
            name,
            wall,
            cpu=cpu,
            startup=sum(r.startup or 0.0 for r in stages),
            work=sum(r.work or 0.0 for r in stages),
            gate=sum(r.gate or 0.0 for r in stages),
            peak_mb=peak,
        ),
        *stages,
        Row("  dvc itself (wall minus stages)", wall - sum(r.wall for r in stages)),
    ]


def render(
    *,
    floor: Row,
    floor_runs: list[float],
    cold: Row,
    stages: list[Row],
    noops: list[Timed],
    rounds: list[Round],
    idle_rounds: list[Round],
    queue: Queue | None,
    large: Large | None,
    floor_metrics: dict[str, Any],
    pipeline_metrics: dict[str, Any],
    loads: tuple[tuple[float, ...], tuple[float, ...]],
    openmp: str,
) -> str:
    """The section for results.md (also what the script prints)."""
    noop = statistics.median(run.seconds for run in noops)
    lines = [
        SECTION,
        "",
        f"Measured {stamp()} by `make bench` (`benchmarks/bench_pipeline.py`) on {machine()}, default model, "
        f"bundled UCI Adult data, {openmp}. "
        "The machine was shared: other work used the same cores during the run "
        f"(load average 1/5/15 min: {load_text(loads[0])} before, {load_text(loads[1])} after), "
        "so the seconds are upper bounds; the ratios to a floor measured in the same run are the figures "
        "to compare.",
        "",
        "| target (2 cores) | measured | floor | met |",
        "| --- | --- | ---: | --- |",
    ]
    found = checks(rounds=rounds, cold=cold.wall, floor=floor.wall, noop=noop, queue=queue, large=large)
    lines += [f"| {name} | {value} | {against} | {verdict(met)} |" for name, value, against, met in found]
    lines += [
        "",
        "Seconds are wall time unless marked CPU (user + system, all processes of the run, the stage "
        "server and the stages it forked included). A stage's wall is its process life: start-up (interpreter "
        "and imports; near zero for a stage forked by the stage server, which imported them once) + work + "
        "gate (Great Expectations, its import included where the stage imported it). The inner-loop rounds "
        "find the stage server the cold run started; the round with no stage server yet starts as after "
        "5 idle minutes. Peak memory is the largest resident set of one process.",
        "",
    ]
    rows = [floor, *summed("cold `dvc repro`", cold, stages)]
    if rounds:
        middle = sorted(rounds, key=lambda r: r.ratio)[len(rounds) // 2]
        rows += summed(
            "inner loop `dvc repro` (the median round)", Row("", middle.repro, cpu=middle.repro_cpu), middle.stages
        )
    for idle in idle_rounds:
        rows += summed(
            f"inner loop, no stage server yet ({idle.ratio:.2f}x its floor)",
            Row("", idle.repro, cpu=idle.repro_cpu),
            idle.stages,
        )
    rows.append(
        Row(
            "nothing-changed `dvc repro`",
            noop,
            cpu=statistics.median(run.cpu_seconds for run in noops),
            peak_mb=max(run.peak_memory_mb for run in noops),
        )
    )
    lines += table(rows)
    floor_error, pipeline_error = floor_metrics["test"]["error_rate"], pipeline_metrics["test"]["error_rate"]
    lines += [
        "",
        f"Floor runs: {', '.join(f'{s:.2f}' for s in floor_runs)} s (the fastest is the cold run's floor; each "
        "inner-loop round is set against the floor run beside it). The model fits with OpenMP threads on "
        "every core, and while other processes hold the cores its time can grow several-fold. "
        f"Nothing-changed runs: {', '.join(f'{run.seconds:.2f}' for run in noops)} s. "
        f"Inner-loop rounds (dvc repro / floor): {', '.join(f'{r.repro:.2f} / {r.floor:.2f}' for r in rounds)} s "
        f"wall, {', '.join(f'{r.repro_cpu:.2f} / {r.floor_cpu:.2f}' for r in rounds)} s CPU; "
        f"cold / floor in CPU seconds: {(cold.cpu or 0.0) / (floor.cpu or 1.0):.2f}x. "
        f"Same work, same answer: test error rate {floor_error:.4f} in the floor, {pipeline_error:.4f} "
        "in the pipeline.",
    ]
    return "\n".join(lines) + "\n"


def inner_loop(
    project: Path, env: dict[str, str], work: Path, log_file: Path, count: int, *, start: int = 1, idle: bool = False
) -> list[Round]:
    """`count` rounds, each a floor run then a fresh learning rate and `dvc repro`; params.yaml
    is put back afterwards (its outputs are then the run cache's). With `idle`, each `dvc repro`
    starts with no stage server running (as after a while away: its first stage starts one)."""
    params = project / "params.yaml"
    original = params.read_text(encoding="utf-8")
    rounds = []
    try:
        for index, rate in enumerate(fresh_rates(learning_rate(original), count, start), start):
            floor, _ = measure_floor(project, env, work / f"floor-round{index}.log")
            if idle:
                stop_stage_servers(env)
            params.write_text(with_learning_rate(original, rate), encoding="utf-8")
            done = len(finished_stages(log_file))
            run = timed(["dvc", "repro"], project, env, work / f"inner{index}.log")
            stages = stage_rows(log_file, skip=done)
            rounds.append(Round(floor.wall, run.seconds, stages, floor.cpu or 0.0, run.cpu_seconds))
            print(f"inner loop {index}: dvc repro {run.seconds:.2f} s, floor {floor.wall:.2f} s", flush=True)
    finally:
        params.write_text(original, encoding="utf-8")
    timed(["dvc", "repro"], project, env, work / "inner-restore.log")
    return rounds


def queued(project: Path, env: dict[str, str], work: Path, count: int, jobs: int) -> Queue:
    """`count` experiments with fresh learning rates, queued (one command) and run on `jobs` workers."""
    env = {**env, "CENSUS_INCOME_LOG_DIR": str(work / "queue-logs")}
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as `census-income sweep`
        env.setdefault(variable, str(max(1, (os.cpu_count() or 1) // jobs)))
    timed(["git", "add", "-A"], project, env)  # what a user queues from: the reproduced pipeline, committed
    timed(["git", "commit", "-q", "--allow-empty", "-m", "reproduced"], project, env)  # empty: dvc.lock was current
    base = learning_rate((project / "params.yaml").read_text(encoding="utf-8"))
    rates = ",".join(f"{rate:g}" for rate in fresh_rates(base, count, start=50))
    wall = timed(["dvc", "exp", "run", "--queue", "-S", f"model.learning_rate={rates}"], project, env).seconds
    wall += timed(["dvc", "exp", "run", "--run-all", "-j", str(jobs)], project, env, work / "queue.log").seconds
    stages = stage_rows(work / "queue-logs" / "pipeline.jsonl")
    if sum(row.name.strip().startswith("train") for row in stages) != count:
        sys.exit(f"the queue ran {len(stages)} stages, not train and evaluate of {count} experiments")
    return Queue(count, jobs, wall, sum(row.wall for row in stages))


def large_size(rows: int, work: Path) -> Large:
    """The pipeline and the floor at `rows` rows, by `bench_large.py` (its own project copy)."""
    import bench_large

    size = bench_large.measure(rows, work, 1)
    return Large(rows, size.wall, size.floor, size.peak_mb)


def main(argv: list[str] | None = None) -> None:
    """Measure every figure in a temporary project copy; print and record the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="inner-loop rounds (default 3)")
    parser.add_argument("--queue", type=int, default=2, help="queued experiments (default 2; 0: not measured)")
    parser.add_argument("--jobs", type=int, default=2, help="queue workers (default 2)")
    parser.add_argument("--large-rows", type=int, default=0, help="also measure this many rows (long; default: not)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md", help="markdown file to update")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="census-income-bench-") as tmp:
        work = Path(tmp)
        project, env = project_copy(work / "project")
        env["CENSUS_INCOME_LOG_DIR"] = str(work / "logs")
        log_file = work / "logs" / "pipeline.jsonl"

        floors = [measure_floor(project, env, work / "floor-before.log")]
        print(f"floor: {floors[0][0].wall:.2f} s", flush=True)
        cold_run = timed(["dvc", "repro"], project, env, work / "cold.log")
        cold = Row("cold", cold_run.seconds, cpu=cold_run.cpu_seconds, peak_mb=cold_run.peak_memory_mb)
        print(f"cold dvc repro: {cold.wall:.2f} s", flush=True)
        stages = stage_rows(log_file)
        pipeline_metrics = json.loads((project / "reports/evaluate/metrics.json").read_text(encoding="utf-8"))
        noops = [timed(["dvc", "repro"], project, env, work / f"noop{attempt}.log") for attempt in range(3)]
        if len(stage_rows(log_file)) != len(stages):
            sys.exit("the nothing-changed `dvc repro` ran stages: the pipeline is not reproducible")
        print(f"nothing changed: {', '.join(f'{run.seconds:.2f}' for run in noops)} s", flush=True)
        rounds = inner_loop(project, env, work, log_file, max(args.rounds, 1))
        idle_rounds = inner_loop(project, env, work, log_file, 1, start=len(rounds) + 1, idle=True)
        queue = queued(project, env, work, args.queue, args.jobs) if args.queue > 0 else None
        if queue is not None:
            print(f"queue: {queue.overhead:.2f} s of DVC per experiment", flush=True)
        floors.append(measure_floor(project, env, work / "floor-after.log"))
        print(f"floor again: {floors[1][0].wall:.2f} s", flush=True)
    large = None
    if args.large_rows:
        with tempfile.TemporaryDirectory(prefix="census-income-bench-large-") as tmp:
            large = large_size(args.large_rows, Path(tmp))
    floor, floor_metrics = min(floors, key=lambda measured: measured[0].wall)
    section = render(
        floor=floor,
        floor_runs=[row.wall for row, _ in floors] + [r.floor for r in rounds],
        cold=cold,
        stages=stages,
        noops=noops,
        rounds=rounds,
        idle_rounds=idle_rounds,
        queue=queue,
        large=large,
        floor_metrics=floor_metrics,
        pipeline_metrics=pipeline_metrics,
        loads=(load_before, os.getloadavg()),
        openmp=", ".join(f"{name}={env.get(name, 'unset')}" for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")),
    )
    publish(args.results, section, header=RESULTS_HEADER)


if __name__ == "__main__":
    main()
