"""The stale check before a push: is the segment still as the plan saw it?

Two ways, chosen per push (``apply(..., stale_check=)``):

- ``full``: every page of the segment is read (``segwidgets._live``) and the fingerprint of
  its members compared with the plan's. It sees any change anywhere in the segment and
  costs ``n_live // page + 1`` member reads.
- ``changes``: the planned changes' ids through the member filter
  ``{"id": {"$in": [...]}}``, 100 ids a request, ``concurrency`` at a time (the lookup the
  verification uses, ``MemberReader.among``), and in the same pool the segment's
  ``totalItemCount`` (one read of one member) and the pusher's read of the segment. The plan is stale when a planned add is already a member, a planned remove
  is no longer one, or the total is not the one the plan's read reported. Totals are
  compared as Shopgate reported them both times, like with like: devices, and on a server
  whose total leaves out removals still applying, that difference, are the same in both.
  It costs ``⌈changes / 100⌉ + 1`` member reads, whatever the segment's size.

  What it cannot see: a change that touches none of the planned ids and leaves the total
  as it was, such as a member the plan keeps swapped for one it never saw (or, where the
  total leaves out removals still applying, such a removal of a kept member applying since
  the plan). Against segwidgets' own writers the segment's lease (``segwidgets._lease``)
  is the first line, and the member-count checks between waves of writes stop a run that
  meets another writer; ``full`` is there for who needs every member checked.
- ``auto`` (the default): ``changes`` when it needs fewer requests than a full read, the
  plan recorded its read's total and this Shopgate is not known to refuse ``$in`` on the
  member filter; else ``full``.

When ``$in`` is refused (a 400 naming ``filters``, learnt in ``traits.in_on_id``) or the
total is missing, the check reads the segment in full instead. A plan the cheaper check
finds stale is then read in full, so that ``StalePlanError`` states the drift exactly;
nothing is written either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from ._cost import StaleMethod, VerifyMethod, read_pages, stale_plan
from ._errors import StalePlanError
from ._types import StaleCheck

if TYPE_CHECKING:
    from ._live import LiveSnapshot
    from ._plan import SegmentPlan
    from ._progress import ProgressTracker
    from ._verify import MemberReader

__all__ = ["check_full", "check_stale"]


def check_stale(
    reader: MemberReader,
    plan: SegmentPlan,
    *,
    check: StaleCheck = "auto",
    tracker: ProgressTracker | None = None,
    along: Sequence[Callable[[], object]] = (),
) -> StaleMethod:
    """Refuse the plan (``StalePlanError``, nothing sent) if the segment changed since it
    was made, by the way ``check`` asks for (see the module docstring); progress as phase
    ``check``, in ``changed ids`` or ``pages``.

    ``along``: other reads due before any write (the pusher's read of the segment itself).
    ``changes`` sends them with its lookups, within the same concurrency; ``full`` sends
    them first. Whichever raises first stops the check."""
    page = reader.page_size
    n_changes = plan.n_add + plan.n_remove
    method, _ = stale_plan(
        n_changes,
        plan.n_live,
        page=page,
        in_filter=reader.client.traits.in_on_id,
        total_known=plan.live_total is not None,
        check=check,
    )
    pages = read_pages(plan.n_live, page)
    if method == "changes":
        if tracker is not None:
            tracker.start_phase("check", n_changes, "changed ids")
        verdict = _by_changes(reader, plan, tracker, along)
        if verdict:
            return "changes"
        if tracker is not None:
            why = (
                "the planned changes show the segment changed: reading it in full"
                if verdict is False
                else "the planned changes cannot be looked up here: reading the segment in full"
            )
            tracker.restart_phase("check", pages, "pages", why)
    else:
        for read in along:
            read()
        if tracker is not None:
            tracker.start_phase("check", pages, "pages")

    def on_page() -> None:
        if tracker is not None:
            tracker.step("check")

    check_full(reader, plan, on_page=on_page)
    return "full"


def check_full(
    reader: MemberReader, plan: SegmentPlan, *, on_page: Callable[[], object] | None = None
) -> LiveSnapshot:
    """Re-read the segment (all of it: a change anywhere must show); refuse the plan
    (``StalePlanError`` with the drift) if it changed since planning."""
    live = reader.read(plan.segment_code, on_page=on_page)
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


def _by_changes(
    reader: MemberReader,
    plan: SegmentPlan,
    tracker: ProgressTracker | None,
    along: Sequence[Callable[[], object]],
) -> bool | None:
    """True: the planned ids and the total are as planned; False: they are not; None: this
    Shopgate cannot tell (``$in`` refused on the member filter, or no total). ``along``
    and the total are read in the lookups' pool (the total only if ``$in`` works)."""
    code = plan.segment_code
    adds = plan.adds.get_column("customer_id").to_list()
    removes = plan.removes.get_column("customer_id").to_list()

    def on_step(_: VerifyMethod, n: int) -> None:
        if tracker is not None:
            tracker.step("check", n, f"looking up {len(adds) + len(removes):,} planned changes")

    totals: list[int | None] = []

    def read_total() -> None:
        totals.append(reader.client.member_page(code, limit=1).total)

    present = reader.among(code, [*adds, *removes], on_step, along=along, if_in=[read_total])
    if present is None:
        return None
    total = totals[0]
    if total is None:
        return None
    return (
        total == plan.live_total
        and not any(i in present for i in adds)
        and all(i in present for i in removes)
    )
