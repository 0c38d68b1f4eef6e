"""Progress reporting and cancellation for long runs (resolution and pushes).

A push reports every phase of the run, each with its own count: ``check`` (before anything
is sent: the segment's pages read, or the planned ids looked up, in ``changed ids``, when the
stale check goes by the changes), ``push`` (batches), ``reconcile``, ``verify`` (ids
looked up, or pages read back), then ``done``. A resolution reports phase ``resolve``
counted in requests (sent / planned so far; the plan grows when a lookup is followed by a
scan) with the emails looked up as members; a plan's read of the segment phase ``read``
in pages. ``requests_total`` is the estimate's request
count (``SegmentPlan.estimate()``) and ``requests_done`` the requests sent so far, so the
ETA covers the whole run, not only the push.
"""

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

Phase: TypeAlias = Literal["read", "check", "push", "reconcile", "verify", "resolve", "done"]

#: What one step of a phase counts.
_UNITS: dict[str, str] = {
    "read": "pages",
    "check": "pages",
    "push": "batches",
    "reconcile": "members",
    "verify": "ids",
    "resolve": "requests",
    "done": "",
}


@dataclass(frozen=True)
class ProgressEvent:
    """One progress update. ``rate`` is members per second; ``eta`` seconds left (or None):
    from the requests left of ``requests_total`` when the run knows it, else from members.

    ``phase_done``/``phase_total`` count the current phase in its ``unit`` (pages, batches,
    ids); ``label`` says it in words, e.g. ``"check: 12/27 pages"``.
    """

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
    requests_done: int = 0
    requests_total: int = 0
    phase_done: int = 0
    phase_total: int = 0
    unit: str = ""

    @property
    def fraction(self) -> float:
        """Share of members done, 0..1."""
        return self.members_done / self.members_total if self.members_total else 1.0

    @property
    def requests_fraction(self) -> float:
        """Share of the run's estimated requests sent, 0..1 (1 when not known)."""
        if not self.requests_total:
            return 1.0
        return min(self.requests_done / self.requests_total, 1.0)

    @property
    def label(self) -> str:
        """The phase and its own count, e.g. ``"verify: 3/20 ids"``, and the ETA."""
        text = str(self.phase)
        if self.phase_total:
            text += f": {self.phase_done:,}/{self.phase_total:,} {self.unit}".rstrip()
        if self.eta is not None and self.phase != "done":
            text += f", about {_eta_text(self.eta)} left"
        return text


def _eta_text(seconds: float) -> str:
    if seconds < 1:
        return "a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


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
        requests_total: int = 0,
        requests: Callable[[], int] | None = None,
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
        #: the estimate's request count for the whole run (0: not known)
        self.requests_total = requests_total
        self._requests = requests
        #: per phase: [done, total] in the phase's unit
        self._phases: dict[str, list[int]] = {}
        self._units: dict[str, str] = {}

    def start_phase(self, phase: Phase, total: int, unit: str | None = None) -> None:
        """A phase begins (or grows): ``total`` steps of ``unit`` (pages, ids...)."""
        with self._lock:
            counts = self._phases.setdefault(phase, [0, 0])
            counts[1] += total
            if unit is not None:
                self._units[phase] = unit
        self.emit(phase)

    def restart_phase(self, phase: Phase, total: int, unit: str, message: str = "") -> None:
        """A phase starts over in another way: ``total`` steps of ``unit``, none done."""
        with self._lock:
            self._phases[phase] = [0, total]
            self._units[phase] = unit
        self.emit(phase, message)

    def step(self, phase: Phase, n: int = 1, message: str = "") -> None:
        """``n`` steps of a phase done (a page read, ids looked up)."""
        with self._lock:
            self._phases.setdefault(phase, [0, 0])[0] += n
        self.emit(phase, message)

    def update(
        self,
        phase: Phase,
        *,
        done: int,
        total: int,
        members_done: int | None = None,
        requests_total: int | None = None,
        message: str = "",
    ) -> None:
        """Set a phase's counts outright (and the members done and the run's request
        total, when given), then emit."""
        with self._lock:
            self._phases[phase] = [done, total]
            if members_done is not None:
                self.members_done = members_done
            if requests_total is not None:
                self.requests_total = requests_total
        self.emit(phase, message)

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
        requests_done = self._requests() if self._requests is not None else 0
        with self._lock:
            elapsed = self._clock() - self._start
            rate = self.members_done / elapsed if elapsed > 0 else 0.0
            if self.requests_total and requests_done and elapsed > 0:
                left_requests = max(self.requests_total - requests_done, 0)
                eta: float | None = left_requests * elapsed / requests_done
            else:
                left = max(self.members_total - self.members_done, 0)
                eta = left / rate if rate > 0 else None
            if phase == "push":
                phase_done, phase_total = self.batches_done, self.batches_total
            else:
                phase_done, phase_total = self._phases.get(phase, (0, 0))
            unit = self._units.get(phase, _UNITS.get(phase, ""))
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
                requests_done=requests_done,
                requests_total=self.requests_total,
                phase_done=phase_done,
                phase_total=phase_total,
                unit=unit,
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
        bar.set_description(event.label.partition(",")[0], refresh=False)
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
