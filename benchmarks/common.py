"""What every benchmark script shares: running and timing commands, the machine line, the
stages' run log, temporary project copies, and rewriting one section of `results.md`.

The scripts run as `python benchmarks/<name>.py`, so this folder is first on `sys.path`
and they import this module as `common`. Timings depend on the machine and its load: the
scripts print figures, they assert nothing about speed.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results.md"
RESULTS_HEADER = "# Benchmarks\n"


@dataclass
class Timed:
    """One subprocess run: wall and CPU seconds (user + system, it and its descendants), when it
    started (epoch seconds), exit code, peak memory of its largest process, its output."""

    seconds: float
    cpu_seconds: float
    started: float
    returncode: int
    peak_memory_mb: float
    output: str
    stderr: str = ""


def timed(
    args: list[str], cwd: Path, env: dict[str, str], log: Path | None = None, *, merge_stderr: bool = True
) -> Timed:
    """Run `args` to completion and exit the benchmark if it fails.

    `wait4` gives the CPU time and peak RSS of the process and its descendants (the largest
    one's, not the largest of every child so far, which `RUSAGE_CHILDREN` would give). Output
    goes to `log` (a temporary file without one); with `merge_stderr`, stderr goes there too,
    else it is kept apart in `Timed.stderr`.
    """
    sink = log.open("w+", encoding="utf-8", errors="replace") if log else _scratch()
    servers_before = stage_servers_cpu(env)
    with sink as out, _scratch() as err:
        started, clock = time.time(), time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT if merge_stderr else err, text=True
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - clock
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = output[-4000:] if merge_stderr else f"{output[-2000:]}\n{stderr[-4000:]}"
        sys.exit(f"{' '.join(args)} exited {proc.returncode}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime + stage_servers_cpu(env) - servers_before
    return Timed(seconds, cpu, started, proc.returncode, usage.ru_maxrss / 1024, output, stderr)


def stage_servers(env: dict[str, str]) -> list[int]:
    """The pids of the stage servers (`census_income.stages.forkserver`) of the runs given `env`:
    those whose files are in its `XDG_RUNTIME_DIR` (each project copy here has its own)."""
    folder = env.get("XDG_RUNTIME_DIR")
    found = []
    for entry in Path("/proc").iterdir() if folder else []:
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace") if entry.name.isdigit() else ""
        except OSError:
            continue
        if "census_income.stages.forkserver" in cmdline and f"{folder}/" in cmdline:
            found.append(int(entry.name))
    return found


def stage_servers_cpu(env: dict[str, str]) -> float:
    """CPU seconds of those servers and of their ended children (the stages they forked): a
    served stage is not a descendant of the `dvc` command, so `wait4` does not count it."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in stage_servers(env):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / ticks  # utime stime cutime cstime
    return total


def stop_stage_servers(env: dict[str, str]) -> None:
    """End the stage servers of `env`'s runs, so the next run starts as after an idle while."""
    for pid in stage_servers(env):
        os.kill(pid, 15)
    deadline = time.monotonic() + 30
    while stage_servers(env) and time.monotonic() < deadline:
        time.sleep(0.05)


def _scratch() -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")


def stamp() -> str:
    """Now, as results.md writes it."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def machine() -> str:
    """`2 cores (x86_64, Python 3.11.7)`."""
    return f"{os.cpu_count()} cores ({platform.machine()}, Python {platform.python_version()})"


def load_text(values: tuple[float, ...], digits: int = 2) -> str:
    """A load average triple (1/5/15 min) as `1.00 / 2.00 / 3.00`."""
    return " / ".join(f"{value:.{digits}f}" for value in values)


def finished_stages(log_file: Path) -> list[tuple[str, dict[str, Any]]]:
    """Finished stage runs in the JSON run log, in the order they ran, as `(name, event)`; a name
    that occurs more than once gets its number (`ingest (2)`). Exits if a stage run failed."""
    events = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    finished = [e for e in events if e.get("status") != "start"]
    failed = [e for e in finished if e.get("status") != "ok"]
    if failed:
        sys.exit(f"stage runs did not succeed: {failed}")
    names = [e["stage"] for e in finished]
    numbered = []
    for index, event in enumerate(finished):
        name = event["stage"]
        if names.count(name) > 1:
            name = f"{name} ({names[: index + 1].count(name)})"
        numbered.append((name, event))
    return numbered


def project_copy(dest: Path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of the project (what a clone holds, committed, nothing reproduced) and the
    environment for `dvc` in it: the test fixtures' own copy."""
    if str(REPO_ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import make_project_copy

    project = make_project_copy(dest)
    env = project_env(project)
    atexit.register(stop_stage_servers, env)  # the copy goes with the benchmark; its servers too
    return project, env


def project_env(project: Path) -> dict[str, str]:
    """The environment for `dvc` in an existing project copy (see `project_copy`): the stage
    servers as a user has them (default idle time), their files beside the copy."""
    if str(REPO_ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import project_env as env_for

    env: dict[str, str] = env_for(project)
    env.pop("CENSUS_INCOME_STAGE_SERVER_IDLE", None)
    env["XDG_RUNTIME_DIR"] = str(project.parent / "stage-servers")
    Path(env["XDG_RUNTIME_DIR"]).mkdir(exist_ok=True)
    return env


def replace_section(text: str, section: str) -> str:
    """`text` with the `## ...` section that starts like `section` (its first line) replaced
    by `section`, or `section` appended; every other section is left as it was."""
    title = section.splitlines()[0]
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    return text.rstrip("\n") + "\n"


def update_results(path: Path, section: str, header: str = RESULTS_HEADER) -> None:
    """Replace this benchmark's section of results.md (or append it), leaving the others alone;
    a missing file starts with `header`."""
    text = path.read_text(encoding="utf-8") if path.exists() else header
    path.write_text(replace_section(text, section), encoding="utf-8")


def publish(path: Path, section: str, header: str = RESULTS_HEADER) -> None:
    """What every benchmark ends with: print its section, then write it into results.md."""
    print()
    print(section)
    update_results(path, section, header)
    print(f"written to {path}")
