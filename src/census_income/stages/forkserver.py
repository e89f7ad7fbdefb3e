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
code (every source file's size and mtime) and one environment (but the variables DVC, `make`,
an activated shell and this project set per run: `launch.PER_RUN_*`): anything else gets another
server. None is running, or it is still importing: the caller runs the stage itself, as before,
and starts one in the background for the next stage. A server ends after
`CENSUS_INCOME_STAGE_SERVER_IDLE` seconds (300) without a request; `CENSUS_INCOME_STAGE_SERVER=0`
turns all this off. Linux only.

The server never runs stage code or OpenMP itself (a fork after OpenMP threads ran is unsafe);
it only imports, then waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
from pathlib import Path

from census_income.stages.launch import (
    DEFAULT_IDLE_SECONDS,
    MESSAGE_BYTES,
    STAGES,
    idle_seconds,
    run_stage_module,
    server_address,
)

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
    listener.bind(server_address(stem))
    listener.listen(64)
    stem.with_suffix(".pid").write_text(f"{os.getpid()}\n")
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: _leave(stem))  # stopped by hand: no stale files either
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wakeup_read, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    idle = idle_seconds() or DEFAULT_IDLE_SECONDS
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
    _leave(stem)


def _leave(stem: Path) -> None:
    """End the server, leaving no file behind (the lock too: the next server locks whatever file
    the path then names). Nothing to flush; a teardown of everything imported would take a second."""
    for suffix in (".pid", ".log", ".lock"):
        stem.with_suffix(suffix).unlink(missing_ok=True)
    os._exit(0)


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


def _same_user(conn: socket.socket) -> bool:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return bool(uid == os.getuid())


def _preload() -> None:
    import importlib

    for name in (*(f"census_income.stages.{stage}" for stage in STAGES), *PRELOADED):
        importlib.import_module(name)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
