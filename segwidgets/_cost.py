"""How many requests each phase of a sync takes, and how long at a given latency.

One place for the counts that the estimate shown before a push promises and the run then
follows: reading a segment by offset pages, looking up a few ids (the verification), the
member-count checks between waves of writes; and ``duration_text``, the one way a
duration is put in words (estimates, ETAs, the push panel).
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

from ._types import StaleCheck

__all__ = [
    "IN_CHUNK",
    "WAVE_MIN",
    "StaleMethod",
    "VerifyMethod",
    "count_checks",
    "duration_text",
    "in_chunk",
    "lookup_plan",
    "lookup_seconds",
    "read_pages",
    "read_seconds",
    "stale_plan",
    "verify_plan",
]

#: How a run learns which ids are members: ``in-filter`` (member reads filtered by
#: ``{"id": {"$in": [...]}}``), ``full-read`` (every page of the segment), ``per-customer``
#: (``customers/{id}/segments`` per id), ``none`` (nothing to look up).
VerifyMethod: TypeAlias = Literal["in-filter", "full-read", "per-customer", "none"]

#: How a stale check ran: ``full``, ``changes``, or ``none`` (no check, as in a resume).
StaleMethod: TypeAlias = Literal["full", "changes", "none"]

#: Batches per wave between two checks of the segment's member count (at least).
WAVE_MIN = 8

#: Ids per ``$in`` lookup at most (they travel in the query string), fewer if pages are.
IN_CHUNK = 100


def in_chunk(page: int) -> int:
    """Ids per ``$in`` lookup for this page size."""
    return max(1, min(page, IN_CHUNK))


def read_pages(n_members: int, page: int) -> int:
    """Page requests of a full read: a full page is never the last one."""
    return max(n_members, 0) // max(page, 1) + 1


def read_seconds(n_pages: int, concurrency: int, latency: float) -> float:
    """A read by offset: the first page, the middle ones ``concurrency`` at a time, the
    last one after them."""
    if n_pages <= 1:
        return n_pages * latency
    middle = max(n_pages - 2, 0)
    return (2 + math.ceil(middle / max(concurrency, 1))) * latency


def lookup_plan(
    n_ids: int, n_live: int, *, page: int, in_filter: bool | None
) -> tuple[VerifyMethod, int]:
    """The way to learn which of ``n_ids`` ids are members of a segment of ``n_live`` that
    sends the fewest requests, and how many (``in_filter``: whether ``$in`` works on the
    member filter; None = not known, tried)."""
    if n_ids <= 0:
        return "none", 0
    choices: list[tuple[int, int, VerifyMethod]] = []
    if in_filter is not False:
        choices.append((math.ceil(n_ids / in_chunk(page)), 0, "in-filter"))
    choices.append((read_pages(n_live, page), 1, "full-read"))
    choices.append((n_ids, 2, "per-customer"))
    n, _, method = min(choices)
    return method, n


def verify_plan(
    n_add: int, n_remove: int, n_live: int, *, page: int, in_filter: bool | None
) -> tuple[VerifyMethod, int]:
    """How a run verifies ``n_add`` adds and ``n_remove`` removes in a segment that should
    hold ``n_live``, and how many requests it takes when removals have applied by then:
    adds and removes are looked up apart (removes last, so they have time to apply), so a
    lookup by ``$in`` or per customer costs ``⌈adds / chunk⌉ + ⌈removes / chunk⌉``."""
    method, n = lookup_plan(n_add + n_remove, n_live, page=page, in_filter=in_filter)
    if method == "in-filter" and n_add and n_remove:
        chunk = in_chunk(page)
        split = math.ceil(n_add / chunk) + math.ceil(n_remove / chunk)
        full = read_pages(n_live, page)
        if split > full:
            return "full-read", full
        return method, split
    return method, n


def stale_plan(
    n_changes: int,
    n_live: int,
    *,
    page: int,
    in_filter: bool | None,
    total_known: bool,
    check: StaleCheck = "auto",
) -> tuple[StaleMethod, int]:
    """How the stale check runs and its member reads (the segment itself, read first to see
    it is fixed, not counted): ``full`` reads every page (``n_live // page + 1``);
    ``changes`` reads the segment's total (one request of one member) and looks the
    ``n_changes`` planned ids up by ``$in`` (``⌈n_changes / chunk⌉``). ``changes`` needs
    the total the plan's read reported (``total_known``) and ``$in`` on the member filter
    (``in_filter``: None = not known, tried); ``auto`` takes it only when it needs fewer
    requests than a full read."""
    full = read_pages(n_live, page)
    if check == "full" or in_filter is False or not total_known:
        return "full", full
    changes = 1 + math.ceil(max(n_changes, 0) / in_chunk(page))
    if check == "changes" or changes < full:
        return "changes", changes
    return "full", full


def lookup_seconds(
    method: VerifyMethod, n_requests: int, concurrency: int, latency: float
) -> float:
    """Time of a lookup: a full read as ``read_seconds``; ``$in`` lookups ``concurrency``
    at a time after the first; one read per customer one by one."""
    if method == "full-read":
        return read_seconds(n_requests, concurrency, latency)
    if method == "in-filter" and n_requests > 1:
        return (1 + math.ceil((n_requests - 1) / max(concurrency, 1))) * latency
    return n_requests * latency


def count_checks(n_writes: int, concurrency: int) -> int:
    """Member-count reads of a push of ``n_writes`` batches: after each wave that a full
    wave follows, and once after the last write."""
    if n_writes <= 0:
        return 0
    wave = max(concurrency, WAVE_MIN)
    return max(n_writes // wave - 1, 0) + 1


def duration_text(seconds: float) -> str:
    """A duration in words: ``under a second``, ``about 14 s``, ``about 5.0 min``."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.1f} min"
