"""The caller's side of the stage server (`forkserver`): `python -m census_income.stages <stage>`.

It finds this environment's server, hands it the stage (arguments, working folder, environment,
standard streams), passes on the signals it gets and exits as the forked stage did; with no server
ready it says so (the caller then runs the stage itself) and starts one for the next stage. This
module imports only the standard library: it runs before every stage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

SWITCH = "CENSUS_INCOME_STAGE_SERVER"
IDLE_SECONDS = "CENSUS_INCOME_STAGE_SERVER_IDLE"
DEFAULT_IDLE_SECONDS = 300.0
# a queued experiment runs in a copy of the project (`.dvc/tmp/exps/...`, removed when it ends) with
# a server of its own (its own code): that server ends soon after, or a sweep kept one per experiment
EXPERIMENT_COPY = (".dvc", "tmp", "exps")
EXPERIMENT_IDLE_SECONDS = 15.0
# variables that differ from run to run, or between `make` and an activated shell, and that
# nothing reads while importing (a child gets the caller's whole environment all the same)
PER_RUN_PREFIXES = ("DVC_", "DVCLIVE_", "CENSUS_INCOME_", "MAKE")
PER_RUN_NAMES = ("PWD", "OLDPWD", "_", "SHLVL", "MFLAGS", "PATH", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "PS1")
STAGES = ("environment", "generate", "ingest", "prepare", "split", "featurize", "train", "evaluate")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MESSAGE_BYTES = 1 << 20


def run_served(stage: str, argv: list[str]) -> int | None:
    """Run `stage` in a forked child of this environment's server and return its exit code,
    or None when no server is ready (the caller then runs the stage itself)."""
    stem = server_stem()
    if stem is None or idle_seconds() is None:
        return None
    forwarder = _Forwarder()
    code = _request(stem, stage, argv, forwarder)
    if code is None:
        forwarder.restore()
    return code


def _request(stem: Path, stage: str, argv: list[str], forwarder: _Forwarder) -> int | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(server_address(stem))
    except OSError:
        conn.close()
        _start_server(stem)
        return None
    request = {
        "stage": stage,
        "argv": argv,
        "cwd": str(Path.cwd()),
        "path": sys.path,
        "env": dict(os.environ),
        "umask": _umask(),
    }
    with conn:
        try:
            socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
            first = conn.recv(MESSAGE_BYTES)
        except OSError:  # the server went away between connect and reply: nothing ran
            return None
        if not first:
            return None
        pid = json.loads(first)["pid"]
        forwarder.start(pid)
        message = conn.recv(MESSAGE_BYTES)
    if not message:
        sys.stderr.write(f"stage server: lost the exit status of its child {pid}\n")
        return 1
    code = os.waitstatus_to_exitcode(json.loads(message)["status"])
    if code < 0:  # killed by a signal: end the same way, so DVC reports it as it would have
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


class _Forwarder:
    """The signals DVC (or a terminal) sends the caller, passed on to the child; those that
    arrive before the child exists are held until it does."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[signal.Signals] = []
        self.previous = {signum: signal.signal(signum, self._handle) for signum in FORWARDED}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.pid is None:
            self.pending.append(signal.Signals(signum))
        else:
            _forward(self.pid, signum)

    def start(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            _forward(pid, signum)

    def restore(self) -> None:
        """No child after all: the caller runs the stage, and gets what it was sent meanwhile."""
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        for signum in self.pending:
            signal.raise_signal(signum)


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def idle_seconds() -> float | None:
    """How long a server lives without a request (`CENSUS_INCOME_STAGE_SERVER_IDLE`), or None,
    said on stderr, when that is not a positive number of seconds (stages then run themselves)."""
    given = os.environ.get(IDLE_SECONDS, "").strip()
    try:
        seconds = float(given) if given else DEFAULT_IDLE_SECONDS
    except ValueError:
        seconds = 0.0
    if seconds > 0 and seconds != float("inf"):
        return seconds
    sys.stderr.write(f"{IDLE_SECONDS}={given}: not a positive number of seconds; no stage server for this stage\n")
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def server_stem() -> Path | None:
    """Where this environment's server keeps its files (`<stem>.lock`, `.pid`, `.log`, `.failed`),
    or None when off or unsupported."""
    if os.environ.get(SWITCH, "1") in ("0", "off", "false", "no") or sys.platform != "linux":
        return None
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"census-income-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid():
            return None
    except OSError:
        return None
    key = server_key()
    return folder / key


def server_address(stem: Path) -> str:
    """The server's socket: in Linux's abstract namespace (no path length limit, nothing left
    behind); the server serves only processes of its own user."""
    return "\0census-income-stage-server-" + hashlib.sha256(str(stem).encode()).hexdigest()[:32]


def server_key() -> str:
    """What a server's imports depend on: the interpreter, the import path and what is installed
    there, this package's source files and the environment the imports read."""
    digest = hashlib.sha256()
    for part in (sys.executable, sys.version, *sys.path[1:]):
        digest.update(part.encode() + b"\0")
        try:
            digest.update(str(Path(part).stat().st_mtime_ns).encode())
        except OSError:
            digest.update(b"-")
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        stat = source.stat()
        digest.update(f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for name, value in sorted(os.environ.items()):
        if not (name.startswith(PER_RUN_PREFIXES) or name in PER_RUN_NAMES):
            digest.update(f"{name}={value}\0".encode())
    return digest.hexdigest()[:32]


def _start_server(stem: Path) -> None:
    """Start a server in the background unless one is starting (it holds the lock) or failed."""
    if stem.with_suffix(".failed").exists():
        return
    try:
        with stem.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    env = dict(os.environ)
    parts = Path.cwd().parts
    if any(parts[i : i + len(EXPERIMENT_COPY)] == EXPERIMENT_COPY for i in range(len(parts))):
        env[IDLE_SECONDS] = str(min(idle_seconds() or DEFAULT_IDLE_SECONDS, EXPERIMENT_IDLE_SECONDS))
    with stem.with_suffix(".log").open("w") as log:  # what the server says, for whoever wonders why
        subprocess.Popen(
            [sys.executable, "-m", "census_income.stages.forkserver", str(stem)],
            cwd="/",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def run_stage_module(stage: str, argv: list[str]) -> None:
    """Run `census_income.stages.<stage>` as `__main__` with `argv`, as `python -m` would."""
    import runpy

    sys.argv = [f"census_income.stages.{stage}", *argv]
    runpy.run_module(f"census_income.stages.{stage}", run_name="__main__", alter_sys=True)
