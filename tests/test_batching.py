"""Coalescing concurrent calls: callers queued during a run share the next one; errors reach their callers."""

from __future__ import annotations

import threading
import time

import pytest

from knowledge.batching import Coalescer


class Gate:
    """A batch function that records its calls and blocks the first until released."""

    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [x.upper() for x in items]


def _call(co: Coalescer[str, str], items: list[str], out: dict[str, object]) -> threading.Thread:
    def run() -> None:
        try:
            out[items[0]] = co(items)
        except Exception as exc:  # recorded for the assertion
            out[items[0]] = exc

    th = threading.Thread(target=run)
    th.start()
    return th


def _wait_queued(co: Coalescer[str, str], n: int) -> None:
    deadline = time.monotonic() + 10
    while len(co._queue) < n:  # the callers have queued behind the running batch
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_caller_alone_runs_at_once() -> None:
    co: Coalescer[str, str] = Coalescer(lambda xs: [x * 2 for x in xs])
    assert co(["a", "b"]) == ["aa", "bb"] and co([]) == [] and co.runs == 1


def test_callers_arriving_during_a_run_share_the_next_one() -> None:
    fn = Gate()
    co: Coalescer[str, str] = Coalescer(fn)
    out: dict[str, object] = {}
    first = _call(co, ["a"], out)
    assert fn.entered.wait(10)
    others = [_call(co, ["b", "c"], out), _call(co, ["d"], out)]
    _wait_queued(co, 2)
    fn.release.set()
    for th in (first, *others):
        th.join(10)
    assert out == {"a": ["A"], "b": ["B", "C"], "d": ["D"]}
    assert fn.calls[0] == ["a"] and sorted(fn.calls[1]) == ["b", "c", "d"] and co.runs == 2


def test_an_error_reaches_only_the_callers_of_its_run() -> None:
    fn = Gate(fail_on="bad")
    co: Coalescer[str, str] = Coalescer(fn)
    out: dict[str, object] = {}
    first = _call(co, ["a"], out)
    assert fn.entered.wait(10)
    queued = [_call(co, ["bad"], out), _call(co, ["e"], out)]
    _wait_queued(co, 2)
    fn.release.set()
    for th in (first, *queued):
        th.join(10)
    assert out["a"] == ["A"]
    assert isinstance(out["bad"], ValueError) and isinstance(out["e"], ValueError)
    assert co(["f"]) == ["F"]  # the next run is unaffected


def test_a_batch_function_returning_the_wrong_count_is_an_error() -> None:
    co: Coalescer[str, str] = Coalescer(lambda xs: xs[:1])
    with pytest.raises(RuntimeError, match="2 items"):
        co(["a", "b"])
    assert co(["c"]) == ["c"]
