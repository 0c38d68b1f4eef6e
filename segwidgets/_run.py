"""One push run in flight: ``RunState``, from its first batch to its ``ApplyResult``.

``segwidgets._apply.Pusher`` holds the segment, checks the plan and starts a run (or
resumes one from the journal); the run does the rest, read top to bottom from
``RunState.execute``:

1. **push** — removes first (Shopgate applies them asynchronously, so their delay overlaps
   the adds), then adds; batches of ``batch_size`` sent ``concurrency`` at a time on the
   pusher's threads. Each batch is journaled as *sending* before it goes out and
   *applied*/*accepted* only after the server confirmed it. A batch that is too large is
   split; a batch rejected for some ids is narrowed down to those ids (by the server's
   per-item errors, else by bisection: ``_isolate``) and the rest applied. A 2xx answer is
   read too (``_answered``): the items it names in ``errors`` are ``failed`` with
   Shopgate's reason and never count as applied; the rest of the batch is applied (adds)
   or accepted (removes). An ``errors`` entry that names no id (nor a valid index) leaves
   the rest of its batch in doubt, for reconcile to settle.
   A failed write is handled by its ``APIError.outcome`` (the client sorts it, by the one
   table in ``segwidgets._retry``): *refused* (nothing done: 429, 502-504 or no
   connection, after the client's own retries) is sent again in a later round, at most
   ``max_rounds`` times, and refusals that keep coming are an outage that stops the run
   with ``ApplyIncompleteError``, whose result says what was applied and what was not;
   *lost* (the answer never came, it may have applied) goes to reconcile; *rejected*
   (a 4xx Shopgate decided) is split (413), narrowed down (400, 422), settled by a read
   like a lost one (409: some ids were members already, on a strict server) or stops
   the run (any other).
2. **guard** — before each batch the journal file must still be intact and the lease
   ours; when a wave of batches has been answered (every ``concurrency``-th answer, at
   least ``WAVE_MIN``) and a full wave is still to come, and after the last write, the
   segment's member count must be one the run's own writes explain (someone else writing
   stops the run). The worker that took the wave's last answer reads the count while the
   others send on, so the check is not one more round trip on the push's way.
3. **reconcile** and **verify** (``segwidgets._verify``), then the run's status, recorded
   in the journal, and its ``ApplyResult`` (``segwidgets._result``). A run stopped by a
   crash or an interrupt is recorded interrupted, for ``resume``.

The run reaches its pusher only through ``Pushing`` (the client, journal, reader, options,
clock, threads and batch size it shares), so this module imports nothing of ``_apply``.
This module is longer than most engine modules: it is the one push pipeline, read top to
bottom — ``execute`` pushes, reconciles and verifies, ``_send`` handles each batch's
answer.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Protocol

from ._cost import WAVE_MIN
from ._errors import (
    APIError,
    APIStatusError,
    ApplyIncompleteError,
    BadRequestError,
    ConflictError,
    JournalError,
    PayloadTooLargeError,
    SegmentBusyError,
    StalePlanError,
    UnprocessableEntityError,
)
from ._journal import Action, MemberStatus
from ._progress import CancelToken, ProgressCallback, ProgressTracker
from ._result import ApplyResult, journal_outcomes
from ._verify import RunLog, Unsettled, reconcile, verify

if TYPE_CHECKING:
    import polars as pl

    from ._client import ShopgateClient
    from ._cost import StaleMethod, VerifyMethod
    from ._item_errors import ItemError
    from ._journal import Journal
    from ._lease import SegmentLease
    from ._types import ApplyStatus
    from ._verify import MemberReader

__all__ = ["Batch", "Pushing", "RunOptions", "RunState", "chunked"]

#: Batches refused in a row (429, 502-504, no connection, after the client's own retries)
#: that count as an outage and stop the run; fewer are sent again in the next round.
_OUTAGE_AFTER = 3

#: Batches per wave between two checks of the segment's member count (at least; a wave is
#: ``concurrency`` batches when that is larger).
_WAVE_MIN = WAVE_MIN

#: A batch to send: its action, its ids, and its number in the journal (None: not yet there).
Batch = tuple[Action, list[str], int | None]


def chunked(ids: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive batches of at most ``size`` ids."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class RunOptions(Protocol):
    """The options a run reads (``segwidgets._apply.ApplyOptions``)."""

    @property
    def concurrency(self) -> int: ...
    @property
    def max_rounds(self) -> int: ...
    @property
    def verify_timeout(self) -> float: ...


class Pushing(Protocol):
    """What a run uses of the pusher that started it (``segwidgets._apply.Pusher``)."""

    @property
    def client(self) -> ShopgateClient: ...
    @property
    def journal(self) -> Journal: ...
    @property
    def reader(self) -> MemberReader: ...
    @property
    def options(self) -> RunOptions: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def clock(self) -> Callable[[], float]: ...

    def workers(self) -> ThreadPoolExecutor: ...
    def batches(
        self, removes: pl.DataFrame | Sequence[str], adds: pl.DataFrame | Sequence[str]
    ) -> Iterable[tuple[Action, list[str]]]: ...
    def shrink_batches(self, size: int) -> None: ...


class _Stop(Exception):  # noqa: N818 (internal control flow, never escapes)
    """A worker found the run stopping and sent nothing."""


class RunState:
    """One run in flight: worker threads, journal updates, refused and failed members
    (what only a read can settle is kept in ``unsettled``)."""

    def __init__(
        self,
        pusher: Pushing,
        run_id: str,
        code: str,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        *,
        verify: bool,
        lease: SegmentLease | None = None,
        tracker: ProgressTracker | None = None,
    ) -> None:
        self.pusher = pusher
        self.lease = lease
        #: the segment's member count this run expects: base, members handed out, writes
        self.base_count: int | None = None
        self.removes_before = 0
        self.out: dict[Action, int] = {"add": 0, "remove": 0}
        self.n_sends = 0
        #: batches handed to the workers, and those answered (for the count checks)
        self.n_queued = 0
        self.n_answered = 0
        self.verify = verify
        self.client = pusher.client
        self.journal = pusher.journal
        self.run_id = run_id
        self.code = code
        self.cancel = cancel or CancelToken()
        self.tracker = tracker or ProgressTracker(progress, batches_total=0, members_total=0)
        self.log = RunLog(self.journal, run_id, self.tracker)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.fatal: BaseException | None = None
        #: lost answers and unnamed refusals, for reconcile to settle by reads
        self.unsettled = Unsettled()
        #: ids of batches refused with nothing done, to send again in the next round
        self.refused: dict[Action, list[str]] = {"add": [], "remove": []}
        self.refused_in_a_row = 0
        self.last_refusal: BaseException | None = None
        self.batch_numbers = itertools.count(self.journal.next_batch_number(run_id))
        #: members the segment should hold after the run (None: asked when needed)
        self.n_after: int | None = None
        self.verify_method: VerifyMethod = "none"
        self.stale_method: StaleMethod = "none"

    # -- one writer, intact journal ---------------------------------------------------------

    def expect(self, count: int, *, removes_before: int = 0) -> None:
        """The segment's member count when this run's writes start (``removes_before``:
        earlier removes of the run that may still be applying)."""
        self.base_count = count
        self.removes_before = removes_before

    def _guard(self, action: Action, ids: Sequence[str]) -> None:
        """Before a batch goes out: the journal is intact and the lease still ours.
        Otherwise the run stops; nothing more is sent."""
        try:
            self.journal.check_intact()
            if self.lease is not None:
                self.lease.check()
        except (JournalError, SegmentBusyError) as exc:
            self._stop_run(exc)
            raise _Stop from exc
        with self.lock:
            self.n_sends += 1
            self.out[action] += len(ids)

    def _after_answer(self) -> None:
        """A batch was answered: when that ends a wave (``concurrency`` answers, at least
        ``_WAVE_MIN``) and a full wave of batches is still to come, the segment's member
        count must be one this run's own writes explain. Otherwise the run stops; nothing
        more is sent."""
        wave_size = max(self.pusher.options.concurrency, _WAVE_MIN)
        with self.lock:
            self.n_answered += 1
            # A full wave is still to come (the batches of a last, shorter one are mostly out
            # by now: the check after the last write follows them). Not while refusals come
            # in a row: the read would meet the same trouble.
            wave = (
                self.n_answered % wave_size == 0
                and self.n_answered + wave_size <= self.n_queued
                and self.refused_in_a_row == 0
            )
        if wave:
            self._check_count()

    def _check_after_push(self) -> None:
        """After the last write, as after each wave: a writer that started after the last
        wave, or a journal lost during it, stops the run before it reads and verifies."""
        try:
            self.journal.check_intact()
            if self.lease is not None:
                self.lease.check()
        except (JournalError, SegmentBusyError) as exc:
            self._stop_run(exc)
            return
        self._check_count()

    def _check_count(self) -> bool:
        """False (and the run stopped) if the segment's member count is not one its own
        writes explain."""
        if self.base_count is None or self.n_sends == 0:
            return True
        try:
            count = int(self.client.get_segment(self.code).get("memberCount", 0))
        except APIError:
            return True  # the write that follows meets the same trouble and handles it
        with self.lock:
            # Taken after the answer: every write handed out by then may be in the count.
            low = self.base_count - self.removes_before - self.out["remove"]
            high = self.base_count + self.out["add"]
        if not low <= count <= high:
            msg = (
                f"Segment {self.code!r} was changed by someone else during this run: it holds "
                f"{count:,} members where this run's own writes allow {max(low, 0):,} to "
                f"{high:,}. Nothing more is sent; check who else writes to it, then plan again."
            )
            self._stop_run(StalePlanError(msg))
            return False
        return True

    # -- the whole run ----------------------------------------------------------------------

    def execute(
        self,
        *,
        planned: list[Batch],
        start: float,
        before: int,
        timings: dict[str, float],
    ) -> ApplyResult:
        clock = self.pusher.clock
        status: ApplyStatus
        message = ""
        try:
            t = clock()
            self._push_batches(planned)
            # Once more after the last write: a writer that started after the last wave.
            if self.fatal is None and not self.cancel.cancelled:
                self._check_after_push()
            timings["push"] = clock() - t
            if self.fatal is None and not self.cancel.cancelled:
                t = clock()
                self._reading(self._reconcile)
                timings["reconcile"] = clock() - t
            if self.fatal is None and not self.cancel.cancelled and self.verify:
                t = clock()
                self._reading(self._verify)
                timings["verify"] = clock() - t
        except BaseException as exc:
            # A crash, a KeyboardInterrupt or an unexpected error: the journal already holds
            # every confirmed batch; record that the run stopped and let the error through.
            # (A journal that cannot be written any more leaves the run recorded running;
            # with its lease gone it reads as interrupted.)
            with contextlib.suppress(JournalError):
                self.journal.finish_run(
                    self.run_id,
                    status="interrupted",
                    n_requests=self.client.stats.n_requests - before,
                    message=f"stopped by {type(exc).__name__}; run resume() to finish",
                )
            raise
        self.tracker.emit("done")
        outcomes = journal_outcomes(self.journal.member_frame(self.run_id))
        counts = outcomes.group_by("outcome").len()
        by = dict(counts.iter_rows())
        if self.fatal is not None:
            done = sum(by.get(k, 0) for k in ("applied", "verified", "accepted_unverified"))
            status = "partial" if done else "failed"
            message = f"Stopped: {self.fatal}"
            if not isinstance(self.fatal, JournalError):
                message += f" Resume run {self.run_id} once the cause is fixed."
        elif self.cancel.cancelled and (by.get("pending", 0) or by.get("unknown", 0)):
            status = "cancelled"
            message = (
                f"Cancelled; {by.get('pending', 0):,} changes not sent. "
                f"Resuming run {self.run_id} sends them."
            )
        elif by.get("failed", 0):
            done = sum(by.get(k, 0) for k in ("applied", "verified", "accepted_unverified"))
            # Nothing applied is a failure, whatever the reasons: "partial" would promise more.
            status = "partial" if done else "failed"
            message = (
                f"{by['failed']:,} changes refused by Shopgate; result.failure_lines() gives "
                "the reasons."
            )
        elif by.get("accepted_unverified", 0):
            status = "accepted_unverified"
            message = (
                f"{by['accepted_unverified']:,} removals accepted but not yet applied after "
                f"{self.pusher.options.verify_timeout:g} s; see result.unverified."
            )
        elif not self.verify:
            status = "applied"
        else:
            status = "verified"
        n_requests = self.client.stats.n_requests - before
        self.journal.finish_run(self.run_id, status=status, n_requests=n_requests, message=message)
        result = ApplyResult(
            run_id=self.run_id,
            status=status,
            segment_code=self.code,
            outcomes=outcomes,
            n_requests=n_requests,
            seconds=clock() - start,
            timings=timings,
            message=message,
            batch_size=self.pusher.batch_size,
            verify_method=self.verify_method,
            stale_method=self.stale_method,
        )
        if self.fatal is not None:
            raise ApplyIncompleteError(message, result=result) from self.fatal
        return result

    # -- push --------------------------------------------------------------------------------

    def _push(self, removes: Sequence[str], adds: Sequence[str]) -> None:
        """Send these changes in new batches (not recorded by ``start_run``)."""
        self._push_batches(
            [(action, ids, None) for action, ids in self.pusher.batches(removes, adds)]
        )

    def _push_batches(self, batches: list[Batch]) -> None:
        self.tracker.add_work(batches=len(batches), members=sum(len(b[1]) for b in batches))
        self.tracker.emit("push")
        self._run_batches(batches)
        # Batches refused with nothing done go out again, a bounded number of rounds.
        for _ in range(self.pusher.options.max_rounds):
            with self.lock:
                removes, adds = self.refused["remove"], self.refused["add"]
                self.refused = {"add": [], "remove": []}
            if not (removes or adds) or self.fatal is not None or self.cancel.cancelled:
                return
            again: list[Batch] = [(a, ids, None) for a, ids in self.pusher.batches(removes, adds)]
            self.tracker.add_work(batches=len(again), members=0)
            self.tracker.emit("push", f"sending {len(removes) + len(adds):,} refused changes again")
            self._run_batches(again)
        with self.lock:
            if (self.refused["add"] or self.refused["remove"]) and self.fatal is None:
                self.fatal = self.last_refusal
                self.stop.set()

    def _run_batches(self, batches: list[Batch]) -> None:
        if not batches:
            return
        pool = self.pusher.workers()
        with self.lock:
            self.n_queued += len(batches)
        futures = [pool.submit(self._send, *batch) for batch in batches]
        try:
            self._wait(futures)
        finally:
            # However this ends, no batch of this run is sent after it returns.
            for future in futures:
                future.cancel()
            # A cancelled future never counts as done for wait(): wait for the rest only.
            wait([future for future in futures if not future.cancelled()])

    def _wait(self, futures: list[Future[None]]) -> None:
        crash: BaseException | None = None
        try:
            for future in futures:
                try:
                    future.result()
                except _Stop:
                    continue
                except BaseException as exc:  # noqa: BLE001 - a worker crashed: stop the others, re-raise below
                    self.stop.set()
                    crash = crash or exc
        except BaseException:
            self.stop.set()
            raise
        if crash is not None:
            raise crash

    def _send(self, action: Action, ids: list[str], number: int | None = None) -> None:
        """Send one batch: ``number`` is its batch in the journal, None for a new one."""
        if self.stop.is_set() or self.cancel.cancelled:
            raise _Stop
        self._guard(action, ids)
        if number is None:
            batch = next(self.batch_numbers)
            self.journal.batch_sending(self.run_id, batch, action, ids)
        else:
            batch = number
            self.journal.batch_sending(self.run_id, batch, action)
        try:
            if action == "add":
                refused = self.client.add_members(self.code, ids)
            else:
                refused = self.client.remove_members(self.code, ids)
        except PayloadTooLargeError as exc:
            self._done(
                batch, action, ids, status="pending", batch_status="split", error=_short(exc)
            )
            self._split_too_large(action, ids)
        except (BadRequestError, UnprocessableEntityError) as exc:
            self._isolate(batch, action, ids, exc)
        except ConflictError as exc:
            # 409 on a strict server: some ids were members already; a read settles it.
            self._mark_uncertain(batch, action, ids, exc)
        except APIError as exc:
            # The client sorted the failure (the table in segwidgets._retry).
            if exc.outcome == "refused":
                self._refuse(batch, action, ids, exc)
            elif exc.outcome == "lost":
                self._mark_uncertain(batch, action, ids, exc)
            else:
                self._fatal(batch, action, ids, exc)
        except BaseException:
            # Anything else (a crash, KeyboardInterrupt): no other batch may start after it.
            self.stop.set()
            raise
        else:
            self._answered(batch, action, ids, refused)
            with self.lock:
                self.refused_in_a_row = 0
        self._after_answer()

    def _answered(
        self, batch: int, action: Action, ids: list[str], refused: list[ItemError]
    ) -> None:
        """A 2xx answer: the items it names failed, the rest applied (or uncertain)."""
        status: MemberStatus = "applied" if action == "add" else "accepted"
        if not refused:
            self._done(batch, action, ids, status=status, batch_status="confirmed")
            self.tracker.advance(batches=1, members=len(ids))
            return
        in_batch = set(ids)
        named: dict[str, str] = {}
        unnamed: list[str] = []
        for error in refused:
            if error.id is not None and error.id in in_batch:
                named.setdefault(error.id, _reason(error))
            else:
                unnamed.append(_reason(error))
        # The refused ids are marked first: a crash before the batch is marked leaves
        # them failed, never applied.
        self.log.fail_by_reason(action, named)
        rest = [i for i in ids if i not in named]
        if unnamed and rest:
            reason = "; ".join(dict.fromkeys(unnamed))[:300]
            self._done(
                batch,
                action,
                ids,
                status="sending",
                batch_status="uncertain",
                error=f"Shopgate refused items it did not name: {reason}",
            )
            self.unsettled.unnamed(action, rest, reason)
            self.tracker.advance(batches=1, members=0)
            return
        self._done(batch, action, ids, status=status, batch_status="confirmed")
        self.tracker.advance(batches=1, members=len(rest))

    def _done(
        self,
        batch: int,
        action: Action,
        ids: Sequence[str],
        *,
        status: MemberStatus,
        batch_status: str,
        error: str | None = None,
    ) -> None:
        self.journal.batch_done(
            self.run_id, batch, status=status, batch_status=batch_status, error=error
        )

    def _split_too_large(self, action: Action, ids: list[str]) -> None:
        if len(ids) == 1:
            self.log.fail(action, ids, "the server refused even a single member as too large")
            return
        half = math.ceil(len(ids) / 2)
        self.pusher.shrink_batches(half)
        self.tracker.add_work(batches=1, members=0)
        self._send_parts(action, chunked(ids, half))

    def _send_parts(self, action: Action, parts: list[list[str]]) -> None:
        """Send parts of a batch in new batches, one after another on this worker."""
        with self.lock:
            self.n_queued += len(parts)
        for part in parts:
            self._send(action, part)

    def _isolate(self, batch: int, action: Action, ids: list[str], exc: APIStatusError) -> None:
        in_batch = set(ids)
        reasons: dict[str, str] = {}
        for error in exc.item_errors:
            if error.id is not None and error.id in in_batch:
                reasons.setdefault(error.id, _reason(error) or exc.message)
        if reasons:
            # Nothing of the batch was applied: the refused ids fail with Shopgate's reason,
            # the others go out again in a batch of their own.
            self.log.fail_by_reason(action, reasons)
            self._done(
                batch, action, ids, status="pending", batch_status="rejected", error=_short(exc)
            )
            rest = [i for i in ids if i not in reasons]
            if rest:
                self.tracker.add_work(batches=1, members=0)
                self._send_parts(action, [rest])
        elif len(ids) == 1:
            self._done(
                batch, action, ids, status="failed", batch_status="rejected", error=_short(exc)
            )
            self.log.fail(action, ids, exc.message, journal=False)
        else:
            # The server did not say which ids it refused: halve until the bad ones stand alone.
            self._done(
                batch, action, ids, status="pending", batch_status="rejected", error=_short(exc)
            )
            self.tracker.add_work(batches=1, members=0)
            half = math.ceil(len(ids) / 2)
            self._send_parts(action, chunked(ids, half))

    def _mark_uncertain(
        self, batch: int, action: Action, ids: Sequence[str], exc: Exception
    ) -> None:
        # Left as "sending" in the journal: only a read can tell whether it was applied.
        self.journal.batch_done(
            self.run_id,
            batch,
            status="sending",
            batch_status="uncertain",
            error=_short(exc),
        )
        self.unsettled.lost(action, ids)

    def _fatal(self, batch: int, action: Action, ids: Sequence[str], exc: APIError) -> None:
        self._done(batch, action, ids, status="pending", batch_status="failed", error=_short(exc))
        self._stop_run(exc)

    def _refuse(self, batch: int, action: Action, ids: Sequence[str], exc: APIError) -> None:
        """Refused with nothing done: sent again next round, unless refusals keep coming."""
        self._done(batch, action, ids, status="pending", batch_status="refused", error=_short(exc))
        with self.lock:
            self.refused[action].extend(ids)
            self.refused_in_a_row += 1
            self.last_refusal = exc
            outage = self.refused_in_a_row >= max(_OUTAGE_AFTER, self.pusher.options.concurrency)
        if outage:
            self._stop_run(exc)

    def _stop_run(self, exc: BaseException) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = exc
        self.stop.set()

    def _reading(self, step: Callable[[], None]) -> None:
        """Run the reconcile or verify step; Shopgate failing meanwhile stops the run."""
        try:
            step()
        except APIError as exc:
            self._stop_run(exc)

    def _reconcile(self) -> None:
        reconcile(
            self.pusher.reader,
            self.log,
            self.code,
            self.unsettled,
            push=self._push,
            stopped=lambda: self.fatal is not None or self.cancel.cancelled,
            max_rounds=self.pusher.options.max_rounds,
            verify_timeout=self.pusher.options.verify_timeout,
        )

    def _verify(self) -> None:
        self.verify_method = verify(
            self.pusher.reader,
            self.log,
            self.code,
            n_live=self.n_after,
            suspect_removes=self.unsettled.suspect_removes,
            timeout=self.pusher.options.verify_timeout,
        )


def _reason(error: ItemError) -> str:
    """Shopgate's reason for one refused item, as shown per id."""
    return error.reason or error.code or "refused by Shopgate (no reason given)"


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
