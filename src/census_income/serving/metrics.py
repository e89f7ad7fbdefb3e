"""What `GET /metrics` exposes (Prometheus text format, prometheus-client), one registry per app.

Requests by status and answering version, latency, rows scored and refused, canary and
shadow traffic, the shadow's disagreement rate and failures, model reloads (loaded or refused) and the
drift of the recently served rows: PSI per feature against the training rows of the
version that scores them.

With `--workers N` the processes share one folder of metric files (prometheus-client's
multiprocess mode, named by `MULTIPROCESS_VARIABLE`), so a scrape answered by any worker sums
every worker's counters and histograms; gauges are per live worker (a `pid` label).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

PREFIX = "census_income_serve"
# set before a worker imports prometheus-client: its metrics then live in files in that folder
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PER_WORKER: Final = "liveall"  # how a gauge reads across workers: each live worker's value, by pid
# request latency in seconds: fine steps where single rows land, coarse for big requests
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """The server's counters, histograms and gauges in a registry of its own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series beside every counter: scrapes stay short
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests", "requests to /predict by status and version", ["status", "version"], registry=r
        )
        self.latency = Histogram(
            f"{PREFIX}_request_seconds",
            "latency of /predict by version",
            ["version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows_scored = Counter(f"{PREFIX}_rows_scored", "rows scored by version", ["version"], registry=r)
        self.rows_rejected = Counter(f"{PREFIX}_rows_rejected", "rows refused by the input contract", registry=r)
        self.canary = Counter(f"{PREFIX}_canary_requests", "requests answered by the canary", ["version"], registry=r)
        self.shadow_rows = Counter(f"{PREFIX}_shadow_rows", "rows scored by the shadow", ["version"], registry=r)
        self.shadow_disagreements = Counter(
            f"{PREFIX}_shadow_disagreements", "rows the shadow decided differently", ["version"], registry=r
        )
        self.shadow_failures = Counter(
            f"{PREFIX}_shadow_failures", "rows whose shadow pass failed (see the server log)", ["version"], registry=r
        )
        self.shadow_rate = Gauge(
            f"{PREFIX}_shadow_disagreement_rate",
            "share of shadowed rows decided differently",
            ["version"],
            registry=r,
            multiprocess_mode=PER_WORKER,
        )
        self.batch_rows = Histogram(
            f"{PREFIX}_batch_rows",
            "rows per model call (requests grouped by the batcher)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.reloads = Counter(
            f"{PREFIX}_reloads", "model reloads by outcome (loaded, refused)", ["outcome"], registry=r
        )
        self.model = Gauge(
            f"{PREFIX}_model_info",
            "the versions served, by role",
            ["role", "version", "commit"],
            registry=r,
            multiprocess_mode=PER_WORKER,
        )
        self.drift = Gauge(
            f"{PREFIX}_drift_psi",
            "PSI per feature of the recent rows against the training rows",
            ["version", "feature"],
            registry=r,
            multiprocess_mode=PER_WORKER,
        )
        self.drift_rows = Gauge(
            f"{PREFIX}_drift_window_rows",
            "rows in the drift window",
            ["version"],
            registry=r,
            multiprocess_mode=PER_WORKER,
        )

    def text(self) -> bytes:
        """The exposition: this process's registry, or every worker's files in multiprocess mode."""
        if not os.environ.get(MULTIPROCESS_VARIABLE):
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        every_worker = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_worker)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)
