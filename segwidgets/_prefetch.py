"""Reading ahead: the next pages of a walk are fetched while the caller uses this one.

A member walk is sequential (each cursor comes in the previous answer; an offset walk
learns from each page whether to go on), so a page's own handling (checks, id extraction)
would otherwise add to every round trip. ``prefetched``
moves the walk into a thread of its own and hands its items over through a small queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)
_POLL = 0.1  # seconds between checks whether the caller stopped reading


def prefetched(items: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """Yield the items of ``items``, produced by a thread that runs up to ``depth`` ahead.

    An exception of the producer is raised here, at the item where it happened. When the
    caller stops early (``break``, an exception, ``close()``), the producer stops after
    the item it is working on and closes ``items``.
    """
    handover: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=max(1, depth))
    stopped = threading.Event()

    def put(entry: tuple[int, object]) -> bool:
        while not stopped.is_set():
            try:
                handover.put(entry, timeout=_POLL)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((_ITEM, item)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            put((_ERROR, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="segwidgets-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = handover.get()
            if kind == _ITEM:
                yield value  # type: ignore[misc]
            elif kind == _END:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        stopped.set()
        producer.join()
