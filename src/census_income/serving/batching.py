"""Adaptive batching: the rows of concurrent requests go through the scoring path together.

Requests that arrive while a pass runs, or within `max_wait` seconds of the first (until
`max_rows` rows wait), form the next batch: the scoring path (`process`: gate, prepare, model)
runs once per version and column set among them (a reload can put two versions in one batch; a
body with other columns than the rest is scored alone, so it cannot fail the others), and every
request gets its own rows' results, numbered as it sent them. On a few rows the fixed cost of
each step (pandas per column, scikit-learn per call) dominates, so one pass over 32 requests'
rows costs little more than over one request's. Off, every request runs the path itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from census_income.data.prepare import concat_parts
from census_income.errors import PipelineError
from census_income.serving.bodies import TextRows
from census_income.serving.scorer import Scored
from census_income.serving.small import Prepared

# a request's rows: a frame, or a JSON body's text columns; a shadow's: prepared rows or values
Table = pd.DataFrame | TextRows | Prepared
Process = Callable[[Any, Any], Scored]  # told the rows it was given (a `Table`)
Observe = Callable[[int], None]  # told the rows of each pass
Answered = Callable[[Any, Any], None]  # told the prepared rows of the requests a pass answered


@dataclass
class _Waiting:
    served: Any
    rows: Table
    answer: Future[Scored] = field(default_factory=Future)


class Batcher:
    """Group concurrent requests; `submit(served, rows)` answers what `process(served, rows)` would.

    No thread of its own: the first request to arrive leads a batch. It waits for the pass
    before it to finish (requests pile up meanwhile), then at most `max_wait` more or until
    `max_rows` rows wait, takes every waiting request, runs the passes in its own thread and
    hands each request its share. A pass that fails fails its requests, never the batcher.
    """

    def __init__(
        self,
        process: Process,
        max_rows: int,
        max_wait: float,
        enabled: bool = True,
        *,
        observe: Observe | None = None,
        answered: Answered | None = None,
    ) -> None:
        """`answered`: told once per pass the prepared rows of its requests that no row of failed
        (the drift window counts a pass's rows together: per request, it cost more than the model)."""
        self.process = process
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.enabled = enabled
        self.observe = observe
        self.answered = answered
        self._waiting: list[_Waiting] = []
        self._rows = 0
        self._leading = False
        self._arrived = threading.Condition()
        self._running = threading.Lock()  # one pass at a time

    def submit(self, served: Any, rows: Table) -> Scored:
        """The scoring path's result for `rows` (numbered 0..n-1), from a pass shared with others."""
        if not self.enabled:
            scored = self._pass(served, rows)
            if self.answered is not None and not scored.failures:
                self.answered(served, scored.prepared)
            return scored
        item = _Waiting(served, rows)
        with self._arrived:
            self._waiting.append(item)
            self._rows += len(rows)
            lead, self._leading = not self._leading, True
            self._arrived.notify()
        if lead:
            self._lead()
        return item.answer.result()

    def _lead(self) -> None:
        with self._running:
            with self._arrived:
                deadline = time.monotonic() + self.max_wait
                while self._rows < self.max_rows and (left := deadline - time.monotonic()) > 0:
                    self._arrived.wait(left)
                batch, self._waiting, self._rows, self._leading = self._waiting, [], 0, False
            groups: dict[tuple[int, tuple[str, ...]], list[_Waiting]] = {}
            for item in batch:
                groups.setdefault((id(item.served), tuple(item.rows.columns)), []).append(item)
            try:
                for items in groups.values():
                    self._run(items)
            finally:  # a pass that raised what nobody foresaw: its requests fail, no one waits forever
                for item in batch:
                    if not item.answer.done():
                        item.answer.set_exception(RuntimeError("the batched scoring pass failed (see the server log)"))

    def _run(self, items: list[_Waiting]) -> None:
        """One pass over the rows of `items` (one version, one column set); each gets its share."""
        offsets = np.cumsum([0, *(len(item.rows) for item in items)])
        texts = [item.rows for item in items if isinstance(item.rows, TextRows)]
        values = [item.rows for item in items if isinstance(item.rows, Prepared)]
        rows: Table
        if len(texts) == len(items):  # values, numbered 0..n-1 as the frame below is
            rows = TextRows.concat(texts)
        elif len(values) == len(items):
            rows = Prepared.concat(values)
        else:
            rows = concat_parts(
                [item.rows if isinstance(item.rows, pd.DataFrame) else item.rows.frame() for item in items]
            )
        try:
            scored = self._pass(items[0].served, rows)
        except PipelineError as exc:  # the rows refused as a whole (their columns): each request is told
            for item in items:
                item.answer.set_exception(exc)
            return
        bounds = list(zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True))
        shares = [scored] if len(items) == 1 else [share(scored, start, end) for start, end in bounds]
        if self.answered is not None:
            refused = [bound for bound, mine in zip(bounds, shares, strict=True) if mine.failures]
            if not refused:
                self.answered(items[0].served, scored.prepared)
            else:  # (a pass with failures has a prepared frame)
                assert isinstance(scored.prepared, pd.DataFrame)
                index = scored.prepared.index.to_numpy()
                keep = ~np.any([(index >= start) & (index < end) for start, end in refused], axis=0)
                self.answered(items[0].served, scored.prepared[keep])
        for item, mine in zip(items, shares, strict=True):
            item.answer.set_result(mine)

    def _pass(self, served: Any, rows: Table) -> Scored:
        if self.observe is not None:
            self.observe(len(rows))
        return self.process(served, rows)


def share(scored: Scored, start: int, end: int) -> Scored:
    """The results of rows `start..end-1` of a pass, numbered from 0 again."""
    if not isinstance(scored.prepared, pd.DataFrame):  # a few rows' values: every row answered
        return Scored(scored.prepared.rows(start, end), scored.scores[start:end], scored.labels[start:end])
    index = scored.prepared.index.to_numpy()
    mine = (index >= start) & (index < end)
    prepared = scored.prepared[mine]
    prepared.index = prepared.index - start
    failures = [replace(f, row=f.row - start) for f in scored.failures if start <= f.row < end]
    return Scored(prepared, scored.scores[mine], scored.labels[mine], failures)
