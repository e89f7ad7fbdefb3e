"""The `census-income serve` command: its options, and uvicorn running the app.

One worker serves from this process (SIGHUP reloads it). With `--workers N`, uvicorn starts N
processes that each load the versions and follow the registry themselves (polling); SIGHUP then
goes to uvicorn's supervisor, which replaces the workers one at a time (each new one serving
before the old one retires). The workers' metrics are kept in a shared folder of files, so a scrape
answered by any of them counts every worker's requests (see `serving.metrics`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from census_income.errors import InputError
from census_income.paths import given_model
from census_income.serving.metrics import MULTIPROCESS_VARIABLE

# the settings of `--workers N` processes, handed down by the environment
SETTINGS_VARIABLE = "CENSUS_INCOME_SERVE_SETTINGS"
GRACEFUL_SECONDS = 30


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `census-income serve`."""
    parser.add_argument(
        "--model", type=given_model, default="prod", help="a version (v1.2.0), a stage (prod) or the model file"
    )
    parser.add_argument(
        "--canary", type=given_model, help="a second version or stage that answers --canary-share of request keys"
    )
    parser.add_argument("--canary-share", type=float, default=0.1, help="share of request keys the canary answers")
    parser.add_argument(
        "--shadow", type=given_model, help="also score every primary request with this version; answers stay primary"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes (each loads the models)")
    parser.add_argument("--max-rows", type=int, default=10_000, help="rows per request at most (413 above)")
    parser.add_argument("--max-body-bytes", type=int, default=16 << 20, help="body size at most (413 above)")
    parser.add_argument("--body-timeout", type=float, default=10.0, help="seconds to receive a body (408 after)")
    parser.add_argument(
        "--head-timeout", type=float, default=10.0, help="seconds to receive a request's headers (closed after)"
    )
    parser.add_argument("--no-batching", action="store_true", help="one model call per request")
    parser.add_argument("--max-batch-rows", type=int, default=2_000, help="rows per grouped model call at most")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="longest wait for more requests to group")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="how often the registry's tags are checked")
    parser.add_argument("--drift-rows", type=int, default=10_000, help="recent rows the drift gauges describe")


def settings_of(args: argparse.Namespace, root: Path) -> Any:
    """The service's settings from the options, checked."""
    from census_income.serving.app import Settings
    from census_income.serving.reload import Specs

    if not 0 <= args.canary_share <= 1:
        raise InputError("--canary-share must be between 0 and 1")
    for name in ("workers", "max_rows", "max_body_bytes", "max_batch_rows", "drift_rows"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("body_timeout", "head_timeout", "poll_seconds"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    if args.max_wait_ms < 0:
        raise InputError("--max-wait-ms must not be negative")
    specs = Specs(args.model, args.canary, args.canary_share if args.canary else 0.0, args.shadow)
    return Settings(
        specs=specs,
        root=root,
        max_rows=args.max_rows,
        max_body_bytes=args.max_body_bytes,
        body_timeout=args.body_timeout,
        head_timeout=args.head_timeout,
        batching=not args.no_batching,
        max_batch_rows=args.max_batch_rows,
        max_wait_ms=args.max_wait_ms,
        poll_seconds=args.poll_seconds,
        drift_rows=args.drift_rows,
    )


def serve_command(args: argparse.Namespace) -> int:
    """Load and verify the versions (a refusal is one line, before any port is opened), then serve."""
    import uvicorn

    from census_income.serving.app import Service, create_app
    from census_income.serving.heads import PROTOCOL, HeadDeadlineProtocol

    settings = settings_of(args, Path.cwd())
    console_log()
    service = Service(settings)
    HeadDeadlineProtocol.head_seconds = settings.head_timeout
    common = {"host": args.host, "port": args.port, "timeout_graceful_shutdown": GRACEFUL_SECONDS, "http": PROTOCOL}
    if args.workers == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(service), access_log=False, **common))
        # after its graceful shutdown uvicorn raises the signal that stopped it again, with the handler
        # it found; ignored, a SIGTERM ends `serve` with status 0 (a stop asked for) rather than -15
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.run()
        return 0
    del service  # checked; each worker loads its own
    os.environ[SETTINGS_VARIABLE] = json.dumps({**asdict(settings), "root": str(settings.root)})
    with tempfile.TemporaryDirectory(prefix="census-income-metrics-") as metrics_folder:
        os.environ[MULTIPROCESS_VARIABLE] = metrics_folder  # the workers start after this: they share it
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=args.workers, access_log=False, **common)
    return 0


def worker_app() -> Any:
    """The app of one `--workers` process, from the settings its parent handed down."""
    from census_income.serving.app import Service, Settings, create_app
    from census_income.serving.heads import HeadDeadlineProtocol
    from census_income.serving.reload import Specs

    console_log()
    given = json.loads(os.environ[SETTINGS_VARIABLE])
    settings = Settings(**{**given, "specs": Specs(**given["specs"]), "root": Path(given["root"])})
    HeadDeadlineProtocol.head_seconds = settings.head_timeout
    return create_app(Service(settings))


def console_log() -> None:
    """The project's log lines (versions loaded, reloads, refusals, failures) on stderr, timed."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log = logging.getLogger("census_income")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
