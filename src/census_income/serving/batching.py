"""Adaptive batching: concurrent requests' rows scored in one model call.

Each request thread hands its prepared rows to `Batcher.score` and waits. One batching
thread takes the first waiting request, then gathers more for at most `max_wait` seconds
or until `max_rows` rows are gathered, calls the model once per model version among them
(a reload can put two in one batch), and hands every request its own rows' scores, in
order. A model call costs about the same for 1 row as for 100 (scikit-learn's per-call
overhead dominates), so under concurrent load one call serves many requests. Off, every
request calls the model itself.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("census_income")
Predict = Callable[[Any, pd.DataFrame], np.ndarray]
Observe = Callable[[int], None]  # told the rows of each model call


@dataclass
class _Waiting:
    model: Any
    rows: pd.DataFrame
    answer: Future[np.ndarray] = field(default_factory=Future)


class Batcher:
    """Group concurrent model calls; `score(model, rows)` has the contract of `predict(model, rows)`."""

    def __init__(
        self, predict: Predict, max_rows: int, max_wait: float, enabled: bool = True, observe: Observe | None = None
    ) -> None:
        self.predict = predict
        self.observe = observe
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.enabled = enabled
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then end the batching thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def score(self, model: Any, rows: pd.DataFrame) -> np.ndarray:
        """The model's scores of `rows`, from a batch shared with concurrent callers (when on)."""
        if self._thread is None:
            return self._call(model, rows)
        waiting = _Waiting(model, rows)
        self._queue.put(waiting)
        return waiting.answer.result()

    def _loop(self) -> None:
        import time

        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, rows, stop = [first], len(first.rows), False
            deadline = time.monotonic() + self.max_wait
            while rows < self.max_rows:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                rows += len(item.rows)
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[_Waiting]) -> None:
        """One model call per model among `batch`; each waiting request gets its slice."""
        by_model: dict[int, list[_Waiting]] = {}
        for item in batch:
            by_model.setdefault(id(item.model), []).append(item)
        for items in by_model.values():
            try:
                frame = items[0].rows if len(items) == 1 else pd.concat([i.rows for i in items], ignore_index=True)
                scores = self._call(items[0].model, frame)
            except Exception as exc:  # each waiting request fails with the model's error
                log.exception("serve: a batched model call failed")
                for item in items:
                    item.answer.set_exception(exc)
                continue
            start = 0
            for item in items:
                item.answer.set_result(scores[start : start + len(item.rows)])
                start += len(item.rows)

    def _call(self, model: Any, rows: pd.DataFrame) -> np.ndarray:
        if self.observe is not None:
            self.observe(len(rows))
        return self.predict(model, rows)
