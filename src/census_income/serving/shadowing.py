"""The shadow: a second version scores each primary request's prepared rows after the answer left.

Its model calls are grouped like the primary's (a `Batcher` of their own) and the rows it decides
differently are counted. Whatever a shadow's pass raises is logged with its traceback and counted
(`shadow_failures_total`), and goes no further: the client already has its answer, and an exception
escaping the request's background task makes uvicorn close the client's kept-alive connection,
so the client's next request on it fails ("Server disconnected").
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd

from census_income.serving.batching import Batcher
from census_income.serving.fast import model_scores
from census_income.serving.metrics import Metrics
from census_income.serving.reload import Served
from census_income.serving.scorer import Scored
from census_income.serving.small import Prepared, score_small

log = logging.getLogger("census_income")


def shadow_scores(shadow: Served, prepared: pd.DataFrame | Prepared) -> Scored:
    """The shadow's model on prepared rows (its scores and decisions at its own threshold)."""
    model = shadow.scorer.model
    scores = model_scores(model, prepared.values) if isinstance(prepared, Prepared) else None
    if scores is None:
        scores = score_small(model, prepared if isinstance(prepared, pd.DataFrame) else prepared.frame())
    return Scored(prepared, scores, (scores >= shadow.scorer.cfg.evaluate.threshold).astype("int8"))


class Shadowing:
    """The shadow's passes and counts (rows, disagreements, failures) for one service."""

    def __init__(self, metrics: Metrics, max_rows: int, max_wait: float, enabled: bool = True) -> None:
        self.metrics = metrics
        self.batcher = Batcher(shadow_scores, max_rows, max_wait, enabled)
        self._counts: dict[str, tuple[int, int]] = {}  # shadow version -> rows, disagreements
        self._lock = threading.Lock()

    def __call__(self, shadow: Served, scored: Scored) -> None:
        """Score a request's prepared rows with the shadow's model too (as `predict --shadow` does),
        and count the rows decided differently; a failure is the server log's and a metric's only."""
        m = self.metrics
        try:
            shadowed = self.batcher.submit(shadow, scored.prepared)
        except Exception:  # a boundary: nothing a shadow raises may reach the client (see above)
            m.shadow_failures.labels(shadow.version).inc(len(scored.scores))
            log.exception("shadow %s: scoring %d rows failed; their answers stand", shadow.version, len(scored.scores))
            return
        differ = int(np.sum(shadowed.labels != scored.labels))
        m.shadow_rows.labels(shadow.version).inc(len(shadowed.scores))
        m.shadow_disagreements.labels(shadow.version).inc(differ)
        with self._lock:
            before = self._counts.get(shadow.version, (0, 0))
            rows, differed = before[0] + len(shadowed.scores), before[1] + differ
            self._counts[shadow.version] = (rows, differed)
        m.shadow_rate.labels(shadow.version).set(differed / rows if rows else 0.0)
