"""Customer ids given directly, checked against Shopgate before a plan offers them.

A list of ids (a ``MemberList`` of kind ``customer_id``, a frame's ``customer_id``
column, a Series or list passed to ``session.plan``) may name ids Shopgate does not know,
guest checkouts (``isAnonymous: true``) or deleted accounts: none of them can be a segment
member, so they are reported, like unmatched emails, and never sent. The check asks for
``{"id": {"$in": [...]}}`` a hundred ids at a time where the server takes ``$in`` on
``id`` (``traits.in_on_id``; learnt from the first request while not known), else
``GET customers/{id}`` per id (404: no such customer).
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import polars as pl

from ._customer_search import RequestCounter, find_by_id, page_size_of, traits_of
from ._progress import ProgressTracker

if TYPE_CHECKING:
    from ._client import ShopgateClient
    from ._progress import CancelToken, ProgressCallback
    from ._traits import ServerTraits

__all__ = ["IdCheck", "IdOutcome", "check_customer_ids"]

#: What an id turned out to be: only ``customer`` ids are offered to a plan.
IdOutcome: TypeAlias = Literal["customer", "unknown", "guest", "deleted"]

_REASONS: dict[str, str] = {
    "customer": "a registered customer",
    "unknown": "Shopgate has no customer with this id",
    "guest": "a guest checkout: guests cannot be segment members",
    "deleted": "the customer account is deleted",
}


@dataclass(frozen=True, repr=False)
class IdCheck:
    """Which of the given customer ids are registered customers in Shopgate.

    ``report`` has one row per distinct id, in input order: ``customer_id``, ``outcome``
    (customer / unknown / guest / deleted) and ``reason``. Only ``customer`` ids go to a
    plan (``customer_ids``).
    """

    report: pl.DataFrame
    n_requests: int
    seconds: float
    how: str
    notes: tuple[str, ...] = field(default=())

    def _count(self, outcome: str) -> int:
        return int((self.report.get_column("outcome") == outcome).sum())

    @property
    def n_checked(self) -> int:
        """Distinct ids checked."""
        return self.report.height

    @property
    def n_customers(self) -> int:
        """Ids of registered customers: the ones a plan offers."""
        return self._count("customer")

    @property
    def n_unknown(self) -> int:
        """Ids Shopgate has no customer for."""
        return self._count("unknown")

    @property
    def n_guest(self) -> int:
        """Ids of guest checkouts."""
        return self._count("guest")

    @property
    def n_deleted(self) -> int:
        """Ids of deleted customer accounts."""
        return self._count("deleted")

    @property
    def n_left_out(self) -> int:
        """Ids not offered to a plan (unknown, guests, deleted)."""
        return self.n_checked - self.n_customers

    @property
    def customer_ids(self) -> pl.Series:
        """The ids to put in the segment (registered customers), in input order."""
        return self.report.filter(pl.col("outcome") == "customer").get_column("customer_id")

    def problems(self) -> pl.DataFrame:
        """The ids left out, with why: ``customer_id``, ``outcome``, ``reason``."""
        return self.report.filter(pl.col("outcome") != "customer")

    def to_polars(self) -> pl.DataFrame:
        """The per-id report."""
        return self.report

    def summary(self) -> str:
        """One line: how many ids were checked and why any were left out."""
        text = f"{self.n_checked:,} ids checked, {self.n_customers:,} customers"
        parts = [
            f"{n:,} {name}"
            for n, name in (
                (self.n_unknown, "unknown"),
                (self.n_guest, "guests"),
                (self.n_deleted, "deleted"),
            )
            if n
        ]
        if parts:
            text += f"; left out: {', '.join(parts)}"
        return text

    def __repr__(self) -> str:
        return (
            f"IdCheck(n_checked={self.n_checked:,}, n_customers={self.n_customers:,}, "
            f"n_unknown={self.n_unknown:,}, n_guest={self.n_guest:,}, "
            f"n_deleted={self.n_deleted:,}, how={self.how!r}, n_requests={self.n_requests:,})"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(name)}</td>"
            f"<td style='text-align:right'>{n:,}</td></tr>"
            for name, n in (
                ("ids checked", self.n_checked),
                ("customers", self.n_customers),
                ("unknown", self.n_unknown),
                ("guests", self.n_guest),
                ("deleted", self.n_deleted),
            )
        )
        return (
            f"<div><b>Id check</b> — {html.escape(self.how)}, {self.n_requests:,} requests"
            f"<table>{rows}</table></div>"
        )


def _outcome(record: dict[str, Any] | None) -> IdOutcome:
    if record is None:
        return "unknown"
    if record.get("isAnonymous") is not False:
        return "guest"
    if record.get("status") == "deleted":
        return "deleted"
    return "customer"


def check_customer_ids(
    client: ShopgateClient,
    ids: pl.Series,
    *,
    concurrency: int = 8,
    page_size: int | None = None,
    traits: ServerTraits | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> IdCheck:
    """Check every distinct id of ``ids`` (see the module docstring).

    ``progress`` gets a ``ProgressEvent`` of phase ``resolve`` after every request
    (requests sent of those planned, ids checked as members); ``cancel`` is checked before
    every request and raises ``OperationCancelledError`` once cancelled.
    """
    start = clock()
    wanted: list[str] = ids.cast(pl.String).drop_nulls().unique(maintain_order=True).to_list()
    traits = traits if traits is not None else traits_of(client)
    tracker = (
        None
        if progress is None
        else ProgressTracker(
            progress,
            batches_total=0,
            members_total=len(wanted),
            clock=clock,
            requests=lambda: counter.n,
        )
    )

    def on_change(counted: RequestCounter) -> None:
        if tracker is not None:
            tracker.update(
                "resolve",
                done=counted.n,
                total=counted.planned,
                members_done=min(counted.values_done, len(wanted)),
                requests_total=counted.planned,
                message=f"{min(counted.values_done, len(wanted)):,}/{len(wanted):,} ids checked",
            )

    counter = RequestCounter(cancel=cancel, on_change=on_change, what="Checking the ids")
    counter.check()
    notes: list[str] = []
    before = traits.in_on_id
    records: dict[str, dict[str, Any]] = {}
    how = "none"
    if wanted:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            records, used_in = find_by_id(
                client,
                pool,
                wanted,
                counter=counter,
                traits=traits,
                page_size=page_size_of(client, page_size),
            )
        how = "$in on id" if used_in else "one request per id"
        if before is None and traits.in_on_id is False:
            notes.append(
                f"Shopgate refused $in on id (HTTP 400 naming filters): "
                f"{len(wanted):,} ids asked for one at a time"
            )
        elif used_in:
            notes.append(
                f"{len(wanted):,} ids asked for with $in, "
                f"{math.ceil(len(wanted) / 100):,} request(s) of up to 100"
            )
    outcomes = [_outcome(records.get(i)) for i in wanted]
    report = pl.DataFrame(
        {
            "customer_id": wanted,
            "outcome": outcomes,
            "reason": [_REASONS[o] for o in outcomes],
        },
        schema={"customer_id": pl.String, "outcome": pl.String, "reason": pl.String},
    )
    return IdCheck(
        report=report,
        n_requests=counter.n,
        seconds=clock() - start,
        how=how,
        notes=tuple(notes),
    )
