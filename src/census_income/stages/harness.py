"""The harness every stage entry point runs in: arguments, config, logging, timing, errors.

A stage module only says which paths and which typed config it takes and what it does; this
module loads that config (so a body runs in-process on any config a test builds), turns a
`PipelineError` into one line on stderr and a non-zero exit, and logs start, end,
rows and columns in and out, wall time, peak memory and the gate outcome, as human
lines on the console and JSON lines in `logs/pipeline.jsonl`. Nothing here writes
into a DVC output, so outputs stay deterministic.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from census_income.config import StageConfig
from census_income.engines import PANDAS_ENGINE
from census_income.errors import PipelineError
from census_income.paths import log_file

if TYPE_CHECKING:
    from census_income.contracts.gate import Gate

log = logging.getLogger("census_income")

# Optional packages Great Expectations 1.x imports with itself whenever they are installed (its
# `compatibility` modules fall back to a stand-in when the import fails): pyspark, which the
# `spark` extra installs, and boto3. A stage process on the pandas engine uses none of them (DVC
# talks to remotes in its own process), and they cost about 0.6 s of every stage's start.
UNUSED_ON_PANDAS = ("pyspark", "py4j", "boto3", "botocore")
LOGGED = ("stage", "rows_in", "columns_in", "rows_out", "columns_out", "gate", "gate_seconds")

C = TypeVar("C", bound=StageConfig)


@dataclass
class StageRun:
    """What one stage run did: filled in by the stage, logged by the harness."""

    stage: str
    rows_in: int = 0
    columns_in: int = 0
    rows_out: int = 0
    columns_out: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)

    def watch(self, gate: Gate) -> Gate:
        """Log `gate`'s outcome and time with this run's (the gate keeps them itself)."""
        self.gates.append(gate)
        return gate

    @property
    def gate(self) -> str:
        """Expectations passed of evaluated per suite, or `none` before any check."""
        return ", ".join(outcome for gate in self.gates if (outcome := gate.outcome())) or "none"

    @property
    def gate_seconds(self) -> float:
        return sum(gate.seconds for gate in self.gates)

    def read(self, frame: Any) -> None:
        """Count a frame the stage read."""
        self.rows_in += len(frame)
        self.columns_in = max(self.columns_in, frame.shape[1])

    def wrote(self, frame: Any) -> None:
        """Count a frame the stage is about to write."""
        self.rows_out += len(frame)
        self.columns_out = max(self.columns_out, frame.shape[1])


class _JsonLines(logging.Handler):
    """Append each record's `event` payload as one JSON line."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(event, sort_keys=True) + "\n")
        except OSError as exc:
            # the console line still says what happened; no logging traceback on top of it
            sys.stderr.write(f"(not logged to {self.path}: {exc.strerror or exc})\n")


def configure_logging() -> None:
    """Human lines on stderr and JSON lines in the log file, once per process."""
    if log.handlers:
        return
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.addHandler(console)
    log.addHandler(_JsonLines(log_file()))
    log.setLevel(logging.INFO)
    log.propagate = False


def process_age_seconds() -> float:
    """Seconds since this process started: interpreter start-up plus imports so far."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_memory_mb() -> float:
    """Peak resident memory of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def skip_imports(names: Sequence[str]) -> None:
    """Make `import <name>` fail in this process (for packages not imported yet), as if it were
    not installed: for a stage process that will never use them."""
    for name in names:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def end_of_process() -> None:
    """Let the interpreter's teardown skip the cyclic garbage collection of everything a stage
    imported (about 2,600 modules with Great Expectations and scikit-learn: 0.6 s of every stage
    process's life, which `dvc repro` waits for). Objects are still freed and atexit handlers
    and buffers still run and flush as usual; only the last full scans are skipped."""
    gc.freeze()


def run_stage(
    name: str,
    body: Callable[[StageRun, argparse.Namespace, C], None],
    config: type[C],
    paths: Sequence[str],
    argv: Sequence[str] | None = None,
) -> None:
    """Parse `--<path>` arguments, load `config` from params.yaml, run `body`, log the outcome,
    exit non-zero on errors (a bad config included)."""
    parser = argparse.ArgumentParser(prog=f"python -m census_income.stages {name}")
    for option in paths:
        parser.add_argument(f"--{option.replace('_', '-')}", dest=option, required=True)
    args = parser.parse_args(argv)
    configure_logging()
    startup = process_age_seconds()
    run = StageRun(stage=name)
    started = time.perf_counter()
    status, message = "ok", ""
    log.info("%s: start", name, extra={"event": _event(run, "start", startup=startup)})
    try:
        cfg = config.load()
        if getattr(cfg, "engine", PANDAS_ENGINE).name == PANDAS_ENGINE.name:
            skip_imports(UNUSED_ON_PANDAS)
        body(run, args, cfg)
    except PipelineError as exc:
        status, message = "failed", str(exc)
    except OSError as exc:  # disk full, permissions: one line naming the file, like any error here
        where = f": {exc.filename}" if exc.filename else ""
        status, message = "failed", f"{exc.strerror}{where}" if exc.strerror else str(exc).splitlines()[0]
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted"
    wall = time.perf_counter() - started
    event = _event(
        run,
        status,
        startup=startup,
        work_seconds=wall - run.gate_seconds,
        wall_seconds=wall,
        peak_memory_mb=peak_memory_mb(),
        error=message or None,
    )
    if argv is None:  # a stage process (`python -m ...`), about to end: see `end_of_process`
        end_of_process()
    if status == "ok":
        log.info(
            "%s: done in %.2fs (+%.2fs start-up), %d rows in, %d rows x %d columns out, gate %s, peak %.0f MB",
            run.stage,
            wall,
            startup,
            run.rows_in,
            run.rows_out,
            run.columns_out,
            run.gate,
            event["peak_memory_mb"],
            extra={"event": event},
        )
        return
    log.error("%s: %s", run.stage, message, extra={"event": event})
    sys.exit(1)


def _event(run: StageRun, status: str, **values: Any) -> dict[str, Any]:
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "pid": os.getpid(),
        "status": status,
        **{k: getattr(run, k) for k in LOGGED},
        **run.extra,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()},
    }
