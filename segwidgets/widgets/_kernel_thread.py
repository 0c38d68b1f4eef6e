"""Hand work back from a worker thread to the kernel's own thread.

Matching, planning, pushing and look-ups run in worker threads so the notebook stays
usable. A worker only sets traits of widgets that already exist (a status line, a progress
bar); what it produced (a plan, a result) is handed back with ``on_kernel_thread`` and
applied on the kernel's thread, where the kernel handles the front end's messages. So
widgets are created, boxes change their children and the app's state moves in one thread
only, and the front end gets those updates in the order they were made.

Outside a kernel (tests, scripts) there is no other thread to hand back to: the call runs
at once. ``drain()`` runs what is waiting when the kernel's thread itself waits for a worker
(``push(wait=True)`` in a cell), so that the result is there when the wait returns.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["drain", "kernel_loop", "on_kernel_thread"]

_log = logging.getLogger(__name__)
_pending: deque[Callable[[], None]] = deque()
_drain_lock = threading.RLock()


def kernel_loop() -> Any | None:
    """The event loop of the running kernel's thread (the main thread), None outside one."""
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:  # pragma: no cover - ipywidgets brings ipykernel
        return None
    if not Kernel.initialized():
        return None
    return getattr(Kernel.instance(), "io_loop", None)


def on_kernel_thread(call: Callable[[], None]) -> None:
    """Run ``call`` on the kernel's thread: now when already there (or outside a kernel),
    else as soon as that thread is free, after everything handed back before it."""
    loop = None if threading.current_thread() is threading.main_thread() else kernel_loop()
    if loop is None:
        call()
        return
    _pending.append(call)
    loop.add_callback(drain)


def drain() -> None:
    """Run, in order, what workers handed back (only on the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _drain_lock:
        while _pending:
            call = _pending.popleft()
            try:
                call()
            except Exception:  # noqa: BLE001 - calls show their own errors; others are logged
                _log.exception("segwidgets: a result handed back to the kernel thread failed")
