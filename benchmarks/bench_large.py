"""Large-data benchmark (`make bench-large`): the pipeline at N rows against its floor at N rows.

For each size (default: the bundled data, 1M and 10M rows), in a fresh temporary copy of the
project (the test fixtures' copy; `data=adult_large data.rows=N` composed into its
`params.yaml` for the large sizes, as `bench_gates.py` does):
  1. large sizes only: `dvc repro generate` writes the Adult-shaped source Parquet (the data
     the run starts from, timed apart: a real data set would be delivered, not generated);
  2. `dvc repro`: the whole pipeline, DVC included; per stage, from the JSON run log the
     stages write: process wall (start-up + body), body, rows in, rows/s, peak memory (RSS of
     the stage's process), gate seconds and their share of the body;
  3. the floor (`floor.py`, in its own process so that its peak memory is its own): the same
     read (the bundled text, or the generated Parquet), prepare, split, fit and evaluation in
     one plain Python process, with the same model configuration.
Each copy is deleted once measured (10M rows take several GB). It prints the tables and the
targets (issue 10: 2 cores, 24 GB) and writes them to `benchmarks/results.md`, replacing only
its own section. Timings depend on the machine and its load: figures to read, never assertions.

    python benchmarks/bench_large.py [--sizes default,1000000,10000000] [--results benchmarks/results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import BENCH_DIR, finished_stages, load_text, machine, project_copy, publish, stamp, timed

SECTION = "## Large data (issue 10)"
DEFAULT = 0  # the size that stands for the bundled data
DEFAULT_SIZES = "default,1000000,10000000"
# what the large sizes run with, besides their size: ordinal category codes (14 model columns
# instead of about 100 one-hot ones), so train holds 7x less and fits about 5x faster; the
# floor reads the same params.yaml, so it does the same; the model takes the codes as numbers
LARGE_OVERRIDES = ("features.categorical_encoding=ordinal", "model.encoding=ordinal")
# issue 10 targets, on 2 cores and 24 GB, as issue 22 revised them: 10M rows within 1.5x the floor
# (the gate-share budget and the 1.5x at 1M rows were retired: out of reach with a Great
# Expectations import in every stage process, and not what a user feels)
E2E_ROWS, E2E_SECONDS = 10_000_000, 15 * 60.0
PEAK_MB = 8 * 1024.0
FLOOR_RATIOS = {10_000_000: 1.5}


@dataclass
class Stage:
    """One finished stage run, from the run log."""

    name: str
    rows_in: int
    startup: float
    body: float
    gate: float
    peak_mb: float

    @property
    def wall(self) -> float:
        """Process life: interpreter start-up and imports, then the body."""
        return self.startup + self.body

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.wall if self.wall else 0.0

    @property
    def gate_share(self) -> float:
        """Gates over the body (start-up left out: the stricter share, as `bench_gates.py`)."""
        return self.gate / self.body if self.body else 0.0

    @classmethod
    def from_event(cls, name: str, event: dict[str, Any]) -> Stage:
        return cls(
            name,
            int(event.get("rows_in") or 0),
            float(event.get("startup") or 0.0),
            float(event["wall_seconds"]),
            float(event.get("gate_seconds") or 0.0),
            float(event.get("peak_memory_mb") or 0.0),
        )


@dataclass
class Size:
    """Everything measured at one size."""

    rows: int  # DEFAULT for the bundled data
    data_rows: int = 0  # rows the pipeline read (prepare's rows in)
    generate_wall: float | None = None
    generate: list[Stage] = field(default_factory=list)
    wall: float = 0.0  # the whole `dvc repro`, DVC included
    cpu: float = 0.0
    tree_peak_mb: float = 0.0  # largest resident set of any process of the `dvc repro` (DVC's own too)
    stages: list[Stage] = field(default_factory=list)
    floor_walls: list[float] = field(default_factory=list)
    floor_cpu: float = 0.0
    floor_peak_mb: float = 0.0
    floor_rows: int = 0
    pipeline_error: float | None = None
    floor_error: float | None = None
    disk_mb: float = 0.0  # the whole project copy after the run
    data_mb: float = 0.0  # of which the workspace's data/ and models/
    cache_mb: float = 0.0  # and the DVC cache (a second copy of every output unless links are used)
    loads: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    @property
    def label(self) -> str:
        return "default data" if self.rows == DEFAULT else f"{self.rows:,} rows"

    @property
    def floor(self) -> float:
        """The fastest floor run: the stricter ratio."""
        return min(self.floor_walls) if self.floor_walls else 0.0

    @property
    def ratio(self) -> float:
        return self.wall / self.floor if self.floor else float("inf")

    @property
    def stage_peak_mb(self) -> float:
        return max((s.peak_mb for s in self.stages), default=0.0)

    @property
    def peak_mb(self) -> float:
        """The target's peak: the largest process of the run, stage or DVC."""
        return max(self.stage_peak_mb, self.tree_peak_mb)

    @property
    def in_stages(self) -> float:
        return sum(s.wall for s in self.stages)

    @property
    def gate_seconds(self) -> float:
        return sum(s.gate for s in self.stages)

    @property
    def body_seconds(self) -> float:
        return sum(s.body for s in self.stages)


@dataclass
class Check:
    """One target: what, at which size, the measured value, and whether it is met (None: not measured)."""

    target: str
    size: str
    measured: str
    met: bool | None


def parse_sizes(text: str) -> list[int]:
    """`default,1000000,1e7` -> [0, 1000000, 10000000] (0 stands for the bundled data)."""
    sizes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "default":
            sizes.append(DEFAULT)
            continue
        try:
            rows = int(float(item)) if "e" in item.lower() else int(item.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a size: {item!r} (use `default` or a row count)") from None
        if rows < 1000:
            raise argparse.ArgumentTypeError(f"{item}: at least 1000 rows (the data contract's minimum)")
        sizes.append(rows)
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    return sizes


def stages_from_log(log_file: Path) -> list[Stage]:
    """Finished stage runs, in the order they ran (exits if one failed; none if nothing ran)."""
    if not log_file.exists():
        return []
    return [Stage.from_event(name, event) for name, event in finished_stages(log_file)]


def checks(sizes: list[Size]) -> list[Check]:
    """Every target of issues 10 and 22 against what was measured; a target whose size was not run is `None`."""
    by_rows = {size.rows: size for size in sizes}
    found = []
    e2e = by_rows.get(E2E_ROWS)
    found.append(
        Check(
            f"end to end (`dvc repro`) <= {E2E_SECONDS / 60:g} min",
            f"{E2E_ROWS:,} rows",
            f"{e2e.wall / 60:.1f} min" if e2e else "not measured",
            e2e.wall <= E2E_SECONDS if e2e else None,
        )
    )
    for size in sizes:
        found.append(
            Check(
                f"peak memory <= {PEAK_MB / 1024:g} GB",
                size.label,
                f"{size.peak_mb / 1024:.2f} GB",
                size.peak_mb <= PEAK_MB,
            )
        )
    for rows, limit in FLOOR_RATIOS.items():
        at = by_rows.get(rows)
        found.append(
            Check(
                f"pipeline / floor <= {limit:g}x",
                f"{rows:,} rows",
                f"{at.ratio:.2f}x" if at else "not measured",
                at.ratio <= limit if at else None,
            )
        )
    return found


def verdict(met: bool | None) -> str:
    return "not measured" if met is None else "met" if met else "NOT met"


def _error(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def stage_table(size: Size) -> list[str]:
    lines = [
        f"{size.label}"
        + (f" (`data=adult_large data.rows={size.rows} {' '.join(LARGE_OVERRIDES)}`)" if size.rows != DEFAULT else "")
        + ":",
        "",
        "| stage | rows in | wall s | start-up s | body s | rows/s | peak MB | gate s | gate share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage, source in [*((s, True) for s in size.generate), *((s, False) for s in size.stages)]:
        name = f"({stage.name}: data source)" if source else stage.name
        lines.append(
            f"| {name} | {stage.rows_in:,} | {stage.wall:.2f} | {stage.startup:.2f} | {stage.body:.2f} | "
            f"{stage.rows_per_second:,.0f} | {stage.peak_mb:.0f} | {stage.gate:.2f} | {stage.gate_share:.0%} |"
        )
    share = size.gate_seconds / size.body_seconds if size.body_seconds else 0.0
    lines += [
        f"| all stages | | {size.in_stages:.2f} | | {size.body_seconds:.2f} | | {size.stage_peak_mb:.0f} | "
        f"{size.gate_seconds:.2f} | {share:.0%} |",
        f"| DVC itself (`dvc repro` wall minus stages) | | {size.wall - size.in_stages:.2f} | | | | "
        f"{size.tree_peak_mb:.0f} | | |",
    ]
    return lines


def render(sizes: list[Size], *, openmp: str = "", floor_runs: int = 1) -> str:
    """The section for results.md (also what the script prints)."""
    loads = [load for size in sizes for load in size.loads if load]
    lines = [
        SECTION,
        "",
        f"Measured {stamp()} by `make bench-large` (`benchmarks/bench_large.py`) on {machine()}, default model"
        + (f", {openmp}" if openmp else "")
        + ". Each size ran in its own fresh copy of the project. The machine was shared"
        + (
            f" (load average 1/5/15 min: {load_text(loads[0])} at the start, {load_text(loads[-1])} at the end)"
            if loads
            else ""
        )
        + ": seconds are upper bounds, and CPU seconds (user + system, every process of the run) are the figures "
        "that depend least on the load.",
        "",
        "Pipeline: the whole `dvc repro`, DVC included; for the large sizes the source Parquet was generated "
        "before it (`dvc repro generate`, shown apart: a real data set is delivered, not generated). Floor: "
        "`benchmarks/floor.py`, the same read (the bundled text or the generated Parquet), prepare, split, fit "
        "and evaluation in one plain Python process with the same model configuration, imports included"
        + (f" (the fastest of {floor_runs} runs)" if floor_runs > 1 else "")
        + ". Peak memory is the largest resident set of one process (a stage's own, or for the pipeline the "
        "largest of any process of the `dvc repro`, DVC's own included). Disk is the project copy after the run, "
        "with the workspace's data and models and the DVC cache apart.",
        "",
        "| rows | generate s | pipeline s | floor s | pipeline / floor | CPU s: pipeline, floor (ratio) | peak MB "
        "| floor peak MB | gates / stage bodies | test error (pipeline, floor) | disk MB (data + models, cache) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for size in sizes:
        share = size.gate_seconds / size.body_seconds if size.body_seconds else 0.0
        lines.append(
            f"| {size.data_rows:,} ({size.label}) | "
            + ("-" if size.generate_wall is None else f"{size.generate_wall:.1f}")
            + f" | {size.wall:.1f} | {size.floor:.1f} | {size.ratio:.2f}x | {size.cpu:.1f}, {size.floor_cpu:.1f} "
            f"({size.cpu / size.floor_cpu if size.floor_cpu else 0:.2f}x) | {size.peak_mb:.0f} | "
            f"{size.floor_peak_mb:.0f} | {share:.0%} | {_error(size.pipeline_error)}, {_error(size.floor_error)} | "
            f"{size.disk_mb:,.0f} ({size.data_mb:,.0f}, {size.cache_mb:,.0f}) |"
        )
    for size in sizes:
        lines += ["", *stage_table(size)]
    lines += [
        "",
        "Stage wall is the process life (start-up + body); rows/s divide the rows in by it. Gate share is gate "
        "seconds over the body (start-up left out, the stricter share).",
        "",
        "| target (2 cores, 24 GB) | size | measured | |",
        "| --- | --- | --- | --- |",
        *(f"| {c.target} | {c.size} | {c.measured} | {verdict(c.met)} |" for c in checks(sizes)),
    ]
    return "\n".join(lines) + "\n"


def disk_mb(path: Path) -> float:
    """Space the files under `path` take (blocks, so sparse and reflinked files count as they are)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += Path(root, name).lstat().st_blocks * 512
            except OSError:
                continue
    return total / 2**20


class Watch(threading.Thread):
    """Prints each stage as it finishes (from the run log) while a long `dvc repro` runs."""

    def __init__(self, log_file: Path, prefix: str) -> None:
        super().__init__(daemon=True)
        self.log_file, self.prefix = log_file, prefix
        self.done = threading.Event()
        self.clock = time.perf_counter()

    def run(self) -> None:
        seen = 0
        while True:
            stopping = self.done.wait(5.0)
            lines = self.log_file.read_text(encoding="utf-8").splitlines() if self.log_file.exists() else []
            for line in lines[seen:]:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line being written: read it next time
                seen += 1
                if event.get("status") == "start":
                    continue
                print(
                    f"  [{self.prefix} {time.perf_counter() - self.clock:7.1f}s] {event.get('stage')}: "
                    f"{event.get('status')}, {float(event.get('startup') or 0) + float(event['wall_seconds']):.1f} s, "
                    f"{event.get('rows_in', 0):,} rows in, peak {float(event.get('peak_memory_mb') or 0):.0f} MB",
                    flush=True,
                )
            if stopping:
                return


def repro(args: list[str], project: Path, env: dict[str, str], logs: Path, prefix: str) -> Any:
    """`dvc repro ...` with the stages' run log in `logs`, printing stages as they finish."""
    env = {**env, "CENSUS_INCOME_LOG_DIR": str(logs)}
    watch = Watch(logs / "pipeline.jsonl", prefix)
    watch.start()
    try:
        return timed(args, project, env, logs.with_suffix(".out"))
    finally:
        watch.done.set()
        watch.join()


def large_params_command(rows: int) -> list[str]:
    """What prints the params.yaml of a large size (generated Adult-shaped rows)."""
    return ["census-income", "params", "data=adult_large", f"data.rows={rows}", *LARGE_OVERRIDES]


def measure(rows: int, work: Path, floor_runs: int) -> Size:
    """One size in its own project copy, deleted afterwards."""
    size = Size(rows)
    load_before = os.getloadavg()
    folder = work / ("default" if rows == DEFAULT else str(rows))
    try:
        project, env = project_copy(folder / "project")
        if rows != DEFAULT:
            # the preview on stdout: `-o params.yaml` refuses overrides (CI holds params.yaml to conf/),
            # and this throwaway copy is never committed
            composed = timed(
                large_params_command(rows),
                project,
                env,
                merge_stderr=False,
            )
            (project / "params.yaml").write_text(composed.output, encoding="utf-8")
            print(f"{size.label}: dvc repro generate ...", flush=True)
            run = repro(["dvc", "repro", "generate"], project, env, folder / "logs-generate", "generate")
            size.generate_wall = run.seconds
            size.generate = stages_from_log(folder / "logs-generate" / "pipeline.jsonl")
            print(f"{size.label}: generated in {run.seconds:.1f} s", flush=True)
        print(f"{size.label}: dvc repro ...", flush=True)
        run = repro(["dvc", "repro"], project, env, folder / "logs", "repro")
        size.wall, size.cpu, size.tree_peak_mb = run.seconds, run.cpu_seconds, run.peak_memory_mb
        size.stages = stages_from_log(folder / "logs" / "pipeline.jsonl")
        size.data_rows = next((s.rows_in for s in size.stages if s.name == "prepare"), 0)
        print(f"{size.label}: dvc repro {run.seconds:.1f} s, peak {size.peak_mb:.0f} MB", flush=True)
        if rows not in (DEFAULT, size.data_rows):
            # a size that did not take effect would print a meaningless ratio as if it were met
            raise SystemExit(f"bench_large: the pipeline prepared {size.data_rows:,} rows, not {rows:,}")
        metrics = json.loads((project / "reports/evaluate/metrics.json").read_text(encoding="utf-8"))
        size.pipeline_error = metrics["test"]["error_rate"]
        size.disk_mb = disk_mb(project)
        size.data_mb = disk_mb(project / "data") + disk_mb(project / "models")
        size.cache_mb = disk_mb(project / ".dvc" / "cache")
        for attempt in range(floor_runs):
            print(f"{size.label}: floor ({attempt + 1} of {floor_runs}) ...", flush=True)
            floor = timed(
                [sys.executable, str(BENCH_DIR / "floor.py"), "params.yaml"],
                project,
                env,
                folder / f"floor{attempt}.out",
                merge_stderr=False,
            )
            report = json.loads(floor.output.strip().splitlines()[-1])
            size.floor_walls.append(floor.seconds)
            if floor.seconds <= size.floor:
                size.floor_cpu, size.floor_peak_mb = floor.cpu_seconds, floor.peak_memory_mb
            size.floor_rows, size.floor_error = report["rows"], report["metrics"]["test"]["error_rate"]
            print(f"{size.label}: floor {floor.seconds:.1f} s, peak {floor.peak_memory_mb:.0f} MB", flush=True)
        if size.floor_rows != size.data_rows:
            print(f"WARNING: the floor read {size.floor_rows:,} rows, the pipeline {size.data_rows:,}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # 10M rows leave several GB of data and cache
    size.loads = (load_before, os.getloadavg())
    return size


def main(argv: list[str] | None = None) -> None:
    """Every size in turn; print and record the tables and targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes(DEFAULT_SIZES),
        help=f"comma-separated: `default` (the bundled data) or row counts (default: {DEFAULT_SIZES})",
    )
    parser.add_argument("--floor-runs", type=int, default=1, help="floor runs per size (the fastest counts)")
    parser.add_argument("--tmp", type=Path, help="folder for the temporary project copies (default: the system's)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md", help="markdown file to update")
    args = parser.parse_args(argv)

    sizes = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="census-income-bench-large-", dir=args.tmp) as tmp:
        for rows in args.sizes:
            sizes.append(measure(rows, Path(tmp), max(args.floor_runs, 1)))
            print(f"({time.perf_counter() - started:.0f} s so far)", flush=True)
    openmp = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in ("OMP_NUM_THREADS",))
    openmp += ", OMP_WAIT_POLICY=" + os.environ.get("OMP_WAIT_POLICY", "PASSIVE")  # the copies' default
    section = render(sizes, openmp=openmp, floor_runs=max(args.floor_runs, 1))
    publish(args.results, section)


if __name__ == "__main__":
    main()
