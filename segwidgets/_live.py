"""Reading a segment's live members, all pages, as one consistent snapshot."""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import polars as pl

from ._errors import TornReadError
from ._plan import fingerprint_ids

if TYPE_CHECKING:
    from ._client import ShopgateClient

__all__ = ["LiveSnapshot", "read_live"]

_ID = itemgetter("id")


@dataclass(frozen=True)
class LiveSnapshot:
    """The customer ids of a segment at one moment, with their fingerprint.

    ``ids`` holds the members of type ``customer`` only: members of another type (devices)
    are counted in ``n_other`` and never planned as customers, so never removed as such.
    ``total_reported`` is the server's ``totalItemCount`` (None if it sent none). When it
    differs from what was listed by the same amount on every page and in a second full
    read (a total that leaves out pending deletes, say), the read is kept, not taken as
    torn, and ``note`` says so.
    """

    segment_code: str
    ids: pl.Series
    fingerprint: str
    n_pages: int
    n_other: int = 0
    total_reported: int | None = None
    note: str = ""

    @property
    def n(self) -> int:
        """How many customer members."""
        return self.ids.len()

    @property
    def total_differs(self) -> bool:
        """Whether the server's total is not the number of members listed."""
        return self.total_reported is not None and self.total_reported != self.n + self.n_other

    def frame(self) -> pl.DataFrame:
        """The ids as a ``customer_id`` frame."""
        return pl.DataFrame({"customer_id": self.ids})


@dataclass(frozen=True)
class _Read:
    ids: pl.Series
    n_other: int
    n_pages: int
    #: every page gave the same total (or none) and no id came twice
    whole: bool
    total: int | None

    @property
    def adds_up(self) -> bool:
        return self.total is None or self.total == self.ids.len() + self.n_other


def _is_customer(member: dict[str, Any]) -> bool:
    return member.get("type", "customer") in ("customer", None)


def _read_once(client: ShopgateClient, code: str, page_size: int | None) -> _Read:
    ids: list[Any] = []
    totals: set[int] = set()
    n_pages = 0
    n_other = 0
    # Pages are taken apart in this thread, between two requests. A read-ahead thread was
    # no faster, so the walk stays in one thread.
    for page in client.member_pages(code, page_size=page_size):
        n_pages += 1
        members = page.members
        if all(map(_is_customer, members)):
            ids.extend(map(_ID, members))
        else:
            customers = [m for m in members if _is_customer(m)]
            n_other += len(members) - len(customers)
            ids.extend(map(_ID, customers))
        if page.total is not None:
            totals.add(page.total)
    series = _id_series(ids)
    whole = len(totals) <= 1 and _all_distinct(series)
    return _Read(
        ids=series,
        n_other=n_other,
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


def _all_distinct(ids: pl.Series) -> bool:
    if ids.is_sorted():  # pages in id order: repeats would be neighbours
        return ids.len() < 2 or not (ids.slice(1) == ids.slice(0, ids.len() - 1)).any()
    return ids.n_unique() == ids.len()


def read_live(
    client: ShopgateClient, code: str, *, page_size: int | None = None, attempts: int = 3
) -> LiveSnapshot:
    """Read every page of a segment's members (``page_size`` defaults to the client's
    ``traits.page_size``).

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
        read = _read_once(client, code, page_size)
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
            n_other=read.n_other,
            total_reported=read.total,
        )
        if read.adds_up:
            return snapshot
        seen = (fingerprint, read.n_other, read.total)
        if seen == unconfirmed:
            listed = read.ids.len() + read.n_other
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
