"""Who a customer id is: email address and name, asked of Shopgate only for the ids shown.

The panels list customer ids (a plan's removals, a run's outcomes) and show the person
behind each row of the visible page. ``People.lookup(ids)`` asks Shopgate's customer
service for the ids it has not seen yet with ``{"id": {"$in": [...]}}``, a hundred ids (or a
page) per request, or ``GET customers/{id}`` per id where ``$in`` on ``id`` is refused (see
``_customer_search.find_by_id``). Every answer, an unknown id included, is kept for the
session, so paging back and forth asks nothing again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import polars as pl

from ._customer_search import RequestCounter, find_by_id, page_size_of, traits_of

if TYPE_CHECKING:
    from ._client import ShopgateClient

__all__ = ["PEOPLE_SCHEMA", "People", "person_of"]

#: The columns of ``People.lookup``: one row per id asked for, in the order asked.
PEOPLE_SCHEMA: dict[str, Any] = {
    "customer_id": pl.String,
    "email": pl.String,
    "name": pl.String,
    "account": pl.String,
}


def person_of(record: dict[str, Any] | None) -> tuple[str | None, str | None, str]:
    """``(email, name, account)`` of a customer record; ``account`` is ``registered``,
    ``guest``, ``deleted`` or ``unknown`` (no such customer)."""
    if record is None:
        return None, None, "unknown"
    names = [record.get(k) for k in ("firstName", "middleName", "lastName")]
    name = " ".join(str(n).strip() for n in names if n and str(n).strip()) or None
    email = record.get("emailAddress")
    if record.get("isAnonymous") is not False:
        account = "guest"
    elif record.get("status") == "deleted":
        account = "deleted"
    else:
        account = "registered"
    return (str(email) if email else None), name, account


class People:
    """The email and name of customer ids, cached for the life of a session (thread-safe)."""

    def __init__(
        self, client: ShopgateClient, *, concurrency: int = 4, page_size: int | None = None
    ) -> None:
        self._client = client
        self._concurrency = max(1, concurrency)
        self._page_size = page_size
        self._known: dict[str, tuple[str | None, str | None, str]] = {}
        self._lock = threading.Lock()
        #: requests sent by every lookup so far
        self.n_requests = 0

    def __len__(self) -> int:
        return len(self._known)

    def clear(self) -> None:
        """Forget every person (a new connection, or to read them again)."""
        with self._lock:
            self._known.clear()

    def cached(self, ids: Iterable[str] | None = None) -> pl.DataFrame:
        """The people already known (of ``ids``, or all), without asking Shopgate."""
        with self._lock:
            wanted = list(self._known) if ids is None else [i for i in ids if i in self._known]
            rows = [(i, *self._known[i]) for i in wanted]
        return pl.DataFrame(rows, schema=PEOPLE_SCHEMA, orient="row")

    def lookup(self, ids: Iterable[str]) -> pl.DataFrame:
        """``customer_id``, ``email``, ``name``, ``account`` for each distinct id, in order.

        Only ids not seen before are asked for; an id Shopgate does not know comes back with
        ``account="unknown"`` and no email or name.
        """
        wanted = list(dict.fromkeys(str(i) for i in ids if i is not None))
        with self._lock:
            missing = [i for i in wanted if i not in self._known]
        if missing:
            counter = RequestCounter()
            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                records, _ = find_by_id(
                    self._client,
                    pool,
                    missing,
                    counter=counter,
                    traits=traits_of(self._client),
                    page_size=page_size_of(self._client, self._page_size),
                )
            with self._lock:
                self.n_requests += counter.n
                for customer_id in missing:
                    self._known[customer_id] = person_of(records.get(customer_id))
        with self._lock:
            rows = [(i, *self._known[i]) for i in wanted]
        return pl.DataFrame(rows, schema=PEOPLE_SCHEMA, orient="row")
