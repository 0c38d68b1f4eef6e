"""Resolving emails to Shopgate customer ids, with one outcome per email.

Two strategies:

* ``lookup``: one ``GET customers`` per email with the filter
  ``{"emailAddress": e, "isAnonymous": false}``, sent concurrently;
* ``scan``: page through every registered customer (``{"isAnonymous": false}``), pages
  fetched concurrently by offset, and match locally on the normalised email.

``strategy="auto"`` weighs N lookups against the pages of all C customers (a page
carries a thousand records, a lookup one) and takes lookups when N is at most that many
pages. It needs the two customer counts: asked for in one round trip (two requests of one
record each), or taken from ``counts``, a ``CustomerCounts`` that remembers them for a few
minutes, so a session's later resolutions start at once. A resolution sends at most
``min(N, ceil(C / page)) + 2`` requests. Counts only steer the choice: a scan always
follows the totals the server reports on each page, so a stale count cannot hide a
customer.

Whatever the server answers, every candidate is checked again locally (registered, not
deleted, same normalised email), so a guest can never become a member. Guests are looked
for only to tell ``guest_only`` from ``unmatched``, and that query filters on
``isAnonymous: true``.
"""

from __future__ import annotations

import html
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from ._email import normalize_emails
from ._export import write_private_csv
from ._progress import ProgressTracker
from ._types import AmbiguityPolicy, ResolveStrategy

if TYPE_CHECKING:
    from ._client import CustomerPage, ShopgateClient
    from ._members import MemberList
    from ._progress import ProgressCallback

__all__ = ["CustomerCounts", "Resolution", "choose_strategy", "resolve_members"]

_LOOKUP_LIMIT = 100
#: seconds for which ``CustomerCounts`` trusts counts it was given
COUNTS_TTL = 300.0
#: customers whose emails a scan normalises in one call
_NORMALIZE_CHUNK = 20_000


@dataclass(frozen=True)
class _Candidate:
    customer_id: str
    status: str
    updated: str


@dataclass(frozen=True, repr=False)
class Resolution:
    """Who each input email is in Shopgate.

    ``report`` has one row per distinct valid email: ``row``, ``value``, ``email``,
    ``outcome`` (matched / ambiguous / guest_only / unmatched), ``n_candidates``,
    ``customer_ids`` (the ids chosen for it, a list) and ``rule`` (why).
    """

    report: pl.DataFrame
    members: MemberList | None
    policy: AmbiguityPolicy
    strategy: str
    n_requests: int
    seconds: float
    notes: tuple[str, ...] = field(default=())

    # -- counts ----------------------------------------------------------------------------

    def _count(self, outcome: str) -> int:
        return int((self.report.get_column("outcome") == outcome).sum())

    @property
    def n_valid(self) -> int:
        """Distinct valid emails that were resolved."""
        return self.report.height

    @property
    def n_matched(self) -> int:
        """Emails of exactly one registered customer."""
        return self._count("matched")

    @property
    def n_ambiguous(self) -> int:
        """Emails that several registered customers share."""
        return self._count("ambiguous")

    @property
    def n_guest_only(self) -> int:
        """Emails that only guest checkouts have: they cannot be members."""
        return self._count("guest_only")

    @property
    def n_unmatched(self) -> int:
        """Emails no customer has."""
        return self._count("unmatched")

    @property
    def matches(self) -> pl.DataFrame:
        """One row per (email, chosen customer id)."""
        return (
            self.report.select("email", "customer_ids")
            .explode("customer_ids")
            .drop_nulls("customer_ids")
            .rename({"customer_ids": "customer_id"})
        )

    @property
    def customer_ids(self) -> pl.Series:
        """The distinct customer ids to put in the segment."""
        return self.matches.get_column("customer_id").unique(maintain_order=True)

    @property
    def n_ids(self) -> int:
        """How many customer ids the resolution yields."""
        return self.customer_ids.len()

    def to_polars(self) -> pl.DataFrame:
        """The per-email report."""
        return self.report

    def export_csv(
        self, path: str | os.PathLike[str], *, rows: Literal["all", "problems"] = "all"
    ) -> Path:
        """Write the per-email report (``rows="problems"``: only ``problems()``) to a CSV file.

        It holds email addresses, so the file is readable by you only (mode 0600). Cells a
        spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...) are written as text.
        """
        return write_private_csv(self.report if rows == "all" else self.problems(), path)

    def funnel(self) -> pl.DataFrame:
        """From input rows to customer ids, stage by stage: ``stage``, ``count``."""
        m = self.members
        stages: list[tuple[str, int]] = []
        if m is not None:
            stages += [
                ("input rows", m.n_rows),
                ("blank", m.n_blank),
                ("rejected", m.n_rejected),
                ("duplicates", m.n_duplicates),
            ]
        stages += [
            ("valid emails", self.n_valid),
            ("matched", self.n_matched),
            ("ambiguous", self.n_ambiguous),
            ("guest_only", self.n_guest_only),
            ("unmatched", self.n_unmatched),
            ("customer ids", self.n_ids),
        ]
        return pl.DataFrame(stages, schema={"stage": pl.String, "count": pl.Int64}, orient="row")

    def problems(self) -> pl.DataFrame:
        """Rows that do not become exactly one member: ``row``, ``value``, ``problem``, ``rule``."""
        unresolved = self.report.filter(pl.col("outcome") != "matched").select(
            "row", "value", pl.col("outcome").alias("problem"), "rule"
        )
        frames = [unresolved]
        if self.members is not None and self.members.n_rejected:
            frames.append(
                self.members.rejected.select(
                    pl.col("row").cast(pl.Int64),
                    pl.col("value").cast(pl.String),
                    pl.lit("rejected").alias("problem"),
                    pl.col("reason").cast(pl.String).alias("rule"),
                )
            )
        return pl.concat(frames, how="vertical_relaxed").sort("row")

    def __repr__(self) -> str:
        return (
            f"Resolution(n_valid={self.n_valid:,}, n_matched={self.n_matched:,}, "
            f"n_ambiguous={self.n_ambiguous:,}, n_guest_only={self.n_guest_only:,}, "
            f"n_unmatched={self.n_unmatched:,}, n_ids={self.n_ids:,}, "
            f"policy={self.policy!r}, strategy={self.strategy!r}, n_requests={self.n_requests:,})"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(stage)}</td>"
            f"<td style='text-align:right'>{count:,}</td></tr>"
            for stage, count in self.funnel().iter_rows()
        )
        return (
            f"<div><b>Resolution</b> — {self.strategy}, {self.n_requests:,} requests, "
            f"ambiguous emails: {html.escape(self.policy)}<table>{rows}</table></div>"
        )


def choose_strategy(n_emails: int, n_customers: int, page_size: int) -> ResolveStrategy:
    """``lookup`` if one request per email costs no more than paging every customer.

    ``n_customers`` counts every customer, guests included: a customer page carries a
    whole page of records while a lookup carries one, so up to that many lookups are the
    faster choice even when the registered customers alone fit in fewer pages.
    """
    return "lookup" if n_emails <= math.ceil(n_customers / max(page_size, 1)) else "scan"


class CustomerCounts:
    """The merchant's customer counts (all, registered), remembered for ``ttl`` seconds.

    One per session. Counts only steer the choice of strategy, so a few minutes' drift
    costs at most some speed, never a match.
    """

    def __init__(self, *, ttl: float = COUNTS_TTL, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: tuple[int, int] | None = None
        self._at = 0.0

    def get(self) -> tuple[int, int] | None:
        """``(all customers, registered customers)`` if known and fresh."""
        with self._lock:
            if self._value is None or self._clock() - self._at > self._ttl:
                return None
            return self._value

    def put(self, n_all: int, n_registered: int) -> None:
        """Remember counts just read."""
        with self._lock:
            self._value = (n_all, n_registered)
            self._at = self._clock()

    def clear(self) -> None:
        """Forget the counts (the next resolution asks again)."""
        with self._lock:
            self._value = None


class _Counter:
    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def add(self, k: int = 1) -> None:
        with self._lock:
            self.n += k


def _usable(customer: dict[str, Any]) -> bool:
    return customer.get("isAnonymous") is False and customer.get("status") != "deleted"


def _deleted(customer: dict[str, Any]) -> bool:
    return customer.get("isAnonymous") is False and customer.get("status") == "deleted"


def _candidate(customer: dict[str, Any]) -> _Candidate:
    return _Candidate(
        customer_id=str(customer["id"]),
        status=str(customer.get("status") or ""),
        updated=str(customer.get("updateDate") or customer.get("createDate") or ""),
    )


def _keys_of(customers: list[dict[str, Any]]) -> list[str | None]:
    values = pl.Series([str(c.get("emailAddress") or "") for c in customers], dtype=pl.String)
    return normalize_emails(values).get_column("email").to_list()


def resolve_members(
    client: ShopgateClient,
    members: MemberList,
    *,
    policy: AmbiguityPolicy = "skip",
    strategy: ResolveStrategy = "auto",
    concurrency: int = 8,
    page_size: int = 1000,
    classify_guests: bool = True,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    counts: CustomerCounts | None = None,
) -> Resolution:
    """Resolve every valid email of ``members`` (see the module docstring)."""
    start = clock()
    valid = members.valid
    emails: list[str] = valid.get_column("email").to_list()
    counter = _Counter()
    notes: list[str] = []
    wanted = set(emails)
    candidates: dict[str, list[_Candidate]] = {e: [] for e in emails}
    deleted: set[str] = set()

    used: str
    if not emails:
        used = "none"
    else:
        used = strategy
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            if strategy == "auto":
                used = _auto(
                    client,
                    pool,
                    emails,
                    candidates,
                    counter,
                    deleted=deleted,
                    page_size=page_size,
                    notes=notes,
                    counts=counts,
                )
            elif used == "lookup":
                _lookup(client, pool, emails, candidates, counter, deleted=deleted, anonymous=False)
            else:
                _scan(
                    client,
                    pool,
                    wanted,
                    candidates,
                    counter,
                    deleted=deleted,
                    page_size=page_size,
                    anonymous=False,
                )
            guests: set[str] = set()
            if classify_guests:
                unmatched = [e for e in emails if not candidates[e]]
                if unmatched:
                    guests = _find_guests(client, pool, unmatched, counter, page_size)
    report = _report(valid, candidates, guests if emails else set(), deleted, policy)
    resolution = Resolution(
        report=report,
        members=members,
        policy=policy,
        strategy=used,
        n_requests=counter.n,
        seconds=clock() - start,
        notes=tuple(notes),
    )
    if progress is not None:
        ProgressTracker(progress, batches_total=1, members_total=len(emails)).advance(
            batches=1, members=len(emails), phase="resolve"
        )
    return resolution


def _auto(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    emails: list[str],
    candidates: dict[str, list[_Candidate]],
    counter: _Counter,
    *,
    deleted: set[str],
    page_size: int,
    notes: list[str],
    counts: CustomerCounts | None,
) -> str:
    """Count (or recall the counts), then resolve the cheaper way."""
    known = None if counts is None else counts.get()
    if known is None:
        # Two counts in one round trip: every customer (what a lookup is weighed
        # against) and the registered ones (how many pages a scan reads).
        n_all, registered = pool.map(
            lambda filters: client.customer_page(filters=filters, limit=1).total,
            [None, {"isAnonymous": False}],
        )
        counter.add(2)
        if counts is not None:
            counts.put(n_all, registered)
        source = "counted"
    else:
        n_all, registered = known
        source = "counts from an earlier resolution"
    used = choose_strategy(len(emails), n_all, page_size)
    notes.append(
        f"{len(emails):,} emails, {n_all:,} customers ({registered:,} registered, {source}): "
        f"{used} needs fewer requests"
    )
    if used == "lookup":
        _lookup(client, pool, emails, candidates, counter, deleted=deleted, anonymous=False)
    else:
        _scan(
            client,
            pool,
            set(emails),
            candidates,
            counter,
            deleted=deleted,
            page_size=page_size,
            anonymous=False,
            total=registered,
        )
    return used


def _lookup_one(
    client: ShopgateClient, counter: _Counter, email: str, *, anonymous: bool
) -> tuple[str, list[dict[str, Any]]]:
    """Every customer with this exact email (registered or guests, as ``anonymous`` says)."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.customer_page(
            filters={"emailAddress": email, "isAnonymous": anonymous},
            limit=_LOOKUP_LIMIT,
            offset=offset,
        )
        counter.add()
        found.extend(page.customers)
        offset += len(page.customers)
        if not page.customers or offset >= page.total:
            return email, found


def _take_lookup(
    email: str,
    found: list[dict[str, Any]],
    candidates: dict[str, list[_Candidate]],
    deleted: set[str],
) -> None:
    """Keep the customers of a lookup whose normalised email really is ``email``."""
    for customer, key in zip(found, _keys_of(found), strict=True):
        if key == email and _usable(customer):
            candidates[email].append(_candidate(customer))
        elif key == email and _deleted(customer):
            deleted.add(email)


def _lookup(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    emails: list[str],
    candidates: dict[str, list[_Candidate]],
    counter: _Counter,
    *,
    deleted: set[str],
    anonymous: bool,
) -> None:
    def one(email: str) -> tuple[str, list[dict[str, Any]]]:
        return _lookup_one(client, counter, email, anonymous=anonymous)

    for email, found in pool.map(one, emails):
        _take_lookup(email, found, candidates, deleted)


def _scan_pages(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    counter: _Counter,
    page_size: int,
    *,
    anonymous: bool,
    total: int | None = None,
) -> Iterable[list[dict[str, Any]]]:
    """Every customer page, fetched concurrently.

    Without ``total`` the first page tells the total and the server's page size, then the
    rest follow. With ``total`` known (from a count) every page is asked for at once; a
    page shorter than asked (a server that caps ``limit``) gets its rest fetched in pages
    of the size the server answered with, and a total on a page larger than ``total`` is
    read up to.
    """
    filters = {"isAnonymous": anonymous}

    def fetch(job: tuple[int, int]) -> tuple[int, int, CustomerPage]:
        offset, size = job
        result = client.customer_page(filters=filters, limit=size, offset=offset)
        counter.add()
        return offset, size, result

    if total is None:
        first = client.customer_page(filters=filters, limit=page_size, offset=0)
        counter.add()
        yield first.customers
        total = first.total
        size = len(first.customers) or page_size
        jobs = [(o, size) for o in range(size, total, size)]
    else:
        jobs = [(o, page_size) for o in range(0, total, page_size)]
    while jobs:
        missing: list[tuple[int, int]] = []
        covered = max(offset + size for offset, size in jobs)
        for offset, asked, page in pool.map(fetch, jobs):
            yield page.customers
            got = len(page.customers)
            if 0 < got < asked and offset + got < total:
                end = min(offset + asked, total)
                missing += [(o, got) for o in range(offset + got, end, got)]
            # More customers than the pages were planned for (a count from earlier, or
            # customers added meanwhile): read on to the total the server reports now.
            total = max(total, page.total)
        if total > covered:
            missing += [(o, page_size) for o in range(covered, total, page_size)]
        jobs = missing


def _in_chunks(
    pages: Iterable[list[dict[str, Any]]], size: int = _NORMALIZE_CHUNK
) -> Iterable[list[dict[str, Any]]]:
    """Pages joined into chunks of at least ``size`` customers (the last may be smaller):
    normalising emails has a fixed cost per call, paid once per chunk, not once per page."""
    chunk: list[dict[str, Any]] = []
    for page in pages:
        chunk.extend(page)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _scan(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    wanted: set[str],
    candidates: dict[str, list[_Candidate]],
    counter: _Counter,
    *,
    deleted: set[str],
    page_size: int,
    anonymous: bool,
    total: int | None = None,
) -> None:
    pages = _scan_pages(client, pool, counter, page_size, anonymous=anonymous, total=total)
    _match_pages(pages, wanted, candidates, deleted)


def _match_pages(
    pages: Iterable[list[dict[str, Any]]],
    wanted: set[str],
    candidates: dict[str, list[_Candidate]],
    deleted: set[str],
) -> None:
    """Match scanned customers to the wanted emails on their normalised email."""
    for customers in _in_chunks(pages):
        for customer, key in zip(customers, _keys_of(customers), strict=True):
            if key is not None and key in wanted and _usable(customer):
                candidates[key].append(_candidate(customer))
            elif key is not None and key in wanted and _deleted(customer):
                deleted.add(key)


def _find_guests(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    unmatched: list[str],
    counter: _Counter,
    page_size: int,
) -> set[str]:
    """Which unmatched emails belong to guest checkouts (by the cheaper way)."""
    wanted = set(unmatched)
    first = client.customer_page(filters={"isAnonymous": True}, limit=1)
    counter.add()
    if choose_strategy(len(unmatched), first.total, page_size) == "lookup":

        def one(email: str) -> bool:
            page = client.customer_page(
                filters={"emailAddress": email, "isAnonymous": True}, limit=1
            )
            counter.add()
            return page.total > 0

        return {
            e for e, is_guest in zip(unmatched, pool.map(one, unmatched), strict=True) if is_guest
        }
    found: set[str] = set()
    pages = _scan_pages(client, pool, counter, page_size, anonymous=True, total=first.total)
    for customers in _in_chunks(pages):
        for customer, key in zip(customers, _keys_of(customers), strict=True):
            if key in wanted and customer.get("isAnonymous") is True:
                found.add(key)
    return found


def _report(
    valid: pl.DataFrame,
    candidates: dict[str, list[_Candidate]],
    guests: set[str],
    deleted: set[str],
    policy: AmbiguityPolicy,
) -> pl.DataFrame:
    outcomes: list[str] = []
    chosen: list[list[str]] = []
    rules: list[str] = []
    n_candidates: list[int] = []
    for email in valid.get_column("email").to_list():
        found = sorted(candidates.get(email, []), key=lambda c: c.customer_id)
        n_candidates.append(len(found))
        if len(found) == 1:
            outcomes.append("matched")
            chosen.append([found[0].customer_id])
            rules.append("one registered customer")
        elif len(found) > 1:
            outcomes.append("ambiguous")
            if policy == "all":
                chosen.append([c.customer_id for c in found])
                rules.append(f"ambiguous: all {len(found)} registered customers")
            elif policy == "latest":
                best = max(found, key=lambda c: (c.updated, c.customer_id))
                chosen.append([best.customer_id])
                rules.append(f"ambiguous: most recently updated of {len(found)}")
            else:
                chosen.append([])
                rules.append(f"ambiguous: skipped ({len(found)} registered customers)")
        elif email in guests:
            outcomes.append("guest_only")
            chosen.append([])
            rules.append("only guest checkouts use this email")
        else:
            outcomes.append("unmatched")
            chosen.append([])
            rules.append(
                "only a deleted customer account has this email"
                if email in deleted
                else "no customer has this email"
            )
    return valid.select("row", "value", "email").with_columns(
        pl.Series("outcome", outcomes, dtype=pl.String),
        pl.Series("n_candidates", n_candidates, dtype=pl.Int64),
        pl.Series("customer_ids", chosen, dtype=pl.List(pl.String)),
        pl.Series("rule", rules, dtype=pl.String),
    )
