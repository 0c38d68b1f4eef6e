"""Reading a segment's live members, all pages, as one consistent snapshot.

Offset pages are fetched ``concurrency`` at a time: the first page tells the total, the
pages it implies are read by a bounded pool, and the page at the end is read after all the
others (so its total is one taken after every other page was answered). A full page is
never the last one: pages are read on, one by one, until one is short. Cursor pages are
walked one after another (each cursor comes in the previous answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import polars as pl

from ._errors import TornReadError
from ._plan import all_distinct, fingerprint_ids

if TYPE_CHECKING:
    from ._client import MemberPage, ShopgateClient

__all__ = ["LiveSnapshot", "read_live"]

_ID = itemgetter("id")


@dataclass(frozen=True)
class LiveSnapshot:
    """The customer ids of a segment at one moment, with their fingerprint.

    ``ids`` holds the members of type ``customer`` only: members of another type (devices)
    are kept apart in ``others`` (id and type), counted in ``n_other`` and never planned
    as customers, so never removed as such.
    ``total_reported`` is the server's ``totalItemCount`` (None if it sent none). When it
    differs from what was listed by the same amount on every page and in a second full
    read (a total that leaves out pending deletes, say), the read is kept, not taken as
    torn, and ``note`` says so.
    """

    segment_code: str
    ids: pl.Series
    fingerprint: str
    n_pages: int
    others: tuple[tuple[str, str], ...] = ()
    total_reported: int | None = None
    note: str = ""

    @property
    def n(self) -> int:
        """How many customer members."""
        return self.ids.len()

    @property
    def n_other(self) -> int:
        """How many members of another type than ``customer``."""
        return len(self.others)

    @property
    def total_differs(self) -> bool:
        """Whether the server's total is not the number of members listed."""
        return self.total_reported is not None and self.total_reported != self.n + self.n_other

    def frame(self) -> pl.DataFrame:
        """The ids as a ``customer_id`` frame."""
        return pl.DataFrame({"customer_id": self.ids})

    def members_frame(self) -> pl.DataFrame:
        """Every member, customers first: ``customer_id`` and ``type``."""
        schema = {"customer_id": pl.String, "type": pl.String}
        customers = pl.DataFrame(
            {"customer_id": self.ids, "type": pl.repeat("customer", self.n, eager=True)},
            schema=schema,
        )
        others = pl.DataFrame(list(self.others), schema=schema, orient="row")
        return pl.concat([customers, others])


@dataclass(frozen=True)
class _Read:
    ids: pl.Series
    others: list[tuple[str, str]]
    n_pages: int
    #: every page gave the same total (or none) and no id came twice
    whole: bool
    total: int | None

    @property
    def adds_up(self) -> bool:
        return self.total is None or self.total == self.ids.len() + len(self.others)


def _is_customer(member: dict[str, Any]) -> bool:
    return member.get("type", "customer") in ("customer", None)


@dataclass(frozen=True)
class _Slim:
    """One page as kept until the read is complete: its customer ids, and the id and type
    of its other members (rare)."""

    ids: list[Any]
    n_members: int
    others: list[tuple[str, str]]
    total: int | None


def _slim(page: MemberPage) -> _Slim:
    members = page.members
    if all(map(_is_customer, members)):
        return _Slim(list(map(_ID, members)), len(members), [], page.total)
    ids = [m["id"] for m in members if _is_customer(m)]
    others = [(str(m["id"]), str(m["type"])) for m in members if not _is_customer(m)]
    return _Slim(ids, len(members), others, page.total)


def _read_once(
    client: ShopgateClient,
    code: str,
    page_size: int | None,
    concurrency: int = 1,
    on_page: Callable[[], object] | None = None,
) -> _Read:
    if concurrency <= 1 or client.traits.member_paging == "cursor":
        return _read_walk(client, code, page_size, on_page)
    walk = client.member_pages(code, page_size=page_size)
    first = next(walk)
    if first.next_cursor is not None:
        # Cursor paging (the walk learns it for the next reads): walked in order.
        return _collect(map(_slim, chain([first], walk)), on_page)
    walk.close()
    if on_page is not None:
        on_page()
    return _read_offsets(client, code, first, concurrency, on_page)


def _read_walk(
    client: ShopgateClient,
    code: str,
    page_size: int | None,
    on_page: Callable[[], object] | None = None,
) -> _Read:
    return _collect(map(_slim, client.member_pages(code, page_size=page_size)), on_page)


def _read_offsets(
    client: ShopgateClient,
    code: str,
    first: MemberPage,
    concurrency: int,
    on_page: Callable[[], object] | None = None,
) -> _Read:
    """The pages after ``first`` by offset: those its total implies concurrently, then
    the rest one by one until a page is short. Each page is cut down to its customer ids
    in the thread that read it."""
    size = first.limit
    pages: list[_Slim] = [_slim(first)]
    if len(first.members) < size:
        if first.total is None or len(first.members) >= first.total:
            return _collect(pages)
        # Fewer than asked while the total says there is more: smaller pages than asked.
        return _read_walk(client, code, size, on_page)
    n_full = max(first.total // size, 1) if first.total is not None else 1

    def fetch(offset: int) -> _Slim:
        page = _slim(client.member_page(code, offset=offset, limit=size))
        if on_page is not None:
            on_page()
        return page

    offsets = [k * size for k in range(1, n_full)]
    if offsets:
        workers = min(concurrency, len(offsets))
        with ThreadPoolExecutor(workers, thread_name_prefix="segwidgets-read") as pool:
            futures = [pool.submit(fetch, o) for o in offsets]
            try:
                pages.extend(f.result() for f in futures)
            finally:
                for f in futures:
                    f.cancel()
    offset = n_full * size
    previous = pages[-1]
    while True:
        page = fetch(offset)
        if page.ids and page.ids == previous.ids and page.others == previous.others:
            # the server ignores ``offset``: the walk (which says so) reads it once more
            return _read_walk(client, code, size, on_page)
        pages.append(page)
        if page.n_members < size:
            return _collect(pages)
        offset += page.n_members
        previous = page


def _collect(pages: Iterable[_Slim], on_page: Callable[[], object] | None = None) -> _Read:
    ids: list[Any] = []
    totals: set[int] = set()
    others: list[tuple[str, str]] = []
    n_pages = 0
    for page in pages:
        n_pages += 1
        if on_page is not None:
            on_page()
        ids.extend(page.ids)
        others.extend(page.others)
        if page.total is not None:
            totals.add(page.total)
    series = _id_series(ids)
    whole = len(totals) <= 1 and all_distinct(series)
    return _Read(
        ids=series,
        others=others,
        n_pages=n_pages,
        whole=whole,
        total=next(iter(totals)) if len(totals) == 1 else None,
    )


def _id_series(ids: list[Any]) -> pl.Series:
    """The ids as strings (a server that sends numbers gets them as text)."""
    try:
        series = pl.Series("customer_id", ids, dtype=pl.String, strict=True)
    except (TypeError, pl.exceptions.PolarsError):
        series = None
    if series is None or series.null_count():
        series = pl.Series("customer_id", [str(i) for i in ids], dtype=pl.String)
    return series


def read_live(
    client: ShopgateClient,
    code: str,
    *,
    page_size: int | None = None,
    attempts: int = 3,
    concurrency: int = 1,
    on_page: Callable[[], object] | None = None,
) -> LiveSnapshot:
    """Read every page of a segment's members (``page_size`` defaults to the client's
    ``traits.page_size``), offset pages ``concurrency`` at a time (1: one after another).

    A read of N members by offset takes ``N // page_size + 1`` page requests (a full page
    is never the last one), whatever the concurrency. ``on_page`` is called (from any
    thread) after each page request is answered.

    A read is torn when the segment changed between two pages: the page totals disagree,
    or an id came twice. A read whose ids do not add up to the total is read once more: the
    same ids and the same total again mean the server's total counts differently (pending
    deletes, say), and the read is kept with a note; anything else is a change. A torn read
    is read again, up to ``attempts`` times, then ``TornReadError``. (A change that keeps
    every total equal cannot be seen here; the stale check before applying catches it.)
    """
    unconfirmed: tuple[str, int, int | None] | None = None
    n_reads = 0
    n_torn = 0
    while n_torn < attempts and n_reads < attempts + 1:
        n_reads += 1
        read = _read_once(client, code, page_size, concurrency, on_page)
        if not read.whole:
            n_torn += 1
            unconfirmed = None
            continue
        fingerprint = fingerprint_ids(read.ids, distinct=True)
        snapshot = LiveSnapshot(
            segment_code=code,
            ids=read.ids,
            fingerprint=fingerprint,
            n_pages=read.n_pages,
            others=tuple(read.others),
            total_reported=read.total,
        )
        if read.adds_up:
            return snapshot
        seen = (fingerprint, len(read.others), read.total)
        if seen == unconfirmed:
            listed = read.ids.len() + len(read.others)
            note = (
                f"Shopgate reports {read.total:,} members but lists {listed:,}, the same in "
                "two full reads (a total that leaves out pending removals, or counts members "
                "it does not list); the listed members are used."
            )
            return replace(snapshot, note=note)
        if unconfirmed is not None:
            n_torn += 1
        unconfirmed = seen
    msg = (
        f"Segment {code!r} kept changing while its members were read ({n_reads} reads). "
        "Wait until other changes to it have finished, then plan again."
    )
    raise TornReadError(msg)
