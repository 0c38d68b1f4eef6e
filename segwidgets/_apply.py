"""Pushing a plan to Shopgate: checks, batches, concurrency, faults, journal.

How a push goes:

0. **hold** — the segment is held for this one writer (a lease in the journal, see
   ``_lease``): a second sync, apply, resume or undo of it is refused with
   ``SegmentBusyError`` before anything is read or sent.
1. **check** — the plan is for this merchant and segment (``check_same_target``), within
   the mass-removal guard, the segment is fixed, and it has not changed since the plan
   (``segwidgets._stale``): its live members still have the plan's fingerprint (``full``,
   every page read), or its total is the plan's and no planned change is already made
   (``changes``, the planned ids looked up by ``$in``), whichever needs fewer requests
   unless ``stale_check`` says; else ``StalePlanError`` with the drift, and nothing is
   written.
2. **push**, 3. **reconcile** and 4. **verify** — one run, started here (or resumed from
   the journal) and carried out by ``segwidgets._run.RunState``: batches of ``batch_size``
   sent ``concurrency`` at a time, removes first, each journaled before it leaves and after
   its answer; a failed write handled by its ``APIError.outcome``; then reads settle what
   the answers did not and read the changes back (``segwidgets._verify``). ``resume``
   settles batches left *sending* the same way. The run ends in an ``ApplyResult``
   (``segwidgets._result``).

Every full read of the segment (a full stale check, a reconcile round, a full-read
verification) fetches offset pages ``concurrency`` at a time (``segwidgets._live``). Only
a full read shows a change anywhere in the segment; the stale check by the changes cannot
see one that touches no planned id and keeps the total (``segwidgets._stale``). The run's
progress counts each phase in its own unit and the whole run against
``Pusher.estimate(plan)`` (the plan's estimate at this session's settings).

The ``Pusher`` is shared by every push of a session: its threads, its batch size (which
shrinks after a 413) and its member reader outlive one run.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from ._errors import PlanTargetError, SegmentNotEditableError
from ._journal import DEFAULT_STALE_AFTER, Action, Journal, MemberStatus
from ._lease import SegmentLease
from ._progress import CancelToken, ProgressCallback, ProgressTracker
from ._result import ApplyResult, outcome_frame
from ._run import Batch, RunState, chunked
from ._segment_kind import is_fixed, not_editable_reason
from ._stale import check_stale
from ._types import StaleCheck
from ._verify import MemberReader, settle_run

if TYPE_CHECKING:
    from ._client import ShopgateClient
    from ._config import Credentials
    from ._cost import StaleMethod
    from ._plan import Estimate, SegmentPlan

__all__ = ["ApplyOptions", "Checked", "Pusher", "check_same_target"]


def check_same_target(
    merchant_code: str, target: str, credentials: Credentials, *, what: str
) -> None:
    """Refuse a plan or run (``what`` names it) made for another merchant or host than the
    one ``credentials`` connect to (``PlanTargetError``)."""
    if merchant_code != credentials.merchant_code or target != credentials.url_template:
        msg = (
            f"{what} was made for merchant {merchant_code!r} at {target}, but this session "
            f"is connected to {credentials.merchant_code!r} at {credentials.url_template}. "
            "Connect to that merchant to use it. Nothing was sent."
        )
        raise PlanTargetError(msg)


@dataclass(frozen=True)
class Checked:
    """A plan found current on a fixed segment: how it was checked, and the segment's
    ``memberCount`` as Shopgate reported it then. The run's member-count checks start from
    it: the same count, so devices and removals still applying count as Shopgate counts
    them (the plan's count of customer members where the answer has none)."""

    stale_method: StaleMethod
    member_count: int


@dataclass(frozen=True)
class ApplyOptions:
    """How a push runs. The session fills these from its settings and ``apply()`` keywords."""

    batch_size: int = 1000
    concurrency: int = 8
    #: members per page when reading the segment; None = the client's ``traits.page_size``
    page_size: int | None = None
    verify: bool = True
    verify_timeout: float = 30.0
    max_rounds: int = 3

    def as_dict(self) -> dict[str, Any]:
        """For the journal."""
        return {
            "batch_size": self.batch_size,
            "concurrency": self.concurrency,
            "page_size": self.page_size,
            "verify": self.verify,
            "verify_timeout": self.verify_timeout,
            "max_rounds": self.max_rounds,
        }


class Pusher:
    """Runs pushes for one session: shares its client, journal and options."""

    def __init__(
        self,
        client: ShopgateClient,
        journal: Journal,
        options: ApplyOptions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.journal = journal
        self.options = options
        #: how the session tells time (tests pass a fake; ``sleep`` paces the reader's polls)
        self.clock = clock
        #: reads of the segment's members (the stale check, reconcile, verify, settle)
        self.reader = MemberReader(
            client,
            page_size=options.page_size,
            concurrency=options.concurrency,
            sleep=sleep,
            clock=clock,
        )
        #: the largest batch the server took so far (shrinks after a 413)
        self.batch_size = options.batch_size
        #: seconds without a heartbeat after which another writer's lease is taken over
        self.lease_stale_after = DEFAULT_STALE_AFTER
        self._size_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def workers(self) -> ThreadPoolExecutor:
        """The session's push threads, all started (the first call starts them).

        Kept for the whole session: a push does not wait for threads to start while its
        first batches are due.
        """
        with self._pool_lock:
            if self._pool is None:
                n = max(1, self.options.concurrency)
                pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="segwidgets-push")
                # A task that waits for all the others makes the pool start every thread.
                everyone = threading.Barrier(n)
                for started in [pool.submit(everyone.wait) for _ in range(n)]:
                    started.result()
                self._pool = pool
            return self._pool

    def close(self) -> None:
        """Stop the push threads (idle between pushes).

        Closing during a push lets the batches in flight finish and cancels the queued
        ones: the run stops as interrupted, and ``resume`` finishes it.
        """
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def estimate(
        self, plan: SegmentPlan, *, verify: bool = True, stale_check: StaleCheck = "auto"
    ) -> Estimate:
        """``plan.estimate()`` at this pusher's batch size, concurrency, page size, what is
        known of ``$in`` and the mean latency so far: the count a run's progress follows
        (without the verification when ``verify`` is False)."""
        estimate = plan.estimate(
            batch_size=self.batch_size,
            concurrency=self.options.concurrency,
            latency=self.client.stats.mean_latency(),
            page_size=self.reader.page_size,
            in_filter=self.client.traits.in_on_id,
            stale_check=stale_check,
        )
        if verify:
            return estimate
        return estimate.without("verify")

    # -- checks ----------------------------------------------------------------------------

    def check_target(self, plan: SegmentPlan, *, segment: str | None = None) -> None:
        """Refuse a plan made for another merchant, host or segment."""
        check_same_target(
            plan.merchant_code, plan.target, self.client.credentials, what="This plan"
        )
        if segment is not None and segment != plan.segment_code:
            msg = (
                f"This plan is for segment {plan.segment_code!r}, not {segment!r}. "
                "Plan again for the segment you mean. Nothing was sent."
            )
            raise PlanTargetError(msg)

    def check_editable(self, code: str) -> dict[str, Any]:
        """Only fixed segments have a member list that can be edited; the segment."""
        segment = self.client.get_segment(code)
        if not is_fixed(segment):
            raise SegmentNotEditableError(not_editable_reason({"code": code, **segment}))
        return segment

    def check_plan(
        self,
        plan: SegmentPlan,
        *,
        stale_check: StaleCheck,
        tracker: ProgressTracker | None = None,
    ) -> Checked:
        """The checks before a push, all reads: the segment is fixed (``check_editable``)
        and the plan current (``segwidgets._stale``); the segment is read with the stale
        check's first requests."""
        code = plan.segment_code
        segment: dict[str, Any] = {}
        method = check_stale(
            self.reader,
            plan,
            check=stale_check,
            tracker=tracker,
            along=[lambda: segment.update(self.check_editable(code))],
        )
        count = segment.get("memberCount")
        return Checked(method, int(count) if isinstance(count, int) else plan.n_live)

    # -- apply ------------------------------------------------------------------------------

    def dry_run(self, plan: SegmentPlan, *, stale_check: StaleCheck = "auto") -> ApplyResult:
        """What ``apply`` would send, without sending any write."""
        start = self.clock()
        before = self.client.stats.n_requests
        checked = self.check_plan(plan, stale_check=stale_check)
        rows: list[tuple[int, str, str, int]] = []
        path = f"segments/{plan.segment_code}/members"
        for number, (action, batch) in enumerate(self.batches(plan.removes, plan.adds)):
            rows.append((number, "DELETE" if action == "remove" else "POST", path, len(batch)))
        requests = pl.DataFrame(
            rows,
            schema={
                "batch": pl.Int64,
                "method": pl.String,
                "path": pl.String,
                "n_members": pl.Int64,
            },
            orient="row",
        )
        outcomes = outcome_frame(
            [("add", i, "pending", None) for i in plan.adds.get_column("customer_id")]
            + [("remove", i, "pending", None) for i in plan.removes.get_column("customer_id")]
        )
        return ApplyResult(
            run_id=None,
            status="dry_run",
            segment_code=plan.segment_code,
            outcomes=outcomes,
            n_requests=self.client.stats.n_requests - before,
            seconds=self.clock() - start,
            message=f"Dry run: would send {requests.height:,} write requests. {plan.estimate()}",
            requests=requests,
            batch_size=self.batch_size,
            stale_method=checked.stale_method,
        )

    def apply(
        self,
        plan: SegmentPlan,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        kind: str = "apply",
        verify: bool = True,
        stale_check: StaleCheck = "auto",
    ) -> ApplyResult:
        """Check, push, reconcile, verify (see the module docstring).

        ``verify=False`` skips the read-back for this push only; ``stale_check`` is how the
        plan is checked current (``segwidgets._stale``).
        """
        start = self.clock()
        before = self.client.stats.n_requests
        timings: dict[str, float] = {}
        self.workers()
        run_kind = plan.kind if kind == "apply" else kind
        # One writer per segment: refused here (SegmentBusyError) before anything is read.
        verifying = verify and self.options.verify
        estimate = self.estimate(plan, verify=verifying, stale_check=stale_check)
        tracker = ProgressTracker(
            progress,
            batches_total=0,
            members_total=0,
            clock=self.clock,
            requests_total=estimate.n_requests,
            requests=lambda: self.client.stats.n_requests - before,
        )
        with self.lease(plan.merchant_code, plan.target, plan.segment_code, run_kind) as lease:
            checked = self.check_plan(plan, stale_check=stale_check, tracker=tracker)
            timings["check"] = self.clock() - start
            # Cut into batches now, so the journal records each member's batch once, up front.
            batches = list(self.batches(plan.removes, plan.adds))
            run_id = self.journal.start_run(
                kind=run_kind,
                plan_id=plan.plan_id,
                merchant_code=plan.merchant_code,
                target=plan.target,
                segment_code=plan.segment_code,
                mode=plan.mode,
                live_fingerprint=plan.live_fingerprint,
                batches=batches,
                settings={
                    **self.options.as_dict(),
                    "verify": verify and self.options.verify,
                    "stale_check": checked.stale_method,
                },
                parent_run_id=plan.undo_of,
            )
            lease.attach(run_id)
            run = RunState(
                self,
                run_id,
                plan.segment_code,
                progress,
                cancel,
                verify=verifying,
                lease=lease,
                tracker=tracker,
            )
            run.expect(checked.member_count)
            run.stale_method = checked.stale_method
            run.n_after = plan.n_after
            planned: list[Batch] = [(a, ids, n) for n, (a, ids) in enumerate(batches)]
            # The run's id lists were just allocated: the collector's next young-generation
            # pass would walk them all in the middle of the first wave of batches. Run it
            # now, before anything is sent.
            gc.collect(1)
            return run.execute(planned=planned, start=start, before=before, timings=timings)

    def lease(
        self,
        merchant_code: str,
        target: str,
        segment_code: str,
        kind: str,
        *,
        run_id: str | None = None,
    ) -> SegmentLease:
        """Hold the segment for one writer (``SegmentBusyError`` if another one has it)."""
        return SegmentLease(
            self.journal,
            merchant_code=merchant_code,
            target=target,
            segment_code=segment_code,
            kind=kind,
            run_id=run_id,
            stale_after=self.lease_stale_after,
        )

    def resume(
        self,
        run_id: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ApplyResult:
        """Finish an interrupted run: send what was never confirmed, then verify."""
        start = self.clock()
        before = self.client.stats.n_requests
        record = self.journal.run(run_id)
        check_same_target(
            record.merchant_code, record.target, self.client.credentials, what=f"Run {run_id}"
        )
        code = record.segment_code
        # One resume at a time, and none while the run's own process still works on it.
        with self.lease(
            record.merchant_code, record.target, code, "resume", run_id=run_id
        ) as lease:
            self.journal.mark_running(run_id)
            unsettled: tuple[MemberStatus, ...] = ("pending", "sending")
            adds = self.journal.member_ids(run_id, "add", unsettled)
            removes = self.journal.member_ids(run_id, "remove", unsettled)
            # Removes Shopgate may have accepted but not applied yet still count as members.
            maybe_pending = self.journal.member_ids(
                run_id, "remove", ("sending", "accepted", "unverified")
            )
            run = RunState(
                self, run_id, code, progress, cancel, verify=self.options.verify, lease=lease
            )
            run.expect(
                self.reader.member_count(code),
                removes_before=len(maybe_pending),
            )
            # What the journal cannot vouch for is settled by a read, never by a blind resend.
            run.unsettled.lost("add", adds)
            run.unsettled.lost("remove", removes)
            return run.execute(planned=[], start=start, before=before, timings={})

    def settle(self, run_id: str, code: str) -> tuple[list[str], list[str], list[str]]:
        """Settle a finished or interrupted run from reads, for an undo (see
        ``segwidgets._verify.settle_run``): adds applied, removes applied, ids unsettled."""
        return settle_run(
            self.reader, self.journal, run_id, code, timeout=self.options.verify_timeout
        )

    def batches(
        self, removes: pl.DataFrame | Sequence[str], adds: pl.DataFrame | Sequence[str]
    ) -> Iterable[tuple[Action, list[str]]]:
        """The batches to send these changes in: removes first, each at most ``batch_size``."""

        def ids(x: pl.DataFrame | Sequence[str]) -> list[str]:
            # Sorted, so each batch is one key range of the journal's member table: its
            # updates touch a few pages instead of one page per member.
            return sorted(
                x.get_column("customer_id").to_list() if isinstance(x, pl.DataFrame) else x
            )

        for batch in chunked(ids(removes), self.batch_size):
            yield "remove", batch
        for batch in chunked(ids(adds), self.batch_size):
            yield "add", batch

    def shrink_batches(self, size: int) -> None:
        """The server refused a batch as too large: no batch is larger than ``size`` now."""
        with self._size_lock:
            self.batch_size = min(self.batch_size, size)
