"""Resolving emails to Shopgate customer ids, with one outcome per email.

Two strategies:

* ``lookup``: ask for the customers stored with each email's spellings (the spelling as
  typed and the normalised key): ``{"emailAddress": {"$in": [...]}, "isAnonymous": false}``
  a hundred spellings a request where the server takes ``$in`` on ``emailAddress``, else
  one ``{"emailAddress": spelling, "isAnonymous": false}`` request per spelling;
* ``scan``: page through every registered customer (``{"isAnonymous": false}``), pages
  fetched concurrently by offset, and match locally on the normalised email.

Shopgate does not document whether the ``emailAddress`` filter compares letter case. A
lookup that found nothing for an email settles it: unless the filter is known to ignore
case (``traits.email_filter == "insensitive"``), those emails are looked for by a scan, so
``Anna.Schmidt@GMX.de`` is found for ``anna.schmidt@gmx.de`` whichever way the server
compares. When the filter's way is not known yet, one request learns it first (one known
customer's email asked for with its letters' case swapped: found means the filter ignores
case, and the scan is not needed). A scan matches every email of the list, so after it the
resolution is exactly a scan's. ``Resolution.notes`` says what was done and why.

What a lookup cannot see without a scan: under an exact filter, a second account whose
email is stored in yet another letter case than the two spellings asked for (found, the
email would be ``ambiguous``); under any filter, an address stored in another Unicode or
Punycode form than the list's. ``strategy="scan"`` rules both out.

``strategy="auto"`` weighs the lookup's requests (``ceil(S / b)`` with ``$in``, S
without; S the distinct spellings, N <= S <= 2N for N emails; b = 100, or the page size
if smaller, so an answer fits a page) against the pages of all C customers, and takes the
lookup when it needs no more (when the N keys alone already need more, the spellings are
not worked out: ``auto`` then does the scan's work only). An email that several customers share can make a ``$in``
answer spill over a page: one more request for that batch. ``auto`` needs two customer
counts, registered and guests (two requests of one record each, in one round trip, each
with the guest filter), or takes them from ``counts``, a ``CustomerCounts`` that remembers
them for a few minutes. Requests sent, where the
filter's way and ``$in`` support are known:

* filter ignores case: at most ``min(lookup, ceil(C / page)) + 2``;
* filter exact: the same when every email is found; with emails not found, the lookup's
  requests plus a scan (``ceil(R / page)``, R registered) plus 2.

Where they are not known yet, add one request to learn each (a refused ``$in`` and the
case probe); a refused ``$in`` makes ``auto`` re-weigh S single lookups against the scan.
Counts only steer the choice: a scan always follows the totals the server reports on
each page, so a stale count cannot hide a customer.

Whatever the server answers, every candidate is checked again locally (registered, not
deleted, same normalised email), so a guest can never become a member and a loose filter
(one that also returns ``joann@x.de`` for ``ann@x.de``) cannot add anyone. Guests are
looked for only to tell ``guest_only`` from ``unmatched``, the same two ways, with
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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from ._customer_search import (
    RequestCounter,
    find_by_email,
    in_requests,
    page_size_of,
    probe_email_filter,
    traits_of,
)
from ._email import STRIP_CHARS, normalize_emails
from ._export import write_private_csv
from ._progress import ProgressTracker
from ._types import AmbiguityPolicy, ResolveStrategy

if TYPE_CHECKING:
    from ._client import CustomerPage, ShopgateClient
    from ._members import MemberList
    from ._progress import CancelToken, ProgressCallback
    from ._traits import ServerTraits

__all__ = [
    "OUTCOME",
    "CustomerCounts",
    "Resolution",
    "choose_strategy",
    "lookup_spellings",
    "resolve_members",
]

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
    ``outcome`` (matched / ambiguous / guest_only / unmatched, an ``Enum``),
    ``n_candidates``, ``customer_ids`` (the ids chosen for it, a list) and ``rule`` (why,
    categorical). ``row``, ``value`` and ``email`` are the member list's own columns.
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
            "row",
            "value",
            pl.col("outcome").cast(pl.String).alias("problem"),
            pl.col("rule").cast(pl.String),
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


def choose_strategy(lookup_requests: int, n_customers: int, page_size: int) -> ResolveStrategy:
    """``lookup`` if its requests are no more than the pages of every customer.

    ``lookup_requests`` is what the lookup sends (one per hundred spellings with ``$in``,
    one per spelling without). ``n_customers`` counts every customer, guests included: a
    customer page carries a whole page of records while a lookup carries few, so up to that
    many lookups are the faster choice even when the registered customers alone fit in
    fewer pages.

    Under an exact (or not yet known) email filter a lookup that misses an email is followed
    by the scan anyway. Taking the lookup when it costs no more than the scan still bounds
    the loss: at worst its own requests on top of the scan, at best the whole scan saved;
    how many emails a lookup will miss cannot be known before asking.
    """
    return "lookup" if lookup_requests <= math.ceil(n_customers / max(page_size, 1)) else "scan"


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


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


class _Resolver:
    """The state of one resolution: candidates found so far, requests, notes."""

    def __init__(
        self,
        client: ShopgateClient,
        pool: ThreadPoolExecutor,
        *,
        valid: pl.DataFrame,
        traits: ServerTraits,
        page_size: int,
        counter: RequestCounter | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.traits = traits
        self.page_size = page_size
        self.counter = counter if counter is not None else RequestCounter()
        self.notes: list[str] = []
        #: the list's emails: its own column, never copied into Python objects
        self.keys: pl.Series = valid.get_column("email")
        self.valid = valid
        #: the candidates of each key that found any (keys that found none are absent)
        self.candidates: dict[str, dict[str, _Candidate]] = {}
        self.deleted: set[str] = set()
        self.guests: set[str] = set()
        #: customers seen (any kind), to learn how the email filter compares
        self.samples: list[dict[str, Any]] = []
        #: guests counted by this resolution (None: not counted)
        self.guest_total: int | None = None
        #: the whole list's spellings, with the email filter they were made for
        self._spellings_of_all: tuple[str | None, list[str]] | None = None

    # -- what to ask for ---------------------------------------------------------------------

    def wanted(self, keys: pl.Series) -> Wanted:
        """``keys`` as the cheapest thing to test membership in: a set for a short list,
        else the Series itself (for all of them, the list's own email column)."""
        return _wanted(keys)

    @cached_property
    def typed(self) -> dict[str, str]:
        """Each key's spelling as typed (made when a lookup needs it: a big list is
        scanned, and never pays for this)."""
        return dict(zip(self.keys.to_list(), _typed_spellings(self.valid), strict=True))

    def spellings(self, keys: Iterable[str]) -> list[str]:
        """The distinct spellings to ask for (see ``lookup_spellings``)."""
        return _spellings([(k, self.typed[k]) for k in keys], self.traits.email_filter)

    def spellings_of(self, keys: pl.Series) -> list[str]:
        """``spellings`` of a Series of keys; those of the whole list are worked out once
        (``auto`` weighs them, then asks for them)."""
        if keys is not self.keys:
            return self.spellings(keys.to_list())
        cached = self._spellings_of_all
        if cached is None or cached[0] != self.traits.email_filter:
            spelt = self.spellings(keys.to_list())
            cached = self._spellings_of_all = (self.traits.email_filter, spelt)
        return cached[1]

    def lookup_requests(
        self, keys: pl.Series, rows: pl.Series | None = None, *, beyond: int | None = None
    ) -> int:
        """The requests a lookup of ``keys`` sends; ``rows`` marks the rows of the list
        they are (None: ``keys`` are the whole list).

        ``beyond``: the requests past which the exact number does not matter (those of the
        scan it is weighed against). Every key is a spelling of its own, so the keys alone
        give a floor; when even the floor is past ``beyond`` it is returned as it is and
        the spellings are not worked out (the lookup will not be made)."""
        floor = in_requests(keys.len(), self.traits.in_on_email, self.page_size)
        if beyond is not None and floor > beyond:
            return floor
        if keys.len() > _BIG:
            # Counted in the frame: no Python object per email for a list that big.
            n = _n_spellings(self.valid, self.traits.email_filter, rows)
        else:
            n = len(self.spellings_of(keys))
        return in_requests(n, self.traits.in_on_email, self.page_size)

    def unmatched(self) -> tuple[pl.Series, pl.Series | None]:
        """The emails no registered customer was found for, in list order, and the mask of
        their rows (None: every row)."""
        if not self.candidates:
            return self.keys, None
        found = pl.Series("email", list(self.candidates), dtype=pl.String)
        # The long list is probed against the few emails found.
        rows = ~self.keys.is_in(found.implode())
        return self.keys.filter(rows), rows

    # -- taking answers ------------------------------------------------------------------------

    def take(self, customers: list[dict[str, Any]], wanted: Wanted, *, anonymous: bool) -> None:
        """Keep the customers whose normalised email is wanted (checked here, whatever the
        filter was)."""
        for chunk in _in_chunks([customers]):
            keys = _keys_of(chunk)
            for customer, key, is_wanted in zip(chunk, keys, _is_wanted(keys, wanted), strict=True):
                if key is None or not is_wanted:
                    continue
                if anonymous:
                    if customer.get("isAnonymous") is True:
                        self.guests.add(key)
                elif _usable(customer):
                    candidate = _candidate(customer)
                    self.candidates.setdefault(key, {})[candidate.customer_id] = candidate
                elif _deleted(customer):
                    self.deleted.add(key)

    def found(self, key: str, *, anonymous: bool) -> bool:
        return key in self.guests if anonymous else key in self.candidates

    # -- the two ways --------------------------------------------------------------------------

    def lookup(
        self,
        keys: list[str],
        *,
        anonymous: bool,
        scan_pages: int | None = None,
        spellings: list[str] | None = None,
    ) -> list[str] | None:
        """Look the keys up; the keys still not found. None (nothing done) when ``$in`` was
        refused and one request per spelling would cost more than ``scan_pages``
        (``spellings``: the keys' own, when already worked out)."""
        if spellings is None:
            spellings = self.spellings(keys)
        before = self.traits.in_on_email
        answer = find_by_email(
            self.client,
            self.pool,
            spellings,
            anonymous=anonymous,
            counter=self.counter,
            traits=self.traits,
            page_size=self.page_size,
            each_limit=scan_pages,
        )
        if before is None and self.traits.in_on_email is False:
            self.notes.append(
                "Shopgate refused $in on emailAddress (HTTP 400 naming filters): "
                + (
                    f"{_plural(len(spellings), 'spelling')} would need as many requests, "
                    f"more than a scan of {_plural(scan_pages or 0, 'page')}"
                    if answer is None
                    else f"one request per spelling ({len(spellings):,})"
                )
            )
        elif before is None and self.traits.in_on_email:
            self.notes.append("Shopgate takes $in on emailAddress: 100 spellings a request")
        if answer is None:
            return None
        customers, _ = answer
        self.samples.extend(customers[:1])
        self.take(customers, set(keys), anonymous=anonymous)
        return [k for k in keys if not self.found(k, anonymous=anonymous)]

    def scan(self, wanted: Wanted, *, anonymous: bool, total: int | None = None) -> None:
        pages = _scan_pages(
            self.client,
            self.pool,
            self.counter,
            self.page_size,
            anonymous=anonymous,
            total=total,
        )
        for customers in _in_chunks(pages):
            self.take(customers, wanted, anonymous=anonymous)

    def settle_misses(
        self, misses: list[str], wanted: pl.Series, *, anonymous: bool, total: int | None
    ) -> bool:
        """Emails a lookup did not find: absent if the filter ignores case, else scanned
        for (matching every wanted email). True if a scan was made."""
        if not misses:
            return False
        who = "guest checkouts" if anonymous else "registered customers"
        if self.traits.email_filter is None:
            if not self.samples:
                self.counter.check()
                first = self.client.customer_page(filters={"isAnonymous": anonymous}, limit=1)
                self.counter.add()
                self.samples.extend(first.customers)
                if first.total == 0:
                    return False  # nobody to find
            learnt = probe_email_filter(
                self.client,
                self.samples,
                counter=self.counter,
                traits=self.traits,
                page_size=self.page_size,
            )
            if learnt is not None:
                self.notes.append(
                    f"The emailAddress filter compares {'without' if learnt == 'insensitive' else 'with'}"
                    " letter case (a known customer's email asked for with its letters' case "
                    f"swapped was {'found' if learnt == 'insensitive' else 'not found'})"
                )
        if self.traits.email_filter == "insensitive":
            self.notes.append(
                f"{_plural(len(misses), 'email')} not found by lookup: none of the {who} "
                f"{'has it' if len(misses) == 1 else 'have them'} (the filter ignores letter case)"
            )
            return False
        reason = (
            "the filter compares letter case exactly"
            if self.traits.email_filter == "exact"
            else "how the filter compares letter case is not known"
        )
        scope = "still unresolved email" if anonymous else "email of the list"
        self.notes.append(
            f"{_plural(len(misses), 'email')} not found by lookup: all {who} scanned for "
            f"every {scope}, as {reason} (another spelling may be stored)"
        )
        self.scan(self.wanted(wanted), anonymous=anonymous, total=total)
        return True

    def by_lookup(
        self, keys: pl.Series, *, anonymous: bool, total: int | None, scan_pages: int | None
    ) -> bool:
        """Lookup, then settle what it did not find; False when it chose not to (see
        ``lookup``)."""
        misses = self.lookup(
            keys.to_list(),
            anonymous=anonymous,
            scan_pages=scan_pages,
            spellings=self.spellings_of(keys),
        )
        if misses is None:
            return False
        self.settle_misses(misses, keys, anonymous=anonymous, total=total)
        return True

    # -- strategies ---------------------------------------------------------------------------

    def auto(self, counts: CustomerCounts | None) -> str:
        """Count (or recall the counts), then resolve the cheaper way."""
        known = None if counts is None else counts.get()
        if known is None:
            # Two counts in one round trip, each with the guest filter: the registered
            # customers (how many pages a scan reads) and the guests; together every
            # customer, what a lookup is weighed against.
            self.counter.expect(2)

            def count(anonymous: bool) -> CustomerPage:
                self.counter.check()
                page = self.client.customer_page(filters={"isAnonymous": anonymous}, limit=1)
                self.counter.add()
                return page

            pages: list[CustomerPage] = list(self.pool.map(count, [False, True]))
            registered, self.guest_total = pages[0].total, pages[1].total
            n_all = registered + self.guest_total
            self.samples.extend(pages[0].customers + pages[1].customers)
            if counts is not None:
                counts.put(n_all, registered)
            source = "counted"
        else:
            n_all, registered = known
            source = "counts from an earlier resolution"
        scan_pages = math.ceil(n_all / self.page_size)
        lookup = self.lookup_requests(self.keys, beyond=scan_pages)
        used = choose_strategy(lookup, n_all, self.page_size)
        self.notes.append(
            f"{_plural(len(self.keys), 'email')}, {n_all:,} customers ({registered:,} "
            f"registered, {source}): {used} needs fewer requests (lookup {lookup:,}"
            f"{' or more' if used == 'scan' else ''}, "
            f"scan {math.ceil(registered / self.page_size):,})"
        )
        if used == "lookup" and self.by_lookup(
            self.keys, anonymous=False, total=registered, scan_pages=scan_pages
        ):
            return "lookup"
        self.scan(self.wanted(self.keys), anonymous=False, total=registered)
        return "scan"

    def classify_guests(self) -> None:
        """Which unmatched emails belong to guest checkouts (by the cheaper way)."""
        unmatched, rows = self.unmatched()
        if unmatched.is_empty():
            return
        total = self.guest_total
        if total is None:  # not counted just now (counts remembered, or a forced strategy)
            self.counter.check()
            first = self.client.customer_page(filters={"isAnonymous": True}, limit=1)
            self.counter.add()
            self.samples.extend(first.customers)
            total = first.total
        if total == 0:
            return
        scan_pages = math.ceil(total / self.page_size)
        lookup = self.lookup_requests(unmatched, rows, beyond=scan_pages)
        del rows
        if choose_strategy(lookup, total, self.page_size) == "lookup" and self.by_lookup(
            unmatched, anonymous=True, total=total, scan_pages=scan_pages
        ):
            return
        self.scan(self.wanted(unmatched), anonymous=True, total=total)


#: Emails a resolution wants: a set, or for a big list the emails as a polars Series.
Wanted = set[str] | pl.Series

#: from how many emails on a list is kept in polars rather than as Python objects
_BIG = 10_000


def _wanted(keys: pl.Series) -> Wanted:
    """The keys as the cheapest thing to test membership in."""
    if keys.len() > _BIG:
        return keys
    return set(keys.to_list())


def _is_wanted(keys: list[str | None], wanted: Wanted) -> list[bool]:
    if isinstance(wanted, pl.Series):
        # The few keys of a chunk are hashed and the long list probed against them (no
        # hash table of the whole list per chunk); the keys found are then few.
        chunk = pl.Series("email", keys, dtype=pl.String)
        hits = wanted.filter(wanted.is_in(chunk.drop_nulls().implode()))
        return chunk.is_in(hits.implode()).fill_null(False).to_list()
    return [key is not None and key in wanted for key in keys]


def _n_spellings(
    valid: pl.DataFrame, email_filter: str | None, rows: pl.Series | None = None
) -> int:
    """``len(lookup_spellings(...))`` counted in the frame (for a big list), over the rows
    ``rows`` marks (None: all).

    The keys are distinct; the spellings as typed that differ from their key are the few
    extra ones. The list is worked through in slices, so no full-length copy of its text
    is made."""
    insensitive = email_filter == "insensitive"
    n_keys = 0
    extra: list[pl.Series] = []
    for start in range(0, valid.height, _SLICE_ROWS):
        part = valid.slice(start, _SLICE_ROWS).select("value", "email")
        if rows is not None:
            part = part.filter(rows.slice(start, _SLICE_ROWS))
        keys = part.get_column("email")
        typed = part.get_column("value").cast(pl.String).fill_null("").str.strip_chars(STRIP_CHARS)
        compared = typed.str.to_lowercase() if insensitive else typed
        extra.append(typed.filter(compared != keys))
        n_keys += keys.len()
    others = pl.concat(extra).unique() if extra else pl.Series(dtype=pl.String)
    if others.is_empty():
        return n_keys
    keys = valid.get_column("email")
    # A spelling that is another row's key is counted once (the long list probed).
    hit = keys.is_in(others.implode())
    shared = keys.filter(hit if rows is None else hit & rows)
    return n_keys + others.filter(~others.is_in(shared.implode())).len()


#: rows of a list worked through at once where a whole column's copy would be large
_SLICE_ROWS = 1 << 18


def _typed_spellings(valid: pl.DataFrame) -> list[str]:
    """Each valid row's value as typed, without the spaces around it."""
    return [
        str(v).strip(STRIP_CHARS) if v is not None else ""
        for v in valid.get_column("value").to_list()
    ]


def _spellings(pairs: Iterable[tuple[str, str]], email_filter: str | None) -> list[str]:
    insensitive = email_filter == "insensitive"
    out: dict[str, None] = {}
    for key, typed in pairs:
        out[key] = None
        if (typed.lower() if insensitive else typed) != key:
            out[typed] = None
    return list(out)


def lookup_spellings(members: MemberList, email_filter: str | None = None) -> list[str]:
    """The distinct spellings a lookup of ``members`` asks for, as the filter's way of
    comparing (``exact``, ``insensitive`` or None: not known) makes needed: each key, and
    the spelling as typed where the filter would not find the one through the other."""
    valid = members.valid
    keys: list[str] = valid.get_column("email").to_list()
    return _spellings(zip(keys, _typed_spellings(valid), strict=True), email_filter)


def resolve_members(
    client: ShopgateClient,
    members: MemberList,
    *,
    policy: AmbiguityPolicy = "skip",
    strategy: ResolveStrategy = "auto",
    concurrency: int = 8,
    page_size: int | None = None,
    classify_guests: bool = True,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    counts: CustomerCounts | None = None,
    traits: ServerTraits | None = None,
    cancel: CancelToken | None = None,
) -> Resolution:
    """Resolve every valid email of ``members`` (see the module docstring).

    ``page_size`` defaults to the client's known page size (100 unless its traits know a
    larger one); ``traits`` to the client's, which learn what this resolution finds out.

    ``progress`` gets a ``ProgressEvent`` of phase ``resolve`` after every request:
    ``phase_done``/``phase_total`` (and ``requests_done``/``requests_total``) count the
    requests sent and planned so far, ``members_done``/``members_total`` the emails looked
    up; then one of phase ``done``. ``cancel`` (a ``CancelToken``) is checked before every
    request: once cancelled no request is sent and :class:`OperationCancelledError` is
    raised (a resolution only reads, so nothing is left half-written).
    """
    start = clock()
    valid = members.valid
    emails = valid.get_column("email")
    n_emails = emails.len()
    used: str = "none"
    watch = _Watch(progress, n_emails, clock)
    counter = RequestCounter(cancel=cancel, on_change=watch.changed, what="Matching the emails")
    counter.check()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        run = _Resolver(
            client,
            pool,
            valid=valid,
            traits=traits if traits is not None else traits_of(client),
            page_size=page_size_of(client, page_size),
            counter=counter,
        )
        if not emails.is_empty():
            if strategy == "auto":
                used = run.auto(counts)
            elif strategy == "lookup":
                run.by_lookup(emails, anonymous=False, total=None, scan_pages=None)
                used = "lookup"
            else:
                run.scan(run.wanted(emails), anonymous=False)
                used = "scan"
            watch.registered_done(counter)
            if classify_guests:
                run.classify_guests()
    counter.check()
    report = _report(valid, run.candidates, run.guests, run.deleted, policy)
    resolution = Resolution(
        report=report,
        members=members,
        policy=policy,
        strategy=used,
        n_requests=run.counter.n,
        seconds=clock() - start,
        notes=tuple(run.notes),
    )
    watch.finished(counter, resolution)
    return resolution


class _Watch:
    """A resolution's progress: requests sent of those planned so far, and emails looked
    up (in proportion to the values asked for while registered customers are looked up;
    all of them once that step is over)."""

    def __init__(
        self, progress: ProgressCallback | None, n_emails: int, clock: Callable[[], float]
    ) -> None:
        self.n_emails = n_emails
        self.looked_up = False
        self.requests = 0
        self.tracker = (
            None
            if progress is None
            else ProgressTracker(
                progress,
                batches_total=0,
                members_total=n_emails,
                clock=clock,
                requests=lambda: self.requests,
            )
        )

    def emails_done(self, counter: RequestCounter) -> int:
        if self.looked_up:
            return self.n_emails
        if counter.values_planned:
            return min(self.n_emails, self.n_emails * counter.values_done // counter.values_planned)
        return 0

    def changed(self, counter: RequestCounter, message: str = "") -> None:
        if self.tracker is None:
            return
        self.requests = counter.n
        done = self.emails_done(counter)
        self.tracker.update(
            "resolve",
            done=counter.n,
            total=counter.planned,
            members_done=done,
            requests_total=counter.planned,
            message=message or f"{done:,}/{self.n_emails:,} emails looked up",
        )

    def registered_done(self, counter: RequestCounter) -> None:
        self.looked_up = True
        self.changed(counter)

    def finished(self, counter: RequestCounter, resolution: Resolution) -> None:
        if self.tracker is None:
            return
        self.looked_up = True
        self.changed(counter)
        self.tracker.emit(
            "done",
            f"{resolution.n_ids:,} customer ids from {resolution.n_valid:,} emails "
            f"({counter.n:,} requests)",
        )


def _scan_pages(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    counter: RequestCounter,
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
        counter.check()
        result = client.customer_page(filters=filters, limit=size, offset=offset)
        counter.add()
        return offset, size, result

    if total is None:
        counter.check()
        first = client.customer_page(filters=filters, limit=page_size, offset=0)
        counter.add()
        yield first.customers
        total = first.total
        size = len(first.customers) or page_size
        jobs = [(o, size) for o in range(size, total, size)]
    else:
        jobs = [(o, page_size) for o in range(0, total, page_size)]
    while jobs:
        counter.expect(len(jobs))
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


def _report(
    valid: pl.DataFrame,
    candidates: dict[str, dict[str, _Candidate]],
    guests: set[str],
    deleted: set[str],
    policy: AmbiguityPolicy,
) -> pl.DataFrame:
    """One row per valid email: its outcome, the ids chosen and why (see ``Resolution``).

    Worked out for the emails that found anything (customers, guests or deleted accounts),
    then spread over the list: every other email is ``unmatched``. The list's own ``row``,
    ``value`` and ``email`` columns are reused, not copied, and ``outcome`` and ``rule`` are
    categorical, so a list of millions of emails costs a few bytes per email here."""
    found = pl.DataFrame(
        [
            (email, c.customer_id, c.updated)
            for email, by_id in candidates.items()
            for c in by_id.values()
        ],
        schema={"email": pl.String, "customer_id": pl.String, "updated": pl.String},
        orient="row",
    )
    per_email = (
        found.sort("customer_id")
        .group_by("email", maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("n_candidates"),
            pl.col("customer_id").alias("all_ids"),
            pl.col("customer_id").sort_by(["updated", "customer_id"]).last().alias("latest"),
        )
    )
    marks = (
        pl.DataFrame(
            {
                "email": [*guests, *deleted],
                "is_guest": [True] * len(guests) + [False] * len(deleted),
                "is_deleted": [False] * len(guests) + [True] * len(deleted),
            },
            schema={"email": pl.String, "is_guest": pl.Boolean, "is_deleted": pl.Boolean},
        )
        .group_by("email")
        .agg(pl.col("is_guest").any(), pl.col("is_deleted").any())
    )
    emails = valid.get_column("email")
    seen = pl.concat([per_email.get_column("email"), marks.get_column("email")])
    # Where in the list the emails that found anything are (the list probed against them).
    at = emails.is_in(seen.implode()).arg_true()
    n = pl.col("n_candidates")
    ambiguous_ids = {
        "all": pl.col("all_ids"),
        "latest": pl.concat_list(pl.col("latest")),
        "skip": pl.lit([], dtype=pl.List(pl.String)),
    }[policy]
    ambiguous_rule = {
        "all": pl.format("ambiguous: all {} registered customers", n),
        "latest": pl.format("ambiguous: most recently updated of {}", n),
        "skip": pl.format("ambiguous: skipped ({} registered customers)", n),
    }[policy]
    empty = pl.lit([], dtype=pl.List(pl.String))
    settled = (
        pl.DataFrame({"email": emails.gather(at)})
        .join(per_email, on="email", how="left", maintain_order="left")
        .join(marks, on="email", how="left", maintain_order="left")
        .with_columns(n.fill_null(0))
        .select(
            pl.when(n == 1)
            .then(pl.lit("matched"))
            .when(n > 1)
            .then(pl.lit("ambiguous"))
            .when(pl.col("is_guest").fill_null(False))
            .then(pl.lit("guest_only"))
            .otherwise(pl.lit("unmatched"))
            .cast(OUTCOME)
            .alias("outcome"),
            n.alias("n_candidates"),
            pl.when(n == 1)
            .then(pl.col("all_ids"))
            .when(n > 1)
            .then(ambiguous_ids)
            .otherwise(empty)
            .alias("customer_ids"),
            pl.when(n == 1)
            .then(pl.lit("one registered customer"))
            .when(n > 1)
            .then(ambiguous_rule)
            .when(pl.col("is_guest").fill_null(False))
            .then(pl.lit("only guest checkouts use this email"))
            .when(pl.col("is_deleted").fill_null(False))
            .then(pl.lit("only a deleted customer account has this email"))
            .otherwise(pl.lit(_NO_CUSTOMER))
            .cast(pl.Categorical)
            .alias("rule"),
        )
    )
    # Row i of ``settled`` belongs at list position at[i]; every other position is unmatched.
    where = pl.repeat(None, emails.len(), dtype=pl.UInt32, eager=True).scatter(
        at, pl.int_range(0, at.len(), dtype=pl.UInt32, eager=True)
    )
    spread = settled.select(pl.all().gather(where))
    del where, settled
    return pl.DataFrame(
        [
            valid.get_column("row"),
            valid.get_column("value"),
            emails,
            spread.get_column("outcome").fill_null(pl.lit("unmatched", dtype=OUTCOME)),
            spread.get_column("n_candidates").fill_null(0),
            spread.get_column("customer_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            spread.get_column("rule").fill_null(pl.lit(_NO_CUSTOMER, dtype=pl.Categorical)),
        ]
    )


#: What ``Resolution.report``'s ``outcome`` column holds.
OUTCOME = pl.Enum(["matched", "ambiguous", "guest_only", "unmatched"])
_NO_CUSTOMER = "no customer has this email"
