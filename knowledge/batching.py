"""Coalescing concurrent calls into one batch (dynamic batching without a timer).

Questions arrive on several threads at once (the bot runs each update in a worker thread). Embedding them and
searching Chroma one by one costs three Chroma queries per question and a native call each; a batch costs three
queries in all. ``Coalescer`` batches without ever making a caller wait for a timer: the first caller runs at
once; callers arriving while a run is in progress queue, and when it ends one of them runs the whole queue for
all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Ticket(Generic[T, R]):
    __slots__ = ("error", "items", "lead", "out", "ready")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = list(items)
        self.ready = threading.Event()
        self.lead = False  # handed the next run (set before ``ready``)
        self.out: list[R] = []
        self.error: BaseException | None = None

    def result(self) -> list[R]:
        if self.error is not None:
            raise self.error
        return self.out


class Coalescer(Generic[T, R]):
    """``fn`` over the items of every caller queued while another run was in progress, in one call.

    ``fn`` takes a list and returns one result per item, in order. An error in a run is raised to every caller
    whose items were in it; the next run is unaffected.
    """

    def __init__(self, fn: Callable[[list[T]], Sequence[R]]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._queue: list[_Ticket[T, R]] = []
        self._busy = False
        self.runs = 0  # how many calls of ``fn`` (for tests and benchmarks)

    def __call__(self, items: Sequence[T]) -> list[R]:
        if not items:
            return []
        ticket: _Ticket[T, R] = _Ticket(items)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._busy
            self._busy = True
        if not lead:
            ticket.ready.wait()
            if not ticket.lead:
                return ticket.result()  # another caller's run included these items
        self._run()
        return ticket.result()

    def _run(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            out = list(self._fn([x for t in batch for x in t.items]))
            if len(out) != sum(len(t.items) for t in batch):
                raise RuntimeError(f"batch function returned {len(out)} results for "
                                   f"{sum(len(t.items) for t in batch)} items")
            start = 0
            for t in batch:
                t.out = out[start:start + len(t.items)]
                start += len(t.items)
        except BaseException as exc:  # every caller of this run sees it; the queue goes on
            for t in batch:
                t.error = exc
        finally:
            self.runs += 1
            with self._lock:
                nxt = self._queue[0] if self._queue else None
                if nxt is not None:
                    nxt.lead = True  # stays busy: the next run is this caller's
                else:
                    self._busy = False
            for t in batch:
                t.ready.set()
            if nxt is not None:
                nxt.ready.set()
