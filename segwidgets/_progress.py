"""Progress reporting and cancellation for long runs (resolution and pushes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = [
    "CancelToken",
    "Phase",
    "ProgressCallback",
    "ProgressEvent",
    "ProgressTracker",
    "progress_callback",
]

Phase: TypeAlias = Literal["check", "push", "reconcile", "verify", "resolve", "done"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress update. ``rate`` is members per second; ``eta`` seconds left (or None)."""

    phase: Phase
    batches_done: int
    batches_total: int
    members_done: int
    members_total: int
    n_failed: int
    elapsed: float
    rate: float
    eta: float | None
    message: str = ""

    @property
    def fraction(self) -> float:
        """Share of members done, 0..1."""
        return self.members_done / self.members_total if self.members_total else 1.0


ProgressCallback: TypeAlias = Callable[[ProgressEvent], Any]


class CancelToken:
    """Cancel a running push between batches: ``token.cancel()`` from any thread.

    Batches already sent finish and are recorded; nothing new is sent afterwards, and the
    journal stays consistent so ``session.resume(run_id)`` can finish the run later.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop after the batches in flight."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once ``cancel()`` was called."""
        return self._event.is_set()

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


class ProgressTracker:
    """Counts batches and members from worker threads and emits ``ProgressEvent``s."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        *,
        batches_total: int,
        members_total: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self.batches_total = batches_total
        self.members_total = members_total
        self.batches_done = 0
        self.members_done = 0
        self.n_failed = 0

    def add_work(self, *, batches: int, members: int) -> None:
        """More work appeared (a split batch, a reconciliation round)."""
        with self._lock:
            self.batches_total += batches
            self.members_total += members

    def advance(
        self, *, batches: int, members: int, failed: int = 0, phase: Phase = "push"
    ) -> None:
        """Some work finished."""
        with self._lock:
            self.batches_done += batches
            self.members_done += members
            self.n_failed += failed
        self.emit(phase)

    def emit(self, phase: Phase, message: str = "") -> None:
        """Send the current state to the callback (if any)."""
        if self._callback is None:
            return
        with self._lock:
            elapsed = self._clock() - self._start
            rate = self.members_done / elapsed if elapsed > 0 else 0.0
            left = max(self.members_total - self.members_done, 0)
            eta = left / rate if rate > 0 else None
            event = ProgressEvent(
                phase=phase,
                batches_done=self.batches_done,
                batches_total=self.batches_total,
                members_done=self.members_done,
                members_total=self.members_total,
                n_failed=self.n_failed,
                elapsed=elapsed,
                rate=rate,
                eta=eta,
                message=message,
            )
        self._callback(event)


class _TqdmProgress:
    """``progress=True``: a tqdm bar (notebook-aware through tqdm.auto)."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=0, unit="member", desc="push", leave=True)

    def __call__(self, event: ProgressEvent) -> None:
        bar = self._bar
        if bar.total != event.members_total:
            bar.total = event.members_total
        bar.set_description(event.phase, refresh=False)
        bar.n = event.members_done
        bar.set_postfix(
            batches=f"{event.batches_done}/{event.batches_total}",
            failed=event.n_failed,
            refresh=False,
        )
        bar.refresh()
        if event.phase == "done":
            bar.close()


def progress_callback(progress: bool | ProgressCallback | None) -> ProgressCallback | None:
    """Turn the ``progress=`` option into a callback: ``True`` → a tqdm bar."""
    if progress is True:
        return _TqdmProgress()
    if progress is False or progress is None:
        return None
    return progress
