"""prefetched: items arrive in order, errors where they happened, early stops stop the thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from segwidgets._prefetch import prefetched


def test_items_in_order_and_produced_ahead() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for k in range(5):
            produced.append(k)
            yield k

    seen = []
    for item in prefetched(items(), depth=1):
        if item == 0:
            deadline = time.monotonic() + 5
            while len(produced) < 2 and time.monotonic() < deadline:
                time.sleep(0.001)
            assert len(produced) >= 2  # the next item was made while this one was in use
        seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        msg = "page 3 failed"
        raise RuntimeError(msg)

    stream = prefetched(items())
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(RuntimeError, match="page 3 failed"):
        next(stream)


def test_stopping_early_closes_the_source_and_ends_the_thread() -> None:
    closed = threading.Event()
    made: list[int] = []

    def items() -> Iterator[int]:
        try:
            for k in range(1_000_000):
                made.append(k)
                yield k
        finally:
            closed.set()

    before = threading.active_count()
    for item in prefetched(items(), depth=2):
        if item == 3:
            break
    assert closed.is_set()
    assert threading.active_count() == before
    assert len(made) <= 3 + 1 + 2 + 1  # what was read, plus at most depth + 1 ahead


def test_an_empty_source() -> None:
    assert list(prefetched(iter(()))) == []
