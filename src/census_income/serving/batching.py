"""Adaptive batching: the rows of concurrent requests go through the scoring path together.

Each request thread hands its raw rows to `Batcher.submit` and waits. One batching thread
takes the first waiting request, then gathers more for at most `max_wait` seconds or until
`max_rows` rows are gathered, runs the scoring path (`process`: gate, prepare, model) once per
version and column set among them (a reload can put two versions in one batch; a body with
other columns than the rest is scored alone, so it cannot fail the others), and hands every
request its own rows' results, numbered as it sent them. On a few rows the fixed cost of each
step (pandas per column, scikit-learn per call) dominates, so one pass over 32 requests' rows
costs little more than over one request's. Off, every request runs the path itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from census_income.serving.scorer import Scored

log = logging.getLogger("census_income")
Process = Callable[[Any, pd.DataFrame], Scored]
Observe = Callable[[int], None]  # told the rows of each pass


@dataclass
class _Waiting:
    served: Any
    rows: pd.DataFrame
    answer: Future[Scored] = field(default_factory=Future)


class Batcher:
    """Group concurrent requests; `submit(served, rows)` answers what `process(served, rows)` would."""

    def __init__(
        self, process: Process, max_rows: int, max_wait: float, enabled: bool = True, observe: Observe | None = None
    ) -> None:
        self.process = process
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.enabled = enabled
        self.observe = observe
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

    def submit(self, served: Any, rows: pd.DataFrame) -> Scored:
        """The scoring path's result for `rows` (numbered 0..n-1), from a pass shared with others."""
        if self._thread is None:
            return self._pass(served, rows)
        waiting = _Waiting(served, rows)
        self._queue.put(waiting)
        return waiting.answer.result()

    def _loop(self) -> None:
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
            groups: dict[tuple[int, tuple[str, ...]], list[_Waiting]] = {}
            for item in batch:
                groups.setdefault((id(item.served), tuple(item.rows.columns)), []).append(item)
            for items in groups.values():
                self._run(items)
            if stop:
                return

    def _run(self, items: list[_Waiting]) -> None:
        """One pass over the rows of `items` (one version, one column set); each gets its share."""
        offsets = np.cumsum([0, *(len(item.rows) for item in items)])
        try:
            frame = pd.concat(
                [
                    item.rows.set_axis(pd.RangeIndex(start, start + len(item.rows)))
                    for item, start in zip(items, offsets, strict=False)
                ]
            )
            scored = self._pass(items[0].served, frame)
        except Exception as exc:  # each waiting request fails with the pass's error
            for item in items:
                item.answer.set_exception(exc)
            return
        for item, start, end in zip(items, offsets[:-1], offsets[1:], strict=True):
            item.answer.set_result(share(scored, int(start), int(end)))

    def _pass(self, served: Any, rows: pd.DataFrame) -> Scored:
        if self.observe is not None:
            self.observe(len(rows))
        return self.process(served, rows)


def share(scored: Scored, start: int, end: int) -> Scored:
    """The results of rows `start..end-1` of a pass, numbered from 0 again."""
    index = scored.prepared.index.to_numpy()
    mine = (index >= start) & (index < end)
    prepared = scored.prepared[mine]
    prepared.index = prepared.index - start
    failures = [replace(f, row=f.row - start) for f in scored.failures if start <= f.row < end]
    return Scored(prepared, scored.scores[mine], scored.labels[mine], failures)
