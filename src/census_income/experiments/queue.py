"""Sweeps on DVC's queue: queue the grid, start the workers, wait until every experiment is done.

A sweep is exactly what a user would type: `dvc exp run --queue -n <name> -S ...` per grid
entry, `dvc queue start -j N`, then the queue's state until every queued experiment has
succeeded or failed (workers that died or stopped early are started again). Progress goes to
`out` as it happens; what the sweep ended with comes back as a `SweepResult` (the failed
experiments' own logs included) for the CLI to print.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from census_income.errors import ExperimentError
from census_income.experiments.grid import Sweep, free_label, queue_command, queued_names
from census_income.experiments.table import Experiment, parse_experiments, rank
from census_income.io import process_alive
from census_income.modeling.metrics import RANK_METRIC
from census_income.repo.dvc import Dvc as DvcRunner

logger = logging.getLogger(__name__)

DONE_STATES = ("success", "failed")
# a queue with waiting experiments and no live worker for this long has lost its workers
STALL_SECONDS = 30.0
MAX_RESTARTS = 3
# a status check reads the queue's files in-process (about 0.07 s wall, 0.02 s CPU measured): a
# sweep learns its last experiment is done within a second instead of up to 10 s later
POLL_SECONDS = 1.0


def stalled(states: Mapping[str, str], names: Iterable[str], workers: int) -> bool:
    """Some of these experiments still wait, and no worker is there to take them."""
    return workers == 0 and any(states.get(name, "queued") == "queued" for name in names)


@dataclass
class Revival:
    """When to start the queue's workers again: the queue has been stalled for `after` seconds.

    Workers stop by themselves when the queue is empty, and can die (treeverse/dvc-task#73);
    either way experiments left queued wait forever. Each stall is forgiven `after` seconds
    (a worker just started may not be recorded yet); at most `limit` restarts per sweep.
    """

    after: float = STALL_SECONDS
    limit: int = MAX_RESTARTS
    since: float | None = None
    restarts: int = 0

    def due(self, now: float, is_stalled: bool) -> bool:
        """Record one observation of the queue; True when the workers should be started now."""
        if not is_stalled:
            self.since = None
            return False
        self.since = now if self.since is None else self.since
        if now - self.since < self.after or self.restarts >= self.limit:
            return False
        self.restarts += 1
        self.since = None
        return True


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue's tasks (name -> `queued`, `running`, `success` or `failed`) and its live workers."""

    tasks: dict[str, str]
    workers: int


def queue_snapshot(project: Path) -> QueueSnapshot | None:
    """The states `dvc queue status` prints, read from the queue's own files through DVC's API.

    Not the command itself: its worker inspection is a broadcast that races with the workers on
    the file-system broker and can kill one (treeverse/dvc-task#73; seen here: a worker died with
    `JSONDecodeError` and left the rest of the queue waiting). Live workers are counted from the
    process records `dvc queue start` keeps. None if the queue cannot be read right now.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc_task.proc.process import ProcessInfo

    try:
        with Repo(str(project)) as repo:
            queue = repo.experiments.celery_queue
            tasks = queue.status()
            # `dvc queue start` records each worker as <celery dir>/dvc-exp-worker-<n>.json
            records = [ProcessInfo.load(str(path)) for path in Path(queue.wdir).glob("dvc-exp-worker-*.json")]
            workers = sum(info.returncode is None and process_alive(info.pid) for info in records)
    # a task moving between states mid-read (a message file gone or half written, or DVC saying
    # so); the next poll sees it settled
    except (DvcException, OSError, ValueError, KeyError):
        logger.debug("cannot read the experiment queue of %s", project, exc_info=True)
        return None
    return QueueSnapshot(
        {str(task["name"]): str(task["status"]).lower() for task in tasks if task.get("name")}, workers
    )


class Dvc(DvcRunner):
    """The project's DVC runner (`repo.dvc`), reading the experiments of `dvc exp show` too."""

    def experiments(self) -> list[Experiment] | None:
        """`dvc exp show --json` parsed; None when it fails (e.g. a lock held for a moment)."""
        result = self("exp", "show", "--json", "--no-pager")
        if result.returncode != 0:
            return None
        try:
            return parse_experiments(json.loads(result.stdout))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None


@dataclass
class SweepResult:
    """What a sweep ended with: its experiments (last seen state), the baselines, and what failed."""

    label: str
    names: list[str]
    experiments: list[Experiment]
    baselines: list[Experiment]
    failed: dict[str, str]  # name -> the end of its `dvc queue logs`
    queue_errors: list[str]
    finished: bool  # False when the sweep gave up waiting (the experiments keep running)
    plots: str | None  # where `dvc plots diff` wrote, or why it could not
    elapsed: str

    @property
    def succeeded(self) -> list[str]:
        """The experiments that succeeded, in no particular order."""
        return [exp.name for exp in self.experiments if exp.state == "success"]


def run_sweep(
    sweeps: Sequence[Sweep],
    *,
    out: TextIO,
    project: Path = Path(),
    jobs: int = 2,
    label: str | None = None,
    rank_by: str = RANK_METRIC,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float = 3600.0,
    keep_failed: bool = False,
    plots: Path | None = None,
) -> SweepResult:
    """Queue every sweep, run the queue with `jobs` workers and wait; `ExperimentError` when
    nothing could be queued or started."""
    dvc = Dvc(project, sweep_environment(jobs))
    listed, snapshot = dvc("exp", "list", "--all-commits", "--name-only"), queue_snapshot(project)
    if listed.returncode != 0 or snapshot is None:
        reason = _first_line(listed.stderr)
        raise ExperimentError(f"dvc cannot list the experiments or the queue in {project}: {reason}")
    # names already in use anywhere (any baseline, any task still listed by the queue)
    taken = {*listed.stdout.split(), *snapshot.tasks}
    label = label or free_label(taken)
    if any(name.startswith(f"{label}-") for name in taken):
        raise ExperimentError(f"label {label!r} is already used by experiments here; pick another with --label")
    names, queue_errors = _queue(dvc, sweeps, label, out)
    if not names:
        raise ExperimentError("nothing was queued")

    started = time.monotonic()
    out.write(f"running {len(names)} experiments with {jobs} workers ({dvc.env['OMP_NUM_THREADS']} thread(s) each)\n")
    out.flush()
    result = dvc("queue", "start", "-j", str(jobs))
    if result.returncode != 0:
        raise ExperimentError(f"dvc queue start failed: {_first_line(result.stderr)}")
    finished, states = wait_for_experiments(
        dvc, names, out, jobs=jobs, started=started, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds
    )
    latest = _settled_experiments(dvc)
    mine = [exp for exp in latest if exp.name in names]
    # the queue's word on failures counts even if `dvc exp show` misses an experiment
    failed = {
        name: _log(dvc, name)
        for name in names
        if states.get(name) == "failed" or any(exp.name == name and exp.state == "failed" for exp in mine)
    }
    succeeded = [exp.name for exp in rank(mine, rank_by) if exp.state == "success"]
    drawn = None
    if plots is not None and succeeded:
        diff = dvc("plots", "diff", *succeeded, "-o", str(plots))
        ok = diff.returncode == 0
        drawn = (f"plots of {len(succeeded)} experiments: {plots}/index.html" if ok else diff.stderr).strip()
    if failed and not keep_failed:
        dvc("queue", "remove", *failed)  # only after their logs were read
    baselines = [exp for exp in latest if exp.state == "baseline"]
    return SweepResult(label, names, mine, baselines, failed, queue_errors, finished, drawn, _elapsed(started))


def _log(dvc: Dvc, name: str) -> str:
    logs = dvc("queue", "logs", name)
    return log_tail(logs.stdout or logs.stderr)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0]


def _queue(dvc: Dvc, sweeps: Sequence[Sweep], label: str, out: TextIO) -> tuple[list[str], list[str]]:
    """Queue each sweep; one that cannot be queued (a bad override) is reported and skipped."""
    names: list[str] = []
    errors: list[str] = []
    for sweep in sweeps:
        args = queue_command(sweep, label)
        result = dvc(*args)
        new = queued_names(result.stdout)
        names += new
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            errors.append(f"{label}-{sweep.name}: {message}")
            out.write(f"could not queue `dvc {' '.join(args)}`:\n{message}\n")
        else:
            out.write(f"queued {', '.join(new)}: {' '.join(sweep.overrides)}\n")
    out.flush()
    return names, errors


def wait_for_experiments(
    dvc: Dvc,
    names: Sequence[str],
    out: TextIO,
    *,
    jobs: int,
    started: float,
    poll_seconds: float,
    timeout_seconds: float,
    revival: Revival | None = None,
) -> tuple[bool, dict[str, str]]:
    """Poll the queue until every named experiment succeeded or failed (False on timeout).

    Not `dvc exp show`, which opens the running experiments' repositories, nor `dvc queue status`
    (see `queue_snapshot`). When experiments wait and no worker is alive (`Revival`: for
    `STALL_SECONDS`), the workers died or stopped: they are started again, up to `MAX_RESTARTS` times.
    """
    seen: dict[str, str] = {}
    revival = revival or Revival()
    while True:
        snapshot = queue_snapshot(dvc.project)
        if snapshot is not None:
            states = snapshot.tasks
            for name in names:
                state = states.get(name, "queued")
                if seen.get(name) != state:
                    seen[name] = state
                    done = sum(seen.get(n) in DONE_STATES for n in names)
                    out.write(f"[{_elapsed(started)}] {name}: {state} ({done}/{len(names)} done)\n")
                    out.flush()
            if all(seen.get(name) in DONE_STATES for name in names):
                return True, seen
            if revival.due(time.monotonic(), stalled(states, names, snapshot.workers)):
                out.write(
                    f"[{_elapsed(started)}] experiments wait and no queue worker is alive: starting them again "
                    "(why they stopped: .dvc/tmp/exps/celery/dvc-exp-worker-*.out)\n"
                )
                out.flush()
                dvc("queue", "start", "-j", str(jobs))
        if time.monotonic() - started > timeout_seconds:
            pending = [name for name in names if seen.get(name) not in DONE_STATES]
            out.write(
                f"timed out after {_elapsed(started)} with {', '.join(pending)} unfinished; they keep running: "
                "`dvc queue status`, `dvc queue kill <name>`\n"
            )
            return False, seen
        time.sleep(poll_seconds)


def _settled_experiments(dvc: Dvc, attempts: int = 3) -> list[Experiment]:
    """`dvc exp show --json` once the queue is done; a lock still held for a moment gets a retry."""
    for attempt in range(attempts):
        experiments = dvc.experiments()
        if experiments is not None:
            return experiments
        time.sleep(2.0 * (attempt + 1))
    return []


def _elapsed(started: float) -> str:
    seconds = int(time.monotonic() - started)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def log_tail(text: str, lines: int = 15) -> str:
    """The end of an experiment's log, consecutive repeats dropped (DVC prints its error twice)."""
    kept: list[str] = []
    for line in text.rstrip().splitlines():
        if not kept or line != kept[-1]:
            kept.append(line)
    return "\n".join(kept[-lines:])


def sweep_environment(jobs: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The workers' environment: this Python first on PATH, and the cores shared out between workers.

    Stages run `python` from PATH, so the workers must find this environment's. Without a
    thread limit every worker's OpenMP/BLAS pool takes every core, and histogram gradient
    boosting then crawls (10x slower measured here with 2 workers on 2 cores).
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = str(max(1, cores // max(1, jobs)))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(variable, threads)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep instead of spinning
    return env
