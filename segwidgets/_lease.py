"""One writer per segment: a lease in the journal, renewed by a heartbeat while a run works.

A sync, apply, resume or undo holds the lease of its (merchant, host, segment) for as long
as it may write. The journal records who holds it (run id, process id, machine, since
when) and a heartbeat, renewed every few seconds by a background thread. A second writer
sharing the journal is refused with ``SegmentBusyError`` naming the holder; a lease whose
process is gone, or whose heartbeat went silent, is taken over. Writers with separate
journals (other machines) are caught by the run's check of the segment's member count
after each wave of writes instead (see ``_run``).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from ._errors import JournalError, SegmentBusyError
from ._journal import DEFAULT_STALE_AFTER, Journal

__all__ = ["HEARTBEAT_SECONDS", "SegmentLease"]

#: Seconds between two heartbeats of a held lease.
HEARTBEAT_SECONDS = 5.0

logger = logging.getLogger("segwidgets.lease")


class SegmentLease:
    """The lease of one segment, held from construction until ``release()``."""

    def __init__(
        self,
        journal: Journal,
        *,
        merchant_code: str,
        target: str,
        segment_code: str,
        kind: str,
        run_id: str | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        self.journal = journal
        self.segment_code = segment_code
        self.holder = journal.acquire_lease(
            merchant_code=merchant_code,
            target=target,
            segment_code=segment_code,
            kind=kind,
            run_id=run_id,
            stale_after=stale_after,
        )
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(heartbeat,), name="segwidgets-lease", daemon=True
        )
        self._thread.start()

    def attach(self, run_id: str) -> None:
        """Name the run holding the lease (once the journal gave it an id)."""
        if not self.journal.renew_lease(self.holder, run_id=run_id):
            self._lost = True

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                if not self.journal.renew_lease(self.holder):
                    self._lost = True
                    return
            except JournalError as exc:
                # The run's own check of the journal before each batch stops it.
                logger.warning("Could not renew the hold on segment %r: %s", self.segment_code, exc)

    def check(self) -> None:
        """Raise ``SegmentBusyError`` if another process took the segment over."""
        if self._lost:
            msg = (
                f"Another process took segment {self.segment_code!r} over while this run "
                "worked (it judged this run gone). Nothing more is sent; see segwidgets "
                "history, then resume this run once the other one finished."
            )
            raise SegmentBusyError(msg)

    def release(self) -> None:
        """Stop the heartbeat and give the segment up (if the journal cannot be written,
        the lease ends with this process, and this process no longer counts as holding it)."""
        self._stop.set()
        self._thread.join()
        try:
            # Also when lost: it deletes nothing then, and this process forgets it held it.
            self.journal.release_lease(self.holder)
        except JournalError as exc:
            logger.warning("Could not release segment %r: %s", self.segment_code, exc)

    def __enter__(self) -> SegmentLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
