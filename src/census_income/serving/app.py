"""`census-income serve`: the HTTP service (FastAPI, run by uvicorn) over the batch scoring path.

`POST /predict` parses the body (`bodies`), picks the version by the request key (canary),
and scores the rows with `score_rows`, the function `census-income predict` scores its
chunks with: the same input contract (compiled per row, `contracts.rows`), the same
preparation, the same model call (grouped across requests by the `Batcher`). `GET /health`,
`/ready`, `/version` and `/metrics` (Prometheus) describe it. The registry is followed on
SIGHUP and by polling its tags (`reload`). Every bad request gets its status and a message;
nothing a client sends stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from census_income.errors import PipelineError, RequestError
from census_income.serving.batching import Batcher
from census_income.serving.bodies import TextRows, parse_body
from census_income.serving.fast import fast_scored
from census_income.serving.metrics import Metrics
from census_income.serving.reload import Deployment, Follower, Served, Specs, describe_version
from census_income.serving.scorer import Scored, score_rows
from census_income.serving.shadowing import Shadowing
from census_income.serving.small import Prepared, score_small

log = logging.getLogger("census_income")
KEY_HEADER = "x-request-key"
VERSION_HEADER = "x-model-version"


@dataclass(frozen=True)
class Settings:
    """How the service runs (the options of `census-income serve`)."""

    specs: Specs
    root: Path
    max_rows: int = 10_000
    max_body_bytes: int = 16 << 20
    body_timeout: float = 10.0
    head_timeout: float = 10.0
    batching: bool = True
    max_batch_rows: int = 2_000
    max_wait_ms: float = 2.0
    poll_seconds: float = 5.0
    drift_rows: int = 10_000


class Service:
    """The loaded deployment, the batcher and the metrics behind the routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.follower = Follower(settings.root, settings.specs, self.metrics, settings.drift_rows)
        wait = settings.max_wait_ms / 1000
        observe = self.metrics.batch_rows.observe
        self.batcher = Batcher(
            self.process, settings.max_batch_rows, wait, settings.batching, observe=observe, answered=self.count_drift
        )
        # the shadow's model calls on the primary's prepared rows, grouped the same way
        self.shadow = Shadowing(self.metrics, settings.max_batch_rows, wait, settings.batching)

    @staticmethod
    def process(served: Served, raw: pd.DataFrame | TextRows) -> Scored:
        """The scoring path of `predict` over a request's rows, or a batch of requests' rows (a few
        JSON rows that all pass: from their values, without frames; the same answer)."""
        fast = fast_scored(served.scorer, served.gate, raw.values) if isinstance(raw, TextRows) else None
        if fast is not None:
            return fast
        frame = raw.frame() if isinstance(raw, TextRows) else raw
        return score_rows(served.scorer, frame, served.gate.keep, score_small)

    @staticmethod
    def count_drift(served: Served, prepared: pd.DataFrame | Prepared) -> None:
        """The rows a pass answered, into the drift window of the version that scored them."""
        served.window.update(prepared)

    def answer(self, deployment: Deployment, body: bytes, content_type: str, key: str | None) -> dict[str, Any]:
        """Score one request's rows with the version its key routes to (runs in a worker thread)."""
        cfg = deployment.primary.scorer.cfg
        rows = parse_body(body, content_type, cfg.format, cfg.schema_.label.column, self.settings.max_rows)
        served, role = deployment.route(key if key is not None else rows.key)
        try:
            scored = self.batcher.submit(served, rows.table)
        except RequestError as refused:  # the rows refused as a whole (not the data set's columns)
            self.metrics.rows_rejected.inc(len(rows.table))
            refused.version = served.version
            raise
        if scored.failures:
            bad = len({f.row for f in scored.failures})
            self.metrics.rows_rejected.inc(bad)
            detail = f"{bad} of {len(rows.table)} rows refused by the input contract; nothing scored"
            raise RequestError(detail, status=422, errors=scored.failures, version=served.version)
        self.metrics.rows_scored.labels(served.version).inc(len(scored.scores))
        if role == "canary":
            self.metrics.canary.labels(served.version).inc()
        return {
            "model_version": served.version,
            "role": role,
            "predictions": [
                {"probability": p, "label": int(label)}
                for p, label in zip(scored.scores.tolist(), scored.labels.tolist(), strict=True)
            ],
            "_scored": scored,
        }

    def metrics_text(self) -> bytes:
        """The metrics, with the drift gauges computed from each served version's window now."""
        self.metrics.drift.clear()
        for role, served in self.follower.current.roles().items():
            if role == "shadow":
                continue
            for feature, value in served.window.psi().items():
                self.metrics.drift.labels(served.version, feature).set(value)
            self.metrics.drift_rows.labels(served.version).set(served.window.rows)
        return self.metrics.text()


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, or 413 when it is longer than `limit` (read to its end all the same, so the
    client can read the answer), or 408 when it takes longer than `timeout` to arrive."""
    declared = request.headers.get("content-length")
    too_long = declared is not None and declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                too_long = too_long or size > limit
                if not too_long:
                    chunks.append(chunk)
    except TimeoutError:
        raise RequestError(status=408, detail=f"body not received within {timeout:g} s") from None
    if too_long:
        raise RequestError(status=413, detail=f"body longer than {limit:,} bytes: at most {limit:,} bytes per request")
    return b"".join(chunks)


def create_app(service: Service) -> FastAPI:
    """The FastAPI application over a loaded `Service`."""
    settings = service.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        # not in the main thread: no signals (asyncio: RuntimeError, uvloop: ValueError)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, wake.set)
        follow = asyncio.create_task(_follow(service.follower, wake, settings.poll_seconds))
        try:
            yield
        finally:
            follow.cancel()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)

    app = FastAPI(title="census-income", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        deployment = service.follower.current  # this request's versions, whatever reloads meanwhile
        status, version, task = 500, "-", None  # what the metrics count if something unforeseen raises
        try:
            try:
                body = await read_body(request, settings.max_body_bytes, settings.body_timeout)
                payload = await run_in_threadpool(
                    service.answer,
                    deployment,
                    body,
                    request.headers.get("content-type", ""),
                    request.headers.get(KEY_HEADER),
                )
                scored: Scored = payload.pop("_scored")
                status, version = 200, payload["model_version"]
                if deployment.shadow is not None and payload["role"] == "primary":
                    task = BackgroundTask(service.shadow, deployment.shadow, scored)
            except RequestError as problem:
                status, payload, version = problem.status, problem.body(), problem.version
        finally:
            service.metrics.requests.labels(str(status), version).inc()
            service.metrics.latency.labels(version).observe(time.perf_counter() - started)
        headers = {VERSION_HEADER: version} if status == 200 else None
        return JSONResponse(payload, status_code=status, headers=headers, background=task)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready")
    async def ready() -> Response:
        current = service.follower.current
        return JSONResponse({"ready": True, "versions": {r: s.version for r, s in current.roles().items()}})

    @app.get("/version")
    async def version() -> dict[str, Any]:
        current = service.follower.current
        described = {
            role: await run_in_threadpool(describe_version, served, settings.root)
            for role, served in current.roles().items()
        }
        return {**described, "canary_share": current.canary_share if current.canary else 0.0}

    @app.get("/metrics")
    async def metrics() -> Response:
        text = await run_in_threadpool(service.metrics_text)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


async def _follow(follower: Follower, wake: asyncio.Event, every: float) -> None:
    """Reload on SIGHUP (`wake`) or when the registry's tags changed (checked every `every` s)."""
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await wake.wait()
        hup = wake.is_set()
        wake.clear()
        try:
            if hup or await run_in_threadpool(follower.changed):
                await run_in_threadpool(follower.refresh, "SIGHUP" if hup else "registry tags changed")
        except (PipelineError, OSError) as exc:  # git or the registry unreadable for a moment
            log.error("serve: following the registry failed, still serving: %s", exc)
