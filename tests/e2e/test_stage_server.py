"""The stage server (`census_income.stages.forkserver`): real servers, real forked stages.

Each test gets its own server folder (`XDG_RUNTIME_DIR`) and so its own servers, which end a
few seconds after their last request.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from census_income.stages import launch
from tests.conftest import project_env

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the stage server is Linux only")

ENVIRONMENT_STAGE = ["environment", "--lock", "uv.lock", "--out", "reports/environment.json"]


@pytest.fixture
def work(fresh_project: Path) -> Path:
    """A project copy to run stages in (its code is what they run)."""
    return fresh_project


@pytest.fixture
def server_env(work: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The copy's environment, a private server folder and run log, servers idle out in 5 s."""
    env = project_env(work)
    env.update(
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        CENSUS_INCOME_LOG_DIR=str(tmp_path / "logs"),
        CENSUS_INCOME_STAGE_SERVER_IDLE="5",
    )
    (tmp_path / "run").mkdir()
    yield env
    stop_servers(tmp_path / "run")


def stop_servers(folder: Path) -> None:
    for pid in server_pids(folder):
        os.kill(pid, signal.SIGTERM)


def server_pids(folder: Path) -> list[int]:
    """Servers whose socket is in `folder` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "census_income.stages.forkserver" in cmdline and str(folder) in cmdline:
                found.append(int(entry.name))
    return found


def stage(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m census_income.stages <args>`; its pid is kept in `args[0]` of the result."""
    caller = subprocess.Popen(
        [sys.executable, "-m", "census_income.stages", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = caller.communicate(timeout=120)
    return subprocess.CompletedProcess(caller.pid, caller.returncode, stdout, stderr)


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "census_income.stages", *args], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )


def wait_for_server(folder: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = list(folder.glob("census-income-*/*.pid"))
        if ready:
            return ready[0]
        time.sleep(0.05)
    pytest.fail(f"no stage server came up in {folder}")


def run_log(env: dict[str, str]) -> list[dict]:
    path = Path(env["CENSUS_INCOME_LOG_DIR"]) / "pipeline.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_stage_runs_itself_then_in_a_child_of_the_server_with_the_same_output(
    server_env: dict[str, str], work: Path, tmp_path: Path
) -> None:
    first = stage(ENVIRONMENT_STAGE, work, server_env)
    assert first.returncode == 0, first.stderr
    direct = (work / "reports" / "environment.json").read_bytes()
    wait_for_server(tmp_path / "run")
    second = stage(ENVIRONMENT_STAGE, work, server_env)
    assert second.returncode == 0, second.stderr
    assert (work / "reports" / "environment.json").read_bytes() == direct
    assert "environment: done" in second.stderr  # the child wrote to the caller's stderr
    events = [e for e in run_log(server_env) if e["status"] == "ok"]
    assert [e["pid"] for e in events] == [first.args, events[1]["pid"]]
    # served: a forked child of the server, not the caller, with no interpreter start-up
    assert events[1]["pid"] != second.args
    assert events[1]["startup"] < events[0]["startup"]


def test_a_served_stage_keeps_its_error_line_and_exit_code(
    server_env: dict[str, str], work: Path, tmp_path: Path
) -> None:
    stage(ENVIRONMENT_STAGE, work, server_env)
    wait_for_server(tmp_path / "run")
    missing = stage(["ingest", "--source", "nowhere.csv", "--out", "x.parquet", "--gates", "g.json"], work, server_env)
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1].endswith("ERROR ingest@x: source nowhere.csv: not found")
    assert not (work / "x.parquet").exists()
    usage = stage(["ingest"], work, server_env)
    assert usage.returncode == 2
    assert "the following arguments are required: --source, --out, --gates" in usage.stderr
    unknown = stage(["bogus"], work, server_env)
    assert unknown.returncode == 2
    assert "usage: python -m census_income.stages {environment," in unknown.stderr


def blocked_ingest(work: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """An ingest that runs until it is stopped: its source is a pipe nobody writes."""
    fifo = work / "never-written"
    os.mkfifo(fifo)
    return start(["ingest", "--source", str(fifo), "--out", "x.parquet", "--gates", "g.json"], work, env)


def test_killing_the_caller_kills_its_served_stage_at_once(
    server_env: dict[str, str], work: Path, tmp_path: Path
) -> None:
    """DVC kills the process it started; the forked stage must not live on and write outputs."""
    stage(ENVIRONMENT_STAGE, work, server_env)
    wait_for_server(tmp_path / "run")
    caller = blocked_ingest(work, server_env)
    child = wait_for_child(tmp_path / "run")
    caller.kill()
    assert caller.wait(timeout=30) == -signal.SIGKILL
    assert gone(child, timeout=5), "the served stage outlived its caller"
    assert not (work / "x.parquet").exists()


def test_an_interrupt_reaches_the_served_stage(server_env: dict[str, str], work: Path, tmp_path: Path) -> None:
    stage(ENVIRONMENT_STAGE, work, server_env)
    wait_for_server(tmp_path / "run")
    caller = blocked_ingest(work, server_env)
    child = wait_for_child(tmp_path / "run")
    caller.send_signal(signal.SIGINT)
    # the blocked open() is interrupted; the harness reports it and exits 1
    _, stderr = caller.communicate(timeout=30)
    assert caller.returncode == 1, stderr
    assert "ingest@x: interrupted" in stderr
    assert gone(child, timeout=5)


def wait_for_child(folder: Path, timeout: float = 60) -> int:
    """The pid of the server's child in `folder`, once it waits for its source pipe."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for server in server_pids(folder):
            for child in Path(f"/proc/{server}/task/{server}/children").read_text().split():
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{child}/wchan").read_text() == "wait_for_partner":
                        return int(child)
        time.sleep(0.02)
    pytest.fail("the server forked no child that opened the pipe")


def gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_a_server_ends_when_idle_and_a_new_one_serves_after(
    server_env: dict[str, str], work: Path, tmp_path: Path
) -> None:
    server_env["CENSUS_INCOME_STAGE_SERVER_IDLE"] = "1"
    stage(ENVIRONMENT_STAGE, work, server_env)
    ready = wait_for_server(tmp_path / "run")
    deadline = time.monotonic() + 30
    while (ready.exists() or server_pids(tmp_path / "run")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ready.exists(), "an idle server did not end"
    assert not server_pids(tmp_path / "run")
    assert not list(ready.parent.iterdir()), "an idle server left files behind"
    assert stage(ENVIRONMENT_STAGE, work, server_env).returncode == 0  # runs itself, starts a server
    wait_for_server(tmp_path / "run")


def test_a_queued_experiments_copy_has_a_server_that_ends_soon(
    server_env: dict[str, str], work: Path, tmp_path: Path
) -> None:
    """A queued experiment runs in `.dvc/tmp/exps/...` (removed when it ends) with its own server;
    those lingered for the whole idle time, one per experiment of a sweep (~300 MB each)."""
    copy = tmp_path / "outer" / ".dvc" / "tmp" / "exps" / "run" / "abc123"
    shutil.copytree(work, copy, symlinks=True)
    server_env["CENSUS_INCOME_STAGE_SERVER_IDLE"] = "300"
    assert stage(ENVIRONMENT_STAGE, copy, server_env).returncode == 0
    ready = wait_for_server(tmp_path / "run")
    started = time.monotonic()
    while server_pids(tmp_path / "run") and time.monotonic() - started < 60:
        time.sleep(0.2)
    assert not server_pids(tmp_path / "run") and not ready.exists()
    assert time.monotonic() - started < 40  # 15 s idle, not 300


def test_switched_off_no_server_starts(server_env: dict[str, str], work: Path, tmp_path: Path) -> None:
    server_env["CENSUS_INCOME_STAGE_SERVER"] = "0"
    assert stage(ENVIRONMENT_STAGE, work, server_env).returncode == 0
    time.sleep(0.5)
    assert not list((tmp_path / "run").glob("census-income-*/*")), "a server started while switched off"
    assert not server_pids(tmp_path / "run")


def test_the_server_key_follows_code_interpreter_state_and_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another copy of the code, an edited source file or an environment variable the imports
    may read: another server. What DVC sets per run: the same one."""
    base = launch.server_key()
    monkeypatch.setenv("DVC_EXP_NAME", "some-experiment")
    monkeypatch.setenv("CENSUS_INCOME_LOG_DIR", str(tmp_path))
    assert launch.server_key() == base
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert launch.server_key() != base
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    assert launch.server_key() != base
    monkeypatch.undo()
    source = Path(launch.__file__)
    stat = source.stat()
    try:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        assert launch.server_key() != base
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert launch.server_key() == base


@pytest.mark.parametrize("idle", ["abc", "0", "-5"])
def test_an_idle_time_that_is_not_seconds_says_so_and_the_stage_runs_itself(
    server_env: dict[str, str], work: Path, tmp_path: Path, idle: str
) -> None:
    server_env["CENSUS_INCOME_STAGE_SERVER_IDLE"] = idle
    result = stage(ENVIRONMENT_STAGE, work, server_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"CENSUS_INCOME_STAGE_SERVER_IDLE={idle}: not a positive number of seconds; no stage server for this stage"
    )
    time.sleep(0.5)
    assert not server_pids(tmp_path / "run")


def test_a_server_stopped_by_hand_leaves_no_files(server_env: dict[str, str], work: Path, tmp_path: Path) -> None:
    stage(ENVIRONMENT_STAGE, work, server_env)
    ready = wait_for_server(tmp_path / "run")
    stop_servers(tmp_path / "run")
    deadline = time.monotonic() + 30
    while server_pids(tmp_path / "run") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(ready.parent.iterdir())


def test_make_and_an_activated_shell_share_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    base = launch.server_key()
    monkeypatch.setenv("MAKEFLAGS", "-j2")
    monkeypatch.setenv("MAKELEVEL", "1")
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/.venv")
    monkeypatch.setenv("PATH", "/somewhere/.venv/bin:" + os.environ.get("PATH", ""))
    assert launch.server_key() == base
