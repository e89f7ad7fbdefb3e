"""A stage server: stage processes forked from one that has already imported everything.

Every stage process used to spend about 3 s before its work began: the interpreter, pandas,
scikit-learn and Great Expectations' import (about 1.4 s of its own). `dvc repro` of the
inner loop (train, evaluate) paid that twice, a cold run seven times. `python -m
census_income.stages <stage> ...` (the stage commands in `dvc.yaml`) asks a server that
holds those modules to fork: the child takes the caller's standard streams, working folder,
environment and arguments, runs the stage module as `__main__`, and its exit status becomes
the caller's. The caller stays the process DVC waits for and signals: it forwards SIGINT,
SIGTERM and SIGHUP to the child, and if the caller dies (SIGKILL included) the kernel kills the
child at once (an asynchronous-I/O signal on their socket), so no stage outlives its command.

A server serves one Python, one import path, one set of installed packages, one copy of the
code (every source file's size and mtime) and one environment (but the variables DVC and this
project set per run): anything else gets another server. None is running, or it is still
importing: the caller runs the stage itself, as before, and starts one in the background for
the next stage. A server ends after `CENSUS_INCOME_STAGE_SERVER_IDLE` seconds (300) without a
request; `CENSUS_INCOME_STAGE_SERVER=0` turns all this off. Linux only.

The server never runs stage code or OpenMP itself (a fork after OpenMP threads ran is unsafe);
it only imports, then waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

SWITCH = "CENSUS_INCOME_STAGE_SERVER"
IDLE_SECONDS = "CENSUS_INCOME_STAGE_SERVER_IDLE"
DEFAULT_IDLE_SECONDS = 300.0
# variables that differ from run to run and that nothing reads while importing
PER_RUN_PREFIXES = ("DVC_", "DVCLIVE_", "CENSUS_INCOME_")
PER_RUN_NAMES = ("PWD", "OLDPWD", "_", "SHLVL")
# what stages import lazily, as they run (found by listing `sys.modules` after each stage):
# Great Expectations (a gate's first check), dvclive and the DVC repository it opens (evaluate),
# Parquet, and the scikit-learn modules a fitted featurizer or model unpickles
PRELOADED = (
    "great_expectations",
    "dvclive.live",
    "dvc.repo",
    "dvc.repo.artifacts",
    "dvc.repo.datasets",
    "dvc.repo.experiments",
    "dvc.repo.metrics.show",
    "dvc.repo.params.show",
    "dvc.repo.plots",
    "dvc.repo.stage",
    "dvc.cachemgr",
    "dvc.data_cloud",
    "dulwich.porcelain",
    "scmrepo.git",
    "configobj",
    "platformdirs",
    "multiprocessing.dummy",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "pyarrow.pandas_compat",
    "narwhals._pandas_like.dataframe",
    "census_income.modeling.features",
    "sklearn.calibration",
    "sklearn.impute",
    "sklearn.inspection",
)
STAGES = ("environment", "generate", "ingest", "prepare", "split", "featurize", "train", "evaluate")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MESSAGE_BYTES = 1 << 20


def run_served(stage: str, argv: list[str]) -> int | None:
    """Run `stage` in a forked child of this environment's server and return its exit code,
    or None when no server is ready (the caller then runs the stage itself)."""
    stem = _server_stem()
    if stem is None:
        return None
    forwarder = _Forwarder()
    code = _request(stem, stage, argv, forwarder)
    if code is None:
        forwarder.restore()
    return code


def _request(stem: Path, stage: str, argv: list[str], forwarder: _Forwarder) -> int | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(_address(stem))
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _server_stem() -> Path | None:
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
    key = _server_key()
    return folder / key


def _address(stem: Path) -> str:
    """The server's socket: in Linux's abstract namespace (no path length limit, nothing left
    behind); only processes of this user are served (`_same_user`)."""
    return "\0census-income-stage-server-" + hashlib.sha256(str(stem).encode()).hexdigest()[:32]


def _same_user(conn: socket.socket) -> bool:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return bool(uid == os.getuid())


def _server_key() -> str:
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
    with stem.with_suffix(".log").open("w") as log:  # what the server says, for whoever wonders why
        subprocess.Popen(
            [sys.executable, "-m", "census_income.stages.forkserver", str(stem)],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def serve(stem: Path) -> None:
    """Import everything a stage uses, then fork a child per request until idle."""
    lock = stem.with_suffix(".lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server for the same key won the race
    try:
        _preload()
    except (ImportError, SyntaxError, OSError) as exc:  # callers keep running stages themselves
        stem.with_suffix(".failed").write_text(f"{type(exc).__name__}: {exc}\n")
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(_address(stem))
    listener.listen(64)
    stem.with_suffix(".pid").write_text(f"{os.getpid()}\n")
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wakeup_read, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    idle = float(os.environ.get(IDLE_SECONDS) or DEFAULT_IDLE_SECONDS)
    while True:
        ready = selector.select(None if children else idle)
        if not ready and not children:
            break
        for key, _events in ready:
            if key.fileobj is listener:
                conn, _ = listener.accept()
                if not _same_user(conn):
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    for closed in (listener, *children.values()):
                        closed.close()
                    lock.close()
                    selector.close()
                    os.close(wakeup_read)
                    os.close(wakeup_write)
                    _child(conn)
                children[pid] = conn
            else:
                os.read(wakeup_read, 4096)
        _reap(children)
    stem.with_suffix(".pid").unlink(missing_ok=True)
    os._exit(0)  # nothing to flush; a teardown of everything imported would take a second


def _reap(children: dict[int, socket.socket]) -> None:
    """Tell each ended child's caller how it ended. The caller's socket stops signalling the
    child's pid before the pid is released (a zombie's pid is not reused)."""
    while True:
        try:
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if ended is None:
            return
        conn = children.pop(ended.si_pid)
        fcntl.fcntl(conn, fcntl.F_SETFL, fcntl.fcntl(conn, fcntl.F_GETFL) & ~os.O_ASYNC)
        _, status = os.waitpid(ended.si_pid, 0)
        with contextlib.suppress(OSError):  # the caller is gone
            conn.send(json.dumps({"status": status}).encode())
        conn.close()


def _child(conn: socket.socket) -> None:
    """Become the caller's stage process: its streams, folder, environment and arguments."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    message, fds, _flags, _address = socket.recv_fds(conn, MESSAGE_BYTES, 3)
    request = json.loads(message)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    _reopen_standard_streams()
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[:] = request["path"]
    try:
        conn.send(json.dumps({"pid": os.getpid()}).encode())
    except OSError:  # the caller is gone already: nothing to run for
        os._exit(1)
    # the caller's end closing (it exited, or was killed) kills this process at once
    fcntl.fcntl(conn, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(conn, fcntl.F_SETSIG, signal.SIGKILL)
    fcntl.fcntl(conn, fcntl.F_SETFL, fcntl.fcntl(conn, fcntl.F_GETFL) | os.O_ASYNC)
    run_stage_module(request["stage"], request["argv"])
    sys.exit(0)


def _reopen_standard_streams() -> None:
    """New stdin/stdout/stderr objects on the caller's descriptors, buffered as Python would
    buffer them had it started with those (line-buffered on a terminal; stderr always)."""
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        old = getattr(sys, name)
        line = fd == 2 or (fd == 1 and os.isatty(1))
        raw = open(fd, f"{mode}b", closefd=False)  # noqa: SIM115 - lives as long as the process
        stream = io.TextIOWrapper(raw, encoding=old.encoding, errors=old.errors, line_buffering=line)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def run_stage_module(stage: str, argv: list[str]) -> None:
    """Run `census_income.stages.<stage>` as `__main__` with `argv`, as `python -m` would."""
    import runpy

    sys.argv = [f"census_income.stages.{stage}", *argv]
    runpy.run_module(f"census_income.stages.{stage}", run_name="__main__", alter_sys=True)


def _preload() -> None:
    import importlib

    for name in (*(f"census_income.stages.{stage}" for stage in STAGES), *PRELOADED):
        importlib.import_module(name)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
