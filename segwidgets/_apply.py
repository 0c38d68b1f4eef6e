"""Pushing a plan to Shopgate: batches, concurrency, faults, verification, journal.

How a push goes:

0. **hold** — the segment is held for this one writer (a lease in the journal, see
   ``_lease``): a second sync, apply, resume or undo of it is refused with
   ``SegmentBusyError`` before anything is read or sent.
1. **check** — the plan is for this merchant and segment, within the mass-removal guard,
   the segment is fixed, and it has not changed since the plan (``segwidgets._stale``): its
   live members still have the plan's fingerprint (``full``, every page read), or its total
   is the plan's and no planned change is already made (``changes``, the planned ids looked
   up by ``$in``), whichever needs fewer requests unless ``stale_check`` says; else
   ``StalePlanError`` with the drift, and nothing is written.
2. **push** — removes first (Shopgate applies them asynchronously, so their delay overlaps
   the adds), then adds; batches of ``batch_size`` sent ``concurrency`` at a time. Each
   batch is journaled as *sending* before it goes out and *applied*/*accepted* only after
   the server confirmed it. A batch that is too large is split; a batch rejected for
   some ids is narrowed down to those ids (by the server's per-item errors, else by
   bisection) and the rest applied. A 2xx answer is read too: the items it names in
   ``errors`` are ``failed`` with Shopgate's reason and never count as applied; the rest of
   the batch is applied (adds) or accepted (removes). An ``errors`` entry that names no id
   (nor a valid index) leaves the rest of its batch uncertain: a read settles it (adds in
   the segment are applied, the others failed with that reason; removes stay accepted, and
   one still a member when verification ends is failed with that reason, not unverified). A batch refused with nothing done (429, 502-504 or no
   connection, after the client's own retries) is sent again in a later round, at most
   ``max_rounds`` times; refusals that keep coming are an outage and stop the run with
   ``ApplyIncompleteError``, whose result says what was applied and what was not.
   Before each batch the journal file must still be intact and the lease ours; before
   each wave of batches, and after the last one, the segment's member count must be one
   the run's own writes explain (someone else writing stops the run).
3. **reconcile** — a write whose answer was lost (connection dropped, 500, 409 on a
   strict server) is never re-sent blindly: the segment is read again and only what is
   still missing is sent, for at most ``max_rounds`` rounds. A removal the read still
   shows may be accepted and not applied yet: it is waited for (up to ``verify_timeout``)
   before it is sent again. ``resume`` settles batches left *sending* the same way.
4. **verify** — the changes are read back the way that needs the fewest requests (see
   ``segwidgets._cost.lookup_plan``): member reads filtered by ``{"id": {"$in": [...]}}``,
   100 ids a request, where Shopgate takes them (a 400 naming ``filters`` teaches
   ``traits.in_on_id = False`` and the next best way is used), else a full read of the
   segment, or ``customers/{id}/segments`` per id; ``ApplyResult.verify_method`` says which.
   Adds must show, removes must be gone (polled until ``verify_timeout``, since deletes
   apply later). What is still not gone is ``accepted_unverified``.

Every full read of the segment (a full stale check, a reconcile round, a full-read
verification) fetches offset pages ``concurrency`` at a time (``segwidgets._live``). Only
a full read shows a change anywhere in the segment; the stale check by the changes cannot
see one that touches no planned id and keeps the total (``segwidgets._stale``). The run's progress counts each phase in its own unit and the whole run against
``Pusher.estimate(plan)`` (the plan's estimate at this session's settings).
"""

from __future__ import annotations

import contextlib
import gc
import html
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl

from ._cost import (
    WAVE_MIN,
    StaleMethod,
    VerifyMethod,
    in_chunk,
    lookup_plan,
    read_pages,
    verify_plan,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ApplyIncompleteError,
    BadRequestError,
    ConflictError,
    JournalError,
    OperationCancelledError,
    PayloadTooLargeError,
    PlanTargetError,
    RateLimitError,
    SegmentBusyError,
    SegmentNotEditableError,
    ServerError,
    StalePlanError,
    UnprocessableEntityError,
)
from ._export import write_private_csv
from ._item_errors import ItemError
from ._journal import DEFAULT_STALE_AFTER, Action, Journal, MemberStatus
from ._lease import SegmentLease
from ._live import LiveSnapshot, read_live
from ._progress import CancelToken, ProgressCallback, ProgressTracker
from ._segment_kind import is_fixed, not_editable_reason
from ._stale import check_stale
from ._types import ApplyStatus, StaleCheck

if TYPE_CHECKING:
    from ._client import ShopgateClient
    from ._plan import Estimate, SegmentPlan

__all__ = ["ApplyOptions", "ApplyResult", "Pusher", "chunked"]

#: 5xx answers that mean "refused, nothing done" (the client already retried them).
_REFUSED_5XX = frozenset({502, 503, 504})

#: Transport errors that mean the request never reached the server.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

#: Batches refused in a row (429, 502-504, no connection, after the client's own retries)
#: that count as an outage and stop the run; fewer are sent again in the next round.
_OUTAGE_AFTER = 3

#: Batches per wave between two checks of the segment's member count (at least; a wave is
#: ``concurrency`` batches when that is larger).
_WAVE_MIN = WAVE_MIN

#: A batch to send: its action, its ids, and its number in the journal (None: not yet there).
_Batch = tuple[Action, list[str], int | None]


def chunked(ids: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive batches of at most ``size`` ids."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


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


@dataclass(frozen=True, repr=False)
class ApplyResult:
    """What a push did. ``outcomes`` has one row per member change:
    ``customer_id``, ``action`` (add/remove), ``outcome``, ``error``.

    Outcomes: ``verified`` (a read showed it), ``applied`` (confirmed, not read back),
    ``accepted_unverified`` (a remove Shopgate accepted but had not applied in time),
    ``failed`` (refused; ``error`` says why), ``pending`` (not sent: cancelled or stopped),
    ``unknown`` (sent, but the run stopped before an answer or a read settled it; ``resume``
    reads the segment and settles it).
    """

    run_id: str | None
    status: ApplyStatus
    segment_code: str
    outcomes: pl.DataFrame
    n_requests: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""
    requests: pl.DataFrame | None = None
    batch_size: int = 0
    #: how verification read the changes back: ``in-filter`` (member reads filtered by
    #: ``$in``, 100 ids a request), ``full-read``, ``per-customer`` or ``none``
    verify_method: str = "none"
    #: how the stale check saw the plan current: ``full`` (every page read), ``changes``
    #: (the total and the planned ids by ``$in``) or ``none`` (no check, as in a resume)
    stale_method: str = "none"

    def _n(self, action: str | None, *outcomes: str) -> int:
        frame = self.outcomes
        if action is not None:
            frame = frame.filter(pl.col("action") == action)
        return frame.filter(pl.col("outcome").is_in(list(outcomes))).height

    @property
    def n_added(self) -> int:
        """Adds confirmed by the server."""
        return self._n("add", "applied", "verified")

    @property
    def n_removed(self) -> int:
        """Removes confirmed by the server (verified or still applying)."""
        return self._n("remove", "applied", "verified", "accepted_unverified")

    @property
    def n_verified(self) -> int:
        """Changes a read-back showed."""
        return self._n(None, "verified")

    @property
    def n_unverified(self) -> int:
        """Removes accepted but not seen applied before the verification gave up."""
        return self._n(None, "accepted_unverified")

    @property
    def n_failed(self) -> int:
        """Changes the server refused."""
        return self._n(None, "failed")

    @property
    def n_pending(self) -> int:
        """Changes not sent (cancelled or stopped); ``resume`` sends them."""
        return self._n(None, "pending")

    @property
    def n_unknown(self) -> int:
        """Changes sent whose outcome the run could not learn before it stopped."""
        return self._n(None, "unknown")

    @property
    def failed(self) -> pl.DataFrame:
        """The refused changes with the server's reason."""
        return self.outcomes.filter(pl.col("outcome") == "failed")

    def failure_reasons(self) -> pl.DataFrame:
        """One row per reason Shopgate (or the run) gave for refused changes: ``error``,
        ``action``, ``n`` and the ``customer_ids`` it names, most frequent first."""
        return (
            self.failed.group_by("error", "action")
            .agg(pl.len().alias("n"), pl.col("customer_id").sort().alias("customer_ids"))
            .sort(["n", "error", "action"], descending=[True, False, False])
        )

    def failure_lines(self, *, max_reasons: int = 10, max_ids: int = 5) -> list[str]:
        """The refusals as text: per reason a line with its count, then a line of ids."""
        lines: list[str] = []
        reasons = self.failure_reasons()
        for error, action, n, ids in reasons.head(max_reasons).iter_rows():
            shown = ", ".join(ids[:max_ids]) + (
                f", … ({n - max_ids:,} more)" if n > max_ids else ""
            )
            lines.append(f"{n:,} {action}(s) refused: {error or 'no reason given'}")
            lines.append(f"    {shown}")
        if reasons.height > max_reasons:
            lines.append(f"… and {reasons.height - max_reasons:,} other reasons (see .failed)")
        return lines

    @property
    def unverified(self) -> pl.DataFrame:
        """The removes accepted but not seen applied."""
        return self.outcomes.filter(pl.col("outcome") == "accepted_unverified")

    @property
    def is_success(self) -> bool:
        """True when every change was applied and verified (or there was nothing to do)."""
        return self.status in {"verified", "applied", "dry_run"}

    def to_polars(self) -> pl.DataFrame:
        """The per-member outcomes."""
        return self.outcomes

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the per-member outcomes to a CSV file readable by you only (mode 0600).

        Cells a spreadsheet would run as a formula are written as text (a leading ``'``).
        """
        return write_private_csv(self.outcomes, path)

    def __repr__(self) -> str:
        return (
            f"ApplyResult(run_id={self.run_id!r}, status={self.status!r}, "
            f"n_added={self.n_added:,}, n_removed={self.n_removed:,}, "
            f"n_failed={self.n_failed:,}, n_unverified={self.n_unverified:,}, "
            f"n_pending={self.n_pending:,}, n_unknown={self.n_unknown:,}, "
            f"n_requests={self.n_requests:,})"
        ) + "".join("\n  " + line for line in self.failure_lines())

    def _repr_html_(self) -> str:
        color = (
            "var(--jp-success-color1,#15803d)"
            if self.is_success
            else "var(--jp-warn-color1,#b45309)"
        )
        return (
            f"<div><b>Push {html.escape(self.status)}</b> "
            f"<span style='color:{color}'>●</span> segment {html.escape(self.segment_code)}: "
            f"{self.n_added:,} added, {self.n_removed:,} removed, {self.n_failed:,} failed, "
            f"{self.n_unverified:,} unverified, {self.n_pending:,} not sent, "
            f"{self.n_unknown:,} unknown — "
            f"{self.n_requests:,} requests in {self.seconds:.1f} s"
            f"{'<br>' + html.escape(self.message) if self.message else ''}"
            f"{self._reasons_html()}</div>"
        )

    def _reasons_html(self) -> str:
        lines = self.failure_lines()
        if not lines:
            return ""
        items = []
        for head, ids in zip(lines[::2], lines[1::2], strict=False):
            items.append(f"<li>{html.escape(head)}<br><code>{html.escape(ids.strip())}</code></li>")
        if len(lines) % 2:
            items.append(f"<li>{html.escape(lines[-1])}</li>")
        return f"<ul style='margin:4px 0'>{''.join(items)}</ul>"


class _Stop(Exception):  # noqa: N818 (internal control flow, never escapes)
    """A worker found the run stopping and sent nothing."""


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
        self._sleep = sleep
        self._clock = clock
        #: the largest batch the server took so far (shrinks after a 413)
        self.batch_size = options.batch_size
        #: seconds without a heartbeat after which another writer's lease is taken over
        self.lease_stale_after = DEFAULT_STALE_AFTER
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

    def read(self, code: str, *, on_page: Callable[[], object] | None = None) -> LiveSnapshot:
        """The segment's live members, offset pages ``concurrency`` at a time."""
        return read_live(
            self.client,
            code,
            page_size=self.options.page_size,
            concurrency=self.options.concurrency,
            on_page=on_page,
        )

    def read_with_progress(
        self,
        code: str,
        progress: ProgressCallback | None,
        *,
        n_members: object = None,
        cancel: CancelToken | None = None,
    ) -> LiveSnapshot:
        """``read``, reported as phase ``read`` in pages (``n_members``: the segment's
        ``memberCount``, for the number of pages to expect). ``cancel`` is checked after
        every page: once cancelled no further page is asked for and
        ``OperationCancelledError`` is raised."""

        def check() -> None:
            if cancel is not None and cancel.cancelled:
                msg = "Reading the segment was cancelled; nothing was written. Plan again."
                raise OperationCancelledError(msg)

        check()
        if progress is None:
            return self.read(code, on_page=check if cancel is not None else None)
        count = n_members if isinstance(n_members, int) and n_members >= 0 else 0
        pages = read_pages(count, self.page_size)
        before = self.client.stats.n_requests
        tracker = ProgressTracker(
            progress,
            batches_total=0,
            members_total=0,
            clock=self._clock,
            requests_total=pages,
            requests=lambda: self.client.stats.n_requests - before,
        )
        tracker.start_phase("read", pages, "pages")

        def on_page() -> None:
            tracker.step("read")
            check()

        live = self.read(code, on_page=on_page)
        tracker.emit("done", f"{live.n:,} members in {live.n_pages:,} pages")
        return live

    @property
    def page_size(self) -> int:
        """Members per page of a read."""
        return self.options.page_size or self.client.traits.page_size

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
            page_size=self.page_size,
            in_filter=self.client.traits.in_on_id,
            stale_check=stale_check,
        )
        if verify:
            return estimate
        return estimate.without("verify")

    # -- checks ----------------------------------------------------------------------------

    def check_target(self, plan: SegmentPlan, *, segment: str | None = None) -> None:
        """Refuse a plan made for another merchant, host or segment."""
        creds = self.client.credentials
        if plan.merchant_code != creds.merchant_code or plan.target != creds.url_template:
            msg = (
                f"This plan was made for merchant {plan.merchant_code!r} at {plan.target}, "
                f"but this session is connected to {creds.merchant_code!r} at "
                f"{creds.url_template}. Nothing was sent."
            )
            raise PlanTargetError(msg)
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

    def check_fresh(
        self, plan: SegmentPlan, *, on_page: Callable[[], object] | None = None
    ) -> LiveSnapshot:
        """Re-read the segment (all of it: a change anywhere must show); refuse the plan
        if it changed since planning."""
        live = self.read(plan.segment_code, on_page=on_page)
        if live.fingerprint != plan.live_fingerprint:
            before = pl.DataFrame({"customer_id": plan.live})
            now = live.frame()
            added = now.join(before, on="customer_id", how="anti").height
            removed = before.join(now, on="customer_id", how="anti").height
            msg = (
                f"Segment {plan.segment_code!r} changed since this plan was made "
                f"({added:,} members added and {removed:,} removed by someone else, "
                f"{plan.n_live:,} → {live.n:,}). Nothing was sent: plan again."
            )
            raise StalePlanError(msg, n_added_since=added, n_removed_since=removed)
        return live

    # -- apply ------------------------------------------------------------------------------

    def dry_run(self, plan: SegmentPlan, *, stale_check: StaleCheck = "auto") -> ApplyResult:
        """What ``apply`` would send, without sending any write."""
        start = self._clock()
        before = self.client.stats.n_requests
        self.check_editable(plan.segment_code)
        fresh = check_stale(self, plan, check=stale_check)
        rows: list[tuple[int, str, str, int]] = []
        path = f"segments/{plan.segment_code}/members"
        for number, (action, batch) in enumerate(self._batches(plan.removes, plan.adds)):
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
        outcomes = _outcomes(
            [("add", i, "pending", None) for i in plan.adds.get_column("customer_id")]
            + [("remove", i, "pending", None) for i in plan.removes.get_column("customer_id")]
        )
        return ApplyResult(
            run_id=None,
            status="dry_run",
            segment_code=plan.segment_code,
            outcomes=outcomes,
            n_requests=self.client.stats.n_requests - before,
            seconds=self._clock() - start,
            message=f"Dry run: would send {requests.height:,} write requests. {plan.estimate()}",
            requests=requests,
            batch_size=self.batch_size,
            stale_method=fresh.method,
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
        start = self._clock()
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
            clock=self._clock,
            requests_total=estimate.n_requests,
            requests=lambda: self.client.stats.n_requests - before,
        )
        with self.lease(plan.merchant_code, plan.target, plan.segment_code, run_kind) as lease:
            self.check_editable(plan.segment_code)
            fresh = check_stale(self, plan, check=stale_check, tracker=tracker)
            timings["check"] = self._clock() - start
            # Cut into batches now, so the journal records each member's batch once, up front.
            batches = list(self._batches(plan.removes, plan.adds))
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
                    "stale_check": fresh.method,
                },
                parent_run_id=plan.undo_of,
            )
            lease.attach(run_id)
            run = _RunState(
                self,
                run_id,
                plan.segment_code,
                progress,
                cancel,
                verify=verifying,
                lease=lease,
                tracker=tracker,
            )
            run.expect(fresh.n_live)
            run.stale_method = fresh.method
            run.n_after = plan.n_after
            planned: list[_Batch] = [(a, ids, n) for n, (a, ids) in enumerate(batches)]
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
        start = self._clock()
        before = self.client.stats.n_requests
        record = self.journal.run(run_id)
        creds = self.client.credentials
        if record.merchant_code != creds.merchant_code or record.target != creds.url_template:
            msg = (
                f"Run {run_id} was for merchant {record.merchant_code!r} at {record.target}; "
                "connect to that merchant to resume it."
            )
            raise PlanTargetError(msg)
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
            run = _RunState(
                self, run_id, code, progress, cancel, verify=self.options.verify, lease=lease
            )
            run.expect(
                int(self.client.get_segment(code).get("memberCount", 0)),
                removes_before=len(maybe_pending),
            )
            # What the journal cannot vouch for is settled by a read, never by a blind resend.
            run.uncertain["add"].update(adds)
            run.uncertain["remove"].update(removes)
            return run.execute(planned=[], start=start, before=before, timings={})

    # -- settling (undo, resume) -------------------------------------------------------------

    def wait_gone(self, code: str, ids: Sequence[str], timeout: float) -> set[str]:
        """Wait up to ``timeout`` seconds for removals to apply; the ids still members."""
        clock, sleep = self._clock, self._sleep
        present = set(ids)
        if not present:
            return present
        deadline = clock() + timeout
        wait_s = 0.25
        while present:
            present &= self.still_present(code, sorted(present))
            if not present or clock() >= deadline:
                break
            sleep(min(wait_s, max(deadline - clock(), 0)))
            wait_s = min(wait_s * 2, 5.0)
        return present

    def still_present(self, code: str, ids: list[str], *, n_live: int | None = None) -> set[str]:
        """Which of ``ids`` are members now, by the way that needs the fewest requests
        (see ``lookup_method``; ``n_live``: the segment's size if known, else asked)."""
        return self.lookup(code, ids, n_live=n_live)[0]

    def lookup_method(self, n_ids: int, n_live: int) -> VerifyMethod:
        """How to learn which of ``n_ids`` ids are members of a segment of ``n_live``:
        ``in-filter`` (``⌈n_ids / page⌉`` member reads filtered by ``$in``, unless this
        Shopgate is known not to take it), ``full-read`` (``n_live // page + 1`` pages) or
        ``per-customer`` (one ``customers/{id}/segments`` read per id), the fewest
        requests first."""
        return lookup_plan(
            n_ids,
            n_live,
            page=self.options.page_size or self.client.traits.page_size,
            in_filter=self.client.traits.in_on_id,
        )[0]

    def lookup(
        self,
        code: str,
        ids: Sequence[str],
        *,
        n_live: int | None = None,
        on_step: Callable[[VerifyMethod, int], object] | None = None,
    ) -> tuple[set[str], VerifyMethod]:
        """Which of ``ids`` are members now, and how it was learnt. ``on_step(method, n)``
        after each request: ``n`` ids looked up (``in-filter``, ``per-customer``) or one
        page read (``full-read``)."""
        if not ids:
            return set(), "none"
        if n_live is None:
            n_live = int(self.client.get_segment(code).get("memberCount", 0))
        method = self.lookup_method(len(ids), n_live)
        if method == "in-filter":
            found = self._among(code, ids, on_step)
            if found is not None:
                return found, method
            # this Shopgate does not filter members by $in (now known): the next best way
            method = self.lookup_method(len(ids), n_live)
        if method == "per-customer":
            present: set[str] = set()
            for cid in ids:
                if code in {s.get("code") for s in self.client.customer_segments(cid)}:
                    present.add(cid)
                if on_step is not None:
                    on_step(method, 1)
            return present, method

        def page_read() -> None:
            if on_step is not None:
                on_step("full-read", 1)

        return set(ids) & set(self.read(code, on_page=page_read).ids), "full-read"

    def _among(
        self,
        code: str,
        ids: Sequence[str],
        on_step: Callable[[VerifyMethod, int], object] | None,
    ) -> set[str] | None:
        """``client.members_among`` a chunk of ids a request, ``concurrency`` requests at a
        time (the first one alone while it is not known whether ``$in`` works); None when
        ``$in`` is refused."""
        size = in_chunk(self.page_size)
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]

        def one(chunk: Sequence[str]) -> set[str] | None:
            found = self.client.members_among(code, chunk, chunk=size)
            if found is not None and on_step is not None:
                on_step("in-filter", len(chunk))
            return found

        present: set[str] = set()
        if self.client.traits.in_on_id is None:
            found = one(chunks[0])
            if found is None:
                return None
            present |= found
            chunks = chunks[1:]
        if not chunks:
            return present
        workers = min(max(1, self.options.concurrency), len(chunks))
        with ThreadPoolExecutor(workers, thread_name_prefix="segwidgets-lookup") as pool:
            for found in pool.map(one, chunks):
                if found is None:
                    return None
                present |= found
        return present

    def settle(self, run_id: str, code: str) -> tuple[list[str], list[str], list[str]]:
        """Settle a finished or interrupted run from reads, for an undo.

        Adds whose answer never arrived count as applied when a read shows them; removes
        accepted or sent are waited for (up to ``verify_timeout``) until a read shows them
        gone. Returns (adds applied, removes applied, ids still unsettled); what was learnt
        is written to the journal.
        """
        journal = self.journal
        sending_adds = journal.member_ids(run_id, "add", ("sending",))
        if sending_adds:
            present = self.still_present(code, sending_adds)
            journal.set_member_status(run_id, "add", sorted(present), "applied")
        removes = journal.member_ids(run_id, "remove", ("sending", "accepted", "unverified"))
        still = self.wait_gone(code, removes, self.options.verify_timeout)
        journal.set_member_status(
            run_id, "remove", [i for i in removes if i not in still], "verified"
        )
        added = journal.member_ids(run_id, "add", ("applied", "verified"))
        removed = journal.member_ids(run_id, "remove", ("verified",))
        return added, removed, sorted(still)

    def _batches(
        self, removes: pl.DataFrame | Sequence[str], adds: pl.DataFrame | Sequence[str]
    ) -> Iterable[tuple[Action, list[str]]]:
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


class _RunState:
    """One run in flight: worker threads, journal updates, uncertain and failed members."""

    def __init__(
        self,
        pusher: Pusher,
        run_id: str,
        code: str,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        *,
        verify: bool,
        lease: SegmentLease | None = None,
        tracker: ProgressTracker | None = None,
    ) -> None:
        self.p = pusher
        self.lease = lease
        #: the segment's member count this run expects: base, members handed out, writes
        self.base_count: int | None = None
        self.removes_before = 0
        self.out: dict[Action, int] = {"add": 0, "remove": 0}
        self.n_sends = 0
        self.verify = verify
        self.client = pusher.client
        self.journal = pusher.journal
        self.run_id = run_id
        self.code = code
        self.cancel = cancel or CancelToken()
        self.tracker = tracker or ProgressTracker(progress, batches_total=0, members_total=0)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.fatal: BaseException | None = None
        self.uncertain: dict[Action, set[str]] = {"add": set(), "remove": set()}
        #: ids of 2xx batches with an item error that named no id: id -> Shopgate's reason
        self.unnamed: dict[Action, dict[str, str]] = {"add": {}, "remove": {}}
        #: removes settled as accepted although their batch had an unnamed refusal
        self.suspect_removes: dict[str, str] = {}
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
        """Before a batch goes out: the journal is intact and the lease still ours; before
        each wave of batches after the first (``concurrency``, at least ``_WAVE_MIN``), the
        segment's member count is one this run's own writes explain. Otherwise the run
        stops; nothing more is sent."""
        try:
            self.journal.check_intact()
            if self.lease is not None:
                self.lease.check()
        except (JournalError, SegmentBusyError) as exc:
            self._stop_run(exc)
            raise _Stop from exc
        wave_size = max(self.p.options.concurrency, _WAVE_MIN)
        with self.lock:
            self.n_sends += 1
            # Not while refusals come in a row: the read would meet the same trouble.
            wave = (
                self.n_sends > wave_size
                and (self.n_sends - 1) % wave_size == 0
                and self.refused_in_a_row == 0
            )
            self.out[action] += len(ids)
        if wave and not self._check_count():
            raise _Stop

    def _check_after_push(self) -> None:
        """After the last write, as before each wave: a writer that started after the last
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
        planned: list[_Batch],
        start: float,
        before: int,
        timings: dict[str, float],
    ) -> ApplyResult:
        clock = self.p._clock
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
        outcomes = self._outcomes()
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
                f"{self.p.options.verify_timeout:g} s; see result.unverified."
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
            batch_size=self.p.batch_size,
            verify_method=self.verify_method,
            stale_method=self.stale_method,
        )
        if self.fatal is not None:
            raise ApplyIncompleteError(message, result=result) from self.fatal
        return result

    # -- push --------------------------------------------------------------------------------

    def _push(self, removes: Sequence[str], adds: Sequence[str]) -> None:
        """Send these changes in new batches (not recorded by ``start_run``)."""
        self._push_batches([(action, ids, None) for action, ids in self.p._batches(removes, adds)])

    def _push_batches(self, batches: list[_Batch]) -> None:
        self.tracker.add_work(batches=len(batches), members=sum(len(b[1]) for b in batches))
        self.tracker.emit("push")
        self._run_batches(batches)
        # Batches refused with nothing done go out again, a bounded number of rounds.
        for _ in range(self.p.options.max_rounds):
            with self.lock:
                removes, adds = self.refused["remove"], self.refused["add"]
                self.refused = {"add": [], "remove": []}
            if not (removes or adds) or self.fatal is not None or self.cancel.cancelled:
                return
            again: list[_Batch] = [(a, ids, None) for a, ids in self.p._batches(removes, adds)]
            self.tracker.add_work(batches=len(again), members=0)
            self.tracker.emit("push", f"sending {len(removes) + len(adds):,} refused changes again")
            self._run_batches(again)
        with self.lock:
            if (self.refused["add"] or self.refused["remove"]) and self.fatal is None:
                self.fatal = self.last_refusal
                self.stop.set()

    def _run_batches(self, batches: list[_Batch]) -> None:
        if not batches:
            return
        pool = self.p.workers()
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
            self._mark_uncertain(batch, action, ids, exc)
        except APIConnectionError as exc:
            if isinstance(exc.__cause__, _NEVER_SENT):
                self._refuse(batch, action, ids, exc)
            else:
                self._mark_uncertain(batch, action, ids, exc)
        except RateLimitError as exc:
            self._refuse(batch, action, ids, exc)
        except ServerError as exc:
            if exc.status_code in _REFUSED_5XX:
                self._refuse(batch, action, ids, exc)
            else:
                self._mark_uncertain(batch, action, ids, exc)
        except APIStatusError as exc:
            self._fatal(batch, action, ids, exc)
        except BaseException:
            # Anything else (a crash, KeyboardInterrupt): no other batch may start after it.
            self.stop.set()
            raise
        else:
            self._answered(batch, action, ids, refused)
            with self.lock:
                self.refused_in_a_row = 0

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
        self._fail_by_reason(action, named)
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
            with self.lock:
                for cid in rest:
                    self.unnamed[action][cid] = reason
            self.tracker.advance(batches=1, members=0)
            return
        self._done(batch, action, ids, status=status, batch_status="confirmed")
        self.tracker.advance(batches=1, members=len(rest))

    def _fail_by_reason(self, action: Action, reasons: dict[str, str]) -> None:
        by_reason: dict[str, list[str]] = {}
        for cid, reason in reasons.items():
            by_reason.setdefault(reason, []).append(cid)
        for reason, failed in by_reason.items():
            self._fail(action, sorted(failed), reason)

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
            self._fail(action, ids, "the server refused even a single member as too large")
            return
        half = math.ceil(len(ids) / 2)
        with self.lock:
            self.p.batch_size = min(self.p.batch_size, half)
        self.tracker.add_work(batches=1, members=0)
        for part in chunked(ids, half):
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
            self._fail_by_reason(action, reasons)
            self._done(
                batch, action, ids, status="pending", batch_status="rejected", error=_short(exc)
            )
            rest = [i for i in ids if i not in reasons]
            if rest:
                self.tracker.add_work(batches=1, members=0)
                self._send(action, rest)
        elif len(ids) == 1:
            self._done(
                batch, action, ids, status="failed", batch_status="rejected", error=_short(exc)
            )
            self._fail(action, ids, exc.message, journal=False)
        else:
            # The server did not say which ids it refused: halve until the bad ones stand alone.
            self._done(
                batch, action, ids, status="pending", batch_status="rejected", error=_short(exc)
            )
            self.tracker.add_work(batches=1, members=0)
            half = math.ceil(len(ids) / 2)
            for part in chunked(ids, half):
                self._send(action, part)

    def _fail(
        self, action: Action, ids: Sequence[str], reason: str, *, journal: bool = True
    ) -> None:
        if journal:
            self.journal.set_member_status(self.run_id, action, ids, "failed", error=reason)
        self.tracker.advance(batches=0, members=len(ids), failed=len(ids))

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
        with self.lock:
            self.uncertain[action].update(ids)

    def _fatal(self, batch: int, action: Action, ids: Sequence[str], exc: APIStatusError) -> None:
        self._done(batch, action, ids, status="pending", batch_status="failed", error=_short(exc))
        self._stop_run(exc)

    def _refuse(self, batch: int, action: Action, ids: Sequence[str], exc: APIError) -> None:
        """Refused with nothing done: sent again next round, unless refusals keep coming."""
        self._done(batch, action, ids, status="pending", batch_status="refused", error=_short(exc))
        with self.lock:
            self.refused[action].extend(ids)
            self.refused_in_a_row += 1
            self.last_refusal = exc
            outage = self.refused_in_a_row >= max(_OUTAGE_AFTER, self.p.options.concurrency)
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

    # -- reconcile -----------------------------------------------------------------------------

    def _settle_unnamed(self) -> None:
        """Batches answered 2xx with an item error that named no id: a read tells which adds
        went in; removes stay accepted (they apply later) and verification decides."""
        with self.lock:
            adds, removes = self.unnamed["add"], self.unnamed["remove"]
            self.unnamed = {"add": {}, "remove": {}}
        if removes:
            self.journal.set_member_status(self.run_id, "remove", sorted(removes), "accepted")
            self.suspect_removes.update(removes)
            self.tracker.advance(batches=0, members=len(removes), phase="reconcile")
        if not adds:
            return
        live = set(self.p.read(self.code).ids)
        done = sorted(set(adds) & live)
        self.journal.set_member_status(self.run_id, "add", done, "applied")
        self.tracker.advance(batches=0, members=len(done), phase="reconcile")
        self._fail_by_reason(
            "add",
            {
                cid: f"not in the segment after Shopgate refused items it did not name: {reason}"
                for cid, reason in adds.items()
                if cid not in live
            },
        )

    def _reconcile(self) -> None:
        self._settle_unnamed()
        for _ in range(self.p.options.max_rounds):
            if not (self.uncertain["add"] or self.uncertain["remove"]):
                return
            live = set(self.p.read(self.code).ids)
            with self.lock:
                adds, removes = self.uncertain["add"], self.uncertain["remove"]
                self.uncertain = {"add": set(), "remove": set()}
            done_adds = sorted(adds & live)
            # A remove Shopgate accepted applies later: what the read still shows is waited
            # for (up to the verification timeout) before it is sent again.
            if removes & live:
                self.tracker.emit("reconcile", "waiting for accepted removals to apply")
            still = self.p.wait_gone(
                self.code, sorted(removes & live), self.p.options.verify_timeout
            )
            done_removes = sorted(removes - still)
            self.journal.set_member_status(self.run_id, "add", done_adds, "applied")
            self.journal.set_member_status(self.run_id, "remove", done_removes, "accepted")
            self.tracker.advance(
                batches=0, members=len(done_adds) + len(done_removes), phase="reconcile"
            )
            # Only what the read shows still missing is sent again.
            self._push(sorted(still), sorted(adds - live))
            if self.fatal is not None or self.cancel.cancelled:
                return
        actions: tuple[Action, ...] = ("add", "remove")
        for action in actions:
            left = sorted(self.uncertain[action])
            if left:
                self._fail(
                    action,
                    left,
                    f"answer lost and still not confirmed after {self.p.options.max_rounds} re-reads",
                )

    # -- verify ----------------------------------------------------------------------------------

    def _verify(self) -> None:
        opts = self.p.options
        clock, sleep = self.p._clock, self.p._sleep
        # "unverified" ones too: a resume checks again what an earlier verification missed.
        added = self.journal.member_ids(self.run_id, "add", ("applied", "unverified"))
        removed = self.journal.member_ids(self.run_id, "remove", ("accepted", "unverified"))
        if not added and not removed:
            return
        changed = [*added, *removed]
        n_live = self.n_after
        if n_live is None:
            n_live = int(self.client.get_segment(self.code).get("memberCount", 0))
        page = self.p.page_size
        method, _ = verify_plan(
            len(added), len(removed), n_live, page=page, in_filter=self.client.traits.in_on_id
        )
        units: dict[VerifyMethod, tuple[str, int]] = {
            "full-read": ("pages", read_pages(n_live, page)),
            "in-filter": ("ids", len(changed)),
            "per-customer": ("ids", len(changed)),
        }
        started: set[VerifyMethod] = set()

        def on_step(used: VerifyMethod, n: int) -> None:
            if used not in started:  # the first step, or a fallback to another way
                started.add(used)
                unit, total = units[used]
                self.tracker.start_phase("verify", total, unit)
            self.tracker.step("verify", n, f"reading back {len(changed):,} changes ({used})")

        if method == "full-read" or not added or not removed:
            live, self.verify_method = self.p.lookup(
                self.code, changed, n_live=n_live, on_step=on_step
            )
        else:
            live, self.verify_method = self._lookup_apart(added, removed, n_live, on_step)
        self.journal.set_member_status(
            self.run_id, "add", [i for i in added if i in live], "verified"
        )
        missing = [i for i in added if i not in live]
        if missing:
            self.journal.set_member_status(
                self.run_id, "add", missing, "unverified", error="confirmed but not in the segment"
            )
        pending = [i for i in removed if i in live]
        self.journal.set_member_status(
            self.run_id, "remove", [i for i in removed if i not in live], "verified"
        )
        deadline = clock() + opts.verify_timeout
        wait = 0.25
        while pending and clock() < deadline:
            sleep(min(wait, max(deadline - clock(), 0)))
            wait = min(wait * 2, 5.0)
            still = self.p.still_present(self.code, pending, n_live=n_live)
            self.journal.set_member_status(
                self.run_id, "remove", [i for i in pending if i not in still], "verified"
            )
            pending = [i for i in pending if i in still]
            self.tracker.emit("verify", f"{len(pending):,} removals still applying")
        suspect = {i: self.suspect_removes[i] for i in pending if i in self.suspect_removes}
        if suspect:
            self._fail_by_reason(
                "remove",
                {
                    cid: f"still a member after Shopgate refused items it did not name: {reason}"
                    for cid, reason in suspect.items()
                },
            )
            pending = [i for i in pending if i not in suspect]
        if pending:
            self.journal.set_member_status(
                self.run_id,
                "remove",
                pending,
                "unverified",
                error=f"accepted but still a member after {opts.verify_timeout:g} s",
            )

    def _lookup_apart(
        self,
        added: list[str],
        removed: list[str],
        n_live: int,
        on_step: Callable[[VerifyMethod, int], object],
    ) -> tuple[set[str], VerifyMethod]:
        """Adds looked up first, then removes: their last chunk alone until it shows them
        gone (Shopgate applies removals later; waited for up to ``verify_timeout``), then
        the rest. Which ids are members, and how it was learnt."""
        clock, sleep = self.p._clock, self.p._sleep
        code = self.code
        present, used = self.p.lookup(code, added, n_live=n_live, on_step=on_step)
        size = in_chunk(self.p.page_size)
        probe, rest = removed[-size:], removed[:-size]
        deadline = clock() + self.p.options.verify_timeout
        # The rest of the removes wait for the probe: probed again soon, then less often.
        wait = 0.15
        while True:
            found, probe_used = self.p.lookup(code, probe, n_live=n_live)
            if not found or clock() >= deadline:
                break
            self.tracker.emit("verify", f"waiting for {len(found):,} removals to apply")
            sleep(min(wait, max(deadline - clock(), 0)))
            wait = min(wait * 2, 5.0)
        on_step(probe_used, len(probe) if probe_used != "full-read" else 1)
        present |= found
        if rest:
            others, _ = self.p.lookup(code, rest, n_live=n_live, on_step=on_step)
            present |= others
        return present, used

    # -- outcome ---------------------------------------------------------------------------------

    def _outcomes(self) -> pl.DataFrame:
        frame = self.journal.member_frame(self.run_id)
        mapping = {
            "pending": "pending",
            "sending": "unknown",
            "applied": "applied",
            "accepted": "applied",
            "verified": "verified",
            "unverified": "accepted_unverified",
            "failed": "failed",
            "skipped": "verified",
        }
        return frame.select(
            "customer_id",
            "action",
            pl.col("status").replace_strict(mapping, default="pending").alias("outcome"),
            "error",
        )


def _outcomes(rows: list[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "action": pl.String,
            "customer_id": pl.String,
            "outcome": pl.String,
            "error": pl.String,
        },
        orient="row",
    ).select("customer_id", "action", "outcome", "error")


def _reason(error: ItemError) -> str:
    """Shopgate's reason for one refused item, as shown per id."""
    return error.reason or error.code or "refused by Shopgate (no reason given)"


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
