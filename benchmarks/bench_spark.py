"""Spark engine benchmark (`make bench-spark`): ingest, prepare, split and featurize on the
pandas engine and on Spark local mode, per stage, at N rows.

For each size (default 1M; `--rows 1000000,10000000`), in a fresh temporary copy of the
project (the test fixtures' copy; `data=adult_large data.rows=N` composed into its
`params.yaml`, as `bench_gates.py` does, with the ordinal encoding `bench_large.py` uses):
  1. `dvc repro featurize` with `engine=pandas` (the `generate` stages run first and are
     timed apart: a real data set would be delivered, not generated);
  2. the same with `engine=spark engine.master=local[*]`: `generate` is up to date, so
     exactly the four engine stages rerun;
  3. the split parts' row ids of both legs are compared (the same rows on both engines).
Per stage, from the JSON run log the stages write: process wall (start-up + body), its
start-up, the body's gate seconds, and per leg the peak memory of the largest process
(the JVM included: `wait4` on `dvc repro`). It prints one table per size and writes them to
`benchmarks/results.md`, replacing only its own section. Timings depend on the machine and
its load: figures to read, never assertions.

    python benchmarks/bench_spark.py [--rows 1000000] [--results benchmarks/results.md]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BENCH_DIR, finished_stages, load_text, machine, project_copy, stamp, timed, update_results

SECTION = "## Spark engine (issue 11)"
ENGINE_STAGES = ("ingest@train", "ingest@test", "prepare", "split", "featurize")
OVERRIDES = ("features.categorical_encoding=ordinal",)
SPARK = ("engine=spark", "engine.master='local[*]'")


@dataclass
class Leg:
    """One `dvc repro featurize` with one engine: its wall, peak memory and stage runs."""

    engine: str
    wall: float
    peak_mb: float
    stages: dict[str, dict[str, Any]]
    row_ids: str


def run_leg(project: Path, env: dict[str, str], engine: str, rows: int, logs: Path) -> Leg:
    overrides = ["data=adult_large", f"data.rows={rows}", *OVERRIDES, *(SPARK if engine == "spark" else ())]
    timed(["census-income", "params", *overrides], project, env)
    log_file = project / "logs" / "pipeline.jsonl"
    log_file.unlink(missing_ok=True)
    result = timed(["dvc", "repro", "featurize"], project, env, logs / f"{engine}-{rows}.log")
    stages = {name: event for name, event in finished_stages(log_file) if name in ENGINE_STAGES}
    return Leg(engine, result.seconds, result.peak_memory_mb, stages, split_row_ids(project))


def split_row_ids(project: Path) -> str:
    """A digest of every split part's row ids, in order: equal digests, equal splits."""
    import pyarrow.parquet as pq

    digest = hashlib.sha256()
    for name in ("train", "validation", "test"):
        ids = pq.read_table(project / "data" / "split" / f"{name}.parquet", columns=["row_id"]).column(0)
        digest.update(name.encode())
        digest.update(ids.to_numpy().tobytes())
    return digest.hexdigest()[:12]


def table(rows: int, generate: float, pandas: Leg, spark: Leg) -> list[str]:
    lines = [
        f"{rows:,} rows (`data=adult_large data.rows={rows}`; generating the source took {generate:.1f} s, "
        "not counted):",
        "",
        "| stage | pandas s | spark s | spark / pandas | pandas start-up s | spark start-up s "
        "| pandas gate s | spark gate s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = {"pandas": 0.0, "spark": 0.0}
    for name in ENGINE_STAGES:
        p, s = pandas.stages[name], spark.stages[name]
        wall_p, wall_s = p["startup"] + p["wall_seconds"], s["startup"] + s["wall_seconds"]
        total["pandas"] += wall_p
        total["spark"] += wall_s
        lines.append(
            f"| {name} | {wall_p:.1f} | {wall_s:.1f} | {wall_s / wall_p:.1f}x | {p['startup']:.1f} "
            f"| {s['startup']:.1f} | {p['gate_seconds']:.1f} | {s['gate_seconds']:.1f} |"
        )
    lines += [
        f"| **the engine stages** | **{total['pandas']:.1f}** | **{total['spark']:.1f}** "
        f"| **{total['spark'] / total['pandas']:.1f}x** | | | | |",
        f"| `dvc repro featurize` wall | {pandas.wall:.1f} | {spark.wall:.1f} | {spark.wall / pandas.wall:.1f}x "
        "| | | | |",
        f"| peak memory of one process, MB | {pandas.peak_mb:.0f} | {spark.peak_mb:.0f} (the JVM) | | | | | |",
        "",
        f"Same splits on both engines: {'yes' if pandas.row_ids == spark.row_ids else 'NO'} "
        f"(row ids digest {pandas.row_ids} / {spark.row_ids}).",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000", help="comma-separated sizes, e.g. 1000000,10000000")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]
    load_before = os.getloadavg()
    body: list[str] = []
    logs = Path(tempfile.mkdtemp(prefix="bench-spark-logs-"))
    for rows in sizes:
        work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
        try:
            project, env = project_copy(work / "project")
            print(f"{rows:,} rows: generating the source ...", file=sys.stderr)
            timed(["census-income", "params", "data=adult_large", f"data.rows={rows}", *OVERRIDES], project, env)
            generate = timed(["dvc", "repro", "generate"], project, env, logs / f"generate-{rows}.log").seconds
            print(f"{rows:,} rows: pandas engine ...", file=sys.stderr)
            pandas = run_leg(project, env, "pandas", rows, logs)
            print(f"{rows:,} rows: spark engine ...", file=sys.stderr)
            spark = run_leg(project, env, "spark", rows, logs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        body += table(rows, generate, pandas, spark)
        print("\n".join(body[-(len(ENGINE_STAGES) + 10) :]))
    load_after = os.getloadavg()
    section = "\n".join(
        [
            SECTION,
            "",
            f"Measured {stamp()} by `make bench-spark` (`benchmarks/bench_spark.py`) on {machine()}, Spark "
            f"local mode on every core (`engine.master=local[*]`). The machine was shared (load average "
            f"1/5/15 min: {load_text(load_before)} before, {load_text(load_after)} after): seconds are upper "
            "bounds.",
            "",
            "Each stage's seconds are its process's life as its run log records it: start-up (interpreter "
            "and imports) plus body (read, work, gates, write; on Spark, the JVM starts in the body, at the "
            "first Spark call). Gate s is Great Expectations' part of the body (on Spark, through its "
            "Spark data source). Only the engine stages (ingest, prepare, split, featurize) are compared: "
            "train and evaluate run the same scikit-learn code on either engine's output.",
            "",
            *body,
        ]
    )
    update_results(args.results, section)
    print(f"wrote {args.results} ({SECTION})", file=sys.stderr)


if __name__ == "__main__":
    main()
