"""Reading a push back: reconcile writes whose answer was lost, verify what was applied.

These steps only read the segment (``MemberReader``) and record what they learn in the
journal (``RunLog``). None of them decides what to send: reconcile hands what a read shows
still missing back to the push (its ``push`` callback).

- **reconcile** — a write whose answer was lost (connection dropped, 500, 409 on a strict
  server) is never re-sent blindly: the segment is read again and only what is still
  missing is sent, for at most ``max_rounds`` rounds. A removal the read still shows may
  be accepted and not applied yet: it is waited for (up to ``verify_timeout``) before it
  is sent again. A batch answered 2xx with an item error that names no id is settled by a
  read as well: its adds in the segment are applied, the others failed with that reason;
  its removes stay accepted, and one still a member when verification ends is failed with
  that reason, not unverified.
- **verify** — the changes are read back the way that needs the fewest requests (see
  ``segwidgets._cost.lookup_plan``): member reads filtered by ``{"id": {"$in": [...]}}``,
  100 ids a request, where Shopgate takes them (a 400 naming ``filters`` teaches
  ``traits.in_on_id = False`` and the next best way is used), else a full read of the
  segment, or ``customers/{id}/segments`` per id. Adds must show, removes must be gone
  (polled until ``verify_timeout``, since deletes apply later). What is still not gone is
  ``unverified`` in the journal (``accepted_unverified`` in the result).
- **settle** — before an undo, the same reads settle a finished or interrupted run.

Every full read of the segment fetches offset pages ``concurrency`` at a time
(``segwidgets._live``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ._cost import VerifyMethod, in_chunk, lookup_plan, read_pages, verify_plan
from ._errors import OperationCancelledError
from ._live import LiveSnapshot, read_live
from ._progress import CancelToken, ProgressCallback, ProgressTracker

if TYPE_CHECKING:
    from ._client import ShopgateClient
    from ._journal import Action, Journal, MemberStatus

__all__ = ["MemberReader", "RunLog", "Unsettled", "reconcile", "settle_run", "verify"]


class _Poll:
    """Waits between reads until a deadline: ``first`` seconds first, doubling up to 5 s."""

    def __init__(
        self,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        timeout: float,
        *,
        first: float = 0.25,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._deadline = clock() + timeout
        self._wait = first

    @property
    def expired(self) -> bool:
        return self._clock() >= self._deadline

    def pause(self) -> None:
        self._sleep(min(self._wait, max(self._deadline - self._clock(), 0)))
        self._wait = min(self._wait * 2, 5.0)


class MemberReader:
    """Reads a segment's members: all of them, or which of some ids are members now.

    ``sleep`` and ``clock`` pace the polls of removals that apply later (tests pass fakes).
    """

    def __init__(
        self,
        client: ShopgateClient,
        *,
        page_size: int | None,
        concurrency: int,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.concurrency = concurrency
        self.sleep = sleep
        self.clock = clock
        self._page_size = page_size

    @property
    def page_size(self) -> int:
        """Members per page of a read: the one given, else the client's ``traits.page_size``."""
        return self._page_size or self.client.traits.page_size

    def read(self, code: str, *, on_page: Callable[[], object] | None = None) -> LiveSnapshot:
        """The segment's live members, offset pages ``concurrency`` at a time."""
        return read_live(
            self.client,
            code,
            page_size=self._page_size,
            concurrency=self.concurrency,
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
            clock=self.clock,
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

    def poll(self, timeout: float, *, first: float = 0.25) -> _Poll:
        """Waits between reads that end ``timeout`` seconds from now, the first ``first``
        seconds long."""
        return _Poll(self.clock, self.sleep, timeout, first=first)

    def member_count(self, code: str) -> int:
        """The segment's ``memberCount``."""
        return int(self.client.get_segment(code).get("memberCount", 0))

    def wait_gone(self, code: str, ids: Sequence[str], timeout: float) -> set[str]:
        """Wait up to ``timeout`` seconds for removals to apply; the ids still members."""
        present = set(ids)
        if not present:
            return present
        poll = self.poll(timeout)
        while present:
            present &= self.still_present(code, sorted(present))
            if not present or poll.expired:
                break
            poll.pause()
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
            n_ids, n_live, page=self.page_size, in_filter=self.client.traits.in_on_id
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
            n_live = self.member_count(code)
        method = self.lookup_method(len(ids), n_live)
        if method == "in-filter":
            found = self.among(code, ids, on_step)
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

    def among(
        self,
        code: str,
        ids: Sequence[str],
        on_step: Callable[[VerifyMethod, int], object] | None,
        *,
        along: Sequence[Callable[[], object]] = (),
        if_in: Sequence[Callable[[], object]] = (),
    ) -> set[str] | None:
        """``client.members_among`` a chunk of ids a request, ``concurrency`` requests at a
        time (the first one alone while it is not known whether ``$in`` works); None when
        ``$in`` is refused.

        Other reads may go in the same pool, within the same concurrency: ``along`` ahead
        of the lookups, ``if_in`` with them once ``$in`` is known to work (never when it is
        refused). Those sent have run when this returns, whatever the lookups found; the
        first of them that raises raises here, before any error of a lookup. The stale
        check sends the segment and its total this way."""
        size = in_chunk(self.page_size)
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]

        def one(chunk: Sequence[str]) -> set[str] | None:
            found = self.client.members_among(code, chunk, chunk=size)
            if found is not None and on_step is not None:
                on_step("in-filter", len(chunk))
            return found

        workers = min(max(1, self.concurrency), max(1, len(chunks) + len(along) + len(if_in)))
        with ThreadPoolExecutor(workers, thread_name_prefix="segwidgets-lookup") as pool:
            others = [pool.submit(read) for read in along]
            try:
                present: set[str] = set()
                if chunks and self.client.traits.in_on_id is None:
                    found = pool.submit(one, chunks[0]).result()
                    if found is None:
                        return None
                    present |= found
                    chunks = chunks[1:]
                others += [pool.submit(read) for read in if_in]
                for found in pool.map(one, chunks):
                    if found is None:
                        return None
                    present |= found
                return present
            finally:
                for other in others:
                    other.result()


class RunLog:
    """Where a run records what it learns of its member changes: the journal and the
    run's progress."""

    def __init__(self, journal: Journal, run_id: str, tracker: ProgressTracker) -> None:
        self.journal = journal
        self.run_id = run_id
        self.tracker = tracker

    def mark(
        self, action: Action, ids: Sequence[str], status: MemberStatus, *, error: str | None = None
    ) -> None:
        """Set the journal status of these members."""
        self.journal.set_member_status(self.run_id, action, ids, status, error=error)

    def fail(
        self, action: Action, ids: Sequence[str], reason: str, *, journal: bool = True
    ) -> None:
        """These members failed for ``reason`` (``journal=False``: already recorded)."""
        if journal:
            self.mark(action, ids, "failed", error=reason)
        self.tracker.advance(batches=0, members=len(ids), failed=len(ids))

    def fail_by_reason(self, action: Action, reasons: dict[str, str]) -> None:
        """Members failed, each for its own reason (id -> reason)."""
        by_reason: dict[str, list[str]] = {}
        for cid, reason in reasons.items():
            by_reason.setdefault(reason, []).append(cid)
        for reason, failed in by_reason.items():
            self.fail(action, sorted(failed), reason)


class Unsettled:
    """Member changes only a read can settle, collected by the push threads (thread-safe).

    *Lost*: writes whose answer never arrived. *Unnamed*: ids of batches answered 2xx with
    an item error that named no id (id -> Shopgate's reason). ``suspect_removes``: removes
    settled as accepted although their batch had such an error (reconcile writes it,
    verify reads it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lost: dict[Action, set[str]] = {"add": set(), "remove": set()}
        self._unnamed: dict[Action, dict[str, str]] = {"add": {}, "remove": {}}
        self.suspect_removes: dict[str, str] = {}

    def lost(self, action: Action, ids: Sequence[str]) -> None:
        """The answer to a write of these ids was lost."""
        with self._lock:
            self._lost[action].update(ids)

    def unnamed(self, action: Action, ids: Sequence[str], reason: str) -> None:
        """A 2xx answer refused items it did not name: these ids are in doubt."""
        with self._lock:
            for cid in ids:
                self._unnamed[action][cid] = reason

    def any_lost(self) -> bool:
        """Whether a lost write is waiting for a read."""
        with self._lock:
            return bool(self._lost["add"] or self._lost["remove"])

    def take_lost(self) -> tuple[set[str], set[str]]:
        """The adds and removes whose answer was lost, handed over (and forgotten here)."""
        with self._lock:
            adds, removes = self._lost["add"], self._lost["remove"]
            self._lost = {"add": set(), "remove": set()}
        return adds, removes

    def take_unnamed(self) -> tuple[dict[str, str], dict[str, str]]:
        """The adds and removes in doubt after an unnamed refusal, handed over."""
        with self._lock:
            adds, removes = self._unnamed["add"], self._unnamed["remove"]
            self._unnamed = {"add": {}, "remove": {}}
        return adds, removes


def _settle_unnamed(reader: MemberReader, log: RunLog, code: str, unsettled: Unsettled) -> None:
    """Batches answered 2xx with an item error that named no id: a read tells which adds
    went in; removes stay accepted (they apply later) and verification decides."""
    adds, removes = unsettled.take_unnamed()
    if removes:
        log.mark("remove", sorted(removes), "accepted")
        unsettled.suspect_removes.update(removes)
        log.tracker.advance(batches=0, members=len(removes), phase="reconcile")
    if not adds:
        return
    live = set(reader.read(code).ids)
    done = sorted(set(adds) & live)
    log.mark("add", done, "applied")
    log.tracker.advance(batches=0, members=len(done), phase="reconcile")
    log.fail_by_reason(
        "add",
        {
            cid: f"not in the segment after Shopgate refused items it did not name: {reason}"
            for cid, reason in adds.items()
            if cid not in live
        },
    )


def reconcile(
    reader: MemberReader,
    log: RunLog,
    code: str,
    unsettled: Unsettled,
    *,
    push: Callable[[list[str], list[str]], None],
    stopped: Callable[[], bool],
    max_rounds: int,
    verify_timeout: float,
) -> None:
    """Settle lost and unnamed writes by reads; ``push(removes, adds)`` sends again what
    a read shows still missing (at most ``max_rounds`` rounds); ``stopped()`` ends it early."""
    _settle_unnamed(reader, log, code, unsettled)
    for _ in range(max_rounds):
        if not unsettled.any_lost():
            return
        live = set(reader.read(code).ids)
        adds, removes = unsettled.take_lost()
        done_adds = sorted(adds & live)
        # A remove Shopgate accepted applies later: what the read still shows is waited
        # for (up to the verification timeout) before it is sent again.
        if removes & live:
            log.tracker.emit("reconcile", "waiting for accepted removals to apply")
        still = reader.wait_gone(code, sorted(removes & live), verify_timeout)
        done_removes = sorted(removes - still)
        log.mark("add", done_adds, "applied")
        log.mark("remove", done_removes, "accepted")
        log.tracker.advance(
            batches=0, members=len(done_adds) + len(done_removes), phase="reconcile"
        )
        # Only what the read shows still missing is sent again.
        push(sorted(still), sorted(adds - live))
        if stopped():
            return
    adds, removes = unsettled.take_lost()
    reason = f"answer lost and still not confirmed after {max_rounds} re-reads"
    left: tuple[tuple[Action, set[str]], ...] = (("add", adds), ("remove", removes))
    for action, ids in left:
        if ids:
            log.fail(action, sorted(ids), reason)


def verify(
    reader: MemberReader,
    log: RunLog,
    code: str,
    *,
    n_live: int | None,
    suspect_removes: dict[str, str],
    timeout: float,
) -> VerifyMethod:
    """Read the run's applied and accepted changes back; how they were read.

    ``n_live``: the members the segment should hold (None: asked). ``suspect_removes``:
    removes that fail, not stay unverified, if still members at the end.
    """
    journal, run_id, tracker = log.journal, log.run_id, log.tracker
    # "unverified" ones too: a resume checks again what an earlier verification missed.
    added = journal.member_ids(run_id, "add", ("applied", "unverified"))
    removed = journal.member_ids(run_id, "remove", ("accepted", "unverified"))
    if not added and not removed:
        return "none"
    changed = [*added, *removed]
    if n_live is None:
        n_live = reader.member_count(code)
    page = reader.page_size
    method, _ = verify_plan(
        len(added), len(removed), n_live, page=page, in_filter=reader.client.traits.in_on_id
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
            tracker.start_phase("verify", total, unit)
        tracker.step("verify", n, f"reading back {len(changed):,} changes ({used})")

    if method == "full-read" or not added or not removed:
        live, used = reader.lookup(code, changed, n_live=n_live, on_step=on_step)
    else:
        live, used = _lookup_apart(
            reader, log, code, added, removed, n_live=n_live, on_step=on_step, timeout=timeout
        )
    log.mark("add", [i for i in added if i in live], "verified")
    missing = [i for i in added if i not in live]
    if missing:
        log.mark("add", missing, "unverified", error="confirmed but not in the segment")
    pending = [i for i in removed if i in live]
    log.mark("remove", [i for i in removed if i not in live], "verified")
    poll = reader.poll(timeout)
    while pending and not poll.expired:
        poll.pause()
        still = reader.still_present(code, pending, n_live=n_live)
        log.mark("remove", [i for i in pending if i not in still], "verified")
        pending = [i for i in pending if i in still]
        tracker.emit("verify", f"{len(pending):,} removals still applying")
    suspect = {i: suspect_removes[i] for i in pending if i in suspect_removes}
    if suspect:
        log.fail_by_reason(
            "remove",
            {
                cid: f"still a member after Shopgate refused items it did not name: {reason}"
                for cid, reason in suspect.items()
            },
        )
        pending = [i for i in pending if i not in suspect]
    if pending:
        log.mark(
            "remove",
            pending,
            "unverified",
            error=f"accepted but still a member after {timeout:g} s",
        )
    return used


def _lookup_apart(
    reader: MemberReader,
    log: RunLog,
    code: str,
    added: list[str],
    removed: list[str],
    *,
    n_live: int,
    on_step: Callable[[VerifyMethod, int], object],
    timeout: float,
) -> tuple[set[str], VerifyMethod]:
    """Adds looked up first, then removes: their last chunk alone until it shows them
    gone (Shopgate applies removals later; waited for up to ``timeout``), then the rest.
    Which ids are members, and how it was learnt."""
    present, used = reader.lookup(code, added, n_live=n_live, on_step=on_step)
    size = in_chunk(reader.page_size)
    probe, rest = removed[-size:], removed[:-size]
    # The rest of the removes wait for the probe: probed again after 50 ms (removals
    # about to apply cost one request more, not a long wait), then twice as long each time.
    poll = reader.poll(timeout, first=0.05)
    while True:
        found, probe_used = reader.lookup(code, probe, n_live=n_live)
        if not found or poll.expired:
            break
        log.tracker.emit("verify", f"waiting for {len(found):,} removals to apply")
        poll.pause()
    on_step(probe_used, len(probe) if probe_used != "full-read" else 1)
    present |= found
    if rest:
        others, _ = reader.lookup(code, rest, n_live=n_live, on_step=on_step)
        present |= others
    return present, used


def settle_run(
    reader: MemberReader, journal: Journal, run_id: str, code: str, *, timeout: float
) -> tuple[list[str], list[str], list[str]]:
    """Settle a finished or interrupted run from reads, for an undo.

    Adds whose answer never arrived count as applied when a read shows them; removes
    accepted or sent are waited for (up to ``timeout``) until a read shows them gone.
    Returns (adds applied, removes applied, ids still unsettled); what was learnt is
    written to the journal.
    """
    sending_adds = journal.member_ids(run_id, "add", ("sending",))
    if sending_adds:
        present = reader.still_present(code, sending_adds)
        journal.set_member_status(run_id, "add", sorted(present), "applied")
    removes = journal.member_ids(run_id, "remove", ("sending", "accepted", "unverified"))
    still = reader.wait_gone(code, removes, timeout)
    journal.set_member_status(run_id, "remove", [i for i in removes if i not in still], "verified")
    added = journal.member_ids(run_id, "add", ("applied", "verified"))
    removed = journal.member_ids(run_id, "remove", ("verified",))
    return added, removed, sorted(still)
