"""Asking Shopgate's customer service for the customers with given emails or ids.

Two ways for each field, the cheaper one first:

* ``{"<field>": {"$in": [up to 100 values]}}``: one request per hundred values (or per
  page size, if a page holds fewer), each answer
  paged through by offset when it holds more than a page. Whether the server supports
  ``$in`` on a field is a server trait (``in_on_email`` / ``in_on_id``); while it is not
  known, the first batch is sent alone and a 400 that names ``filters`` teaches the
  client that it is not supported (``traits.learn(...)``).
* one request per value: the equality filter ``{"emailAddress": value}`` paged through
  by offset, or ``GET customers/{id}`` (404 = no such customer).

Which customers come back is only a candidate list: the callers check every record again
(same normalised email, registered, not deleted), since a loose server may return more.

:func:`probe_email_filter` tells how the ``emailAddress`` filter compares letter case:
it asks again for one known customer's email with every letter's case swapped.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ._errors import BadRequestError, NotFoundError, OperationCancelledError
from ._traits import DEFAULT_PAGE_SIZE, EmailFilter, ServerTraits

if TYPE_CHECKING:
    from ._client import ShopgateClient
    from ._progress import CancelToken

__all__ = [
    "IN_BATCH",
    "RequestCounter",
    "find_by_email",
    "find_by_id",
    "in_batch",
    "in_requests",
    "is_filter_refusal",
    "page_size_of",
    "probe_email_filter",
    "traits_of",
]

#: values in one ``$in`` filter
IN_BATCH = 100


class RequestCounter:
    """Requests sent by one resolution or check (thread-safe), the requests planned so far,
    and the cancel check made before each request.

    ``on_change`` (if given) is called after every change of the counts, from the thread
    that made it; ``cancel`` is a ``CancelToken``: once cancelled, ``check()`` raises
    :class:`OperationCancelledError`, so no further request is sent.
    """

    def __init__(
        self,
        *,
        cancel: CancelToken | None = None,
        on_change: Callable[[RequestCounter], object] | None = None,
        what: str = "The lookup",
    ) -> None:
        self.n = 0
        #: requests planned so far (grows as the work is planned; never below ``n``)
        self.planned = 0
        #: values (spellings, ids) asked for so far, and planned, by ``$in`` or one by one
        self.values_done = 0
        self.values_planned = 0
        self._cancel = cancel
        self._on_change = on_change
        self._what = what
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise :class:`OperationCancelledError` once the cancel token is cancelled."""
        if self._cancel is not None and self._cancel.cancelled:
            msg = (
                f"{self._what} was cancelled after {self.n:,} request(s); nothing was "
                "written. Start it again to finish it."
            )
            raise OperationCancelledError(msg)

    def expect(self, k: int = 1, *, values: int = 0) -> None:
        """``k`` more requests (asking for ``values`` values) are planned."""
        with self._lock:
            self.planned += k
            self.values_planned += values
        self._changed()

    def add(self, k: int = 1) -> None:
        """``k`` requests were sent."""
        with self._lock:
            self.n += k
            self.planned = max(self.planned, self.n)
        self._changed()

    def asked(self, values: int) -> None:
        """Answers for ``values`` more values are in."""
        with self._lock:
            self.values_done += values
            self.values_planned = max(self.values_planned, self.values_done)
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)


def traits_of(client: ShopgateClient) -> ServerTraits:
    """The client's ``ServerTraits``; a client without them gets a new one (kept on it)."""
    traits = getattr(client, "traits", None)
    if isinstance(traits, ServerTraits):
        return traits
    traits = ServerTraits()
    setattr(client, "traits", traits)  # noqa: B010 (the attribute may not be declared yet)
    return traits


def page_size_of(client: ShopgateClient, page_size: int | None) -> int:
    """``page_size`` if given, else the client's known page size, else 100."""
    if page_size is not None:
        return max(1, page_size)
    traits = getattr(client, "traits", None)
    return traits.page_size if isinstance(traits, ServerTraits) else DEFAULT_PAGE_SIZE


def in_batch(page_size: int) -> int:
    """Values in one ``$in`` filter: up to a hundred, and no more than a page holds, so an
    answer of one customer per value fits one page."""
    return max(1, min(IN_BATCH, page_size))


def in_requests(n_values: int, supported: bool | None, page_size: int = DEFAULT_PAGE_SIZE) -> int:
    """Requests to ask for ``n_values`` values: batches of ``$in`` unless it is known refused
    (more when a value's answer holds several customers and a batch's answer spills over a
    page)."""
    if supported is False:
        return n_values
    return math.ceil(n_values / in_batch(page_size))


def is_filter_refusal(error: BadRequestError) -> bool:
    """A 400 that names the ``filters`` parameter (the server does not take that filter)."""
    return "filter" in str(error).lower()


def _batches(values: Sequence[str], page_size: int) -> list[list[str]]:
    size = in_batch(page_size)
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _all_pages(
    client: ShopgateClient,
    counter: RequestCounter,
    filters: dict[str, Any],
    page_size: int,
) -> list[dict[str, Any]]:
    """Every customer the filter answers, page by page (offset)."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        counter.check()
        page = client.customer_page(filters=filters, limit=page_size, offset=offset)
        counter.add()
        found.extend(page.customers)
        offset += len(page.customers)
        if not page.customers or offset >= page.total:
            return found


def _in_batches(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    batches: list[list[str]],
    make_filter: Callable[[list[str]], dict[str, Any]],
    *,
    counter: RequestCounter,
    page_size: int,
    supported: bool | None,
    learn: Callable[[bool], None],
) -> list[dict[str, Any]] | None:
    """The customers every batch's ``$in`` filter answers; None if the server refused it."""
    found: list[dict[str, Any]] = []
    todo = batches
    n_values = sum(len(batch) for batch in todo)
    counter.expect(0, values=n_values)
    if supported is None and todo:
        counter.expect(1)
        try:
            found.extend(_all_pages(client, counter, make_filter(todo[0]), page_size))
        except BadRequestError as error:
            if not is_filter_refusal(error):
                raise
            counter.add()  # the refused request was sent
            counter.expect(0, values=-n_values)  # asked again another way
            learn(False)
            return None
        learn(True)
        counter.asked(len(todo[0]))
        todo = todo[1:]
    counter.expect(len(todo))

    def one_batch(batch: list[str]) -> list[dict[str, Any]]:
        customers = _all_pages(client, counter, make_filter(batch), page_size)
        counter.asked(len(batch))
        return customers

    for customers in pool.map(one_batch, todo):
        found.extend(customers)
    return found


def find_by_email(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    spellings: Sequence[str],
    *,
    anonymous: bool,
    counter: RequestCounter,
    traits: ServerTraits,
    page_size: int,
    each_limit: int | None = None,
) -> tuple[list[dict[str, Any]], bool] | None:
    """Customers (registered or guests, as ``anonymous`` says) stored with any of the
    spellings, and whether ``$in`` carried the question.

    Without ``$in``, one request per spelling; None (nothing more sent) when that would be
    more than ``each_limit`` requests.
    """
    if traits.in_on_email is not False and spellings:
        found = _in_batches(
            client,
            pool,
            _batches(spellings, page_size),
            lambda batch: {"emailAddress": {"$in": batch}, "isAnonymous": anonymous},
            counter=counter,
            page_size=page_size,
            supported=traits.in_on_email,
            learn=lambda ok: traits.learn(in_on_email=ok),
        )
        if found is not None:
            return found, True
    if each_limit is not None and len(spellings) > each_limit:
        return None
    counter.expect(len(spellings), values=len(spellings))

    def one(email: str) -> list[dict[str, Any]]:
        customers = _all_pages(
            client, counter, {"emailAddress": email, "isAnonymous": anonymous}, page_size
        )
        counter.asked(1)
        return customers

    out: list[dict[str, Any]] = []
    for customers in pool.map(one, spellings):
        out.extend(customers)
    return out, False


def find_by_id(
    client: ShopgateClient,
    pool: ThreadPoolExecutor,
    ids: Sequence[str],
    *,
    counter: RequestCounter,
    traits: ServerTraits,
    page_size: int,
) -> tuple[dict[str, dict[str, Any]], bool]:
    """The customer record of each id that exists (guests and deleted ones included), and
    whether ``$in`` carried the question. Ids the server does not know are left out."""
    if traits.in_on_id is not False and ids:
        found = _in_batches(
            client,
            pool,
            _batches(ids, page_size),
            lambda batch: {"id": {"$in": batch}},
            counter=counter,
            page_size=page_size,
            supported=traits.in_on_id,
            learn=lambda ok: traits.learn(in_on_id=ok),
        )
        if found is not None:
            wanted = set(ids)
            return {str(c["id"]): c for c in found if str(c.get("id")) in wanted}, True

    def one(customer_id: str) -> dict[str, Any] | None:
        counter.check()
        try:
            customer = client.get_customer(customer_id)
        except NotFoundError:
            return None
        finally:
            counter.add()
            counter.asked(1)
        return customer

    counter.expect(len(ids), values=len(ids))
    answers = zip(ids, pool.map(one, ids), strict=True)
    return {customer_id: c for customer_id, c in answers if c is not None}, False


def _swap_case(text: str) -> str | None:
    swapped = text.swapcase()
    return swapped if swapped != text else None


def probe_email_filter(
    client: ShopgateClient,
    samples: Iterable[dict[str, Any]],
    *,
    counter: RequestCounter,
    traits: ServerTraits,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> EmailFilter | None:
    """Learn how the ``emailAddress`` filter compares letter case, with one request.

    The first sample with a cased letter in its email is asked for again with every
    letter's case swapped: if it comes back the filter ignores case (``insensitive``),
    else it compares ``exact``ly. None (nothing learnt) when no sample has such an email.
    """
    for customer in samples:
        stored = customer.get("emailAddress")
        customer_id = customer.get("id")
        if not isinstance(stored, str) or customer_id is None:
            continue
        swapped = _swap_case(stored)
        if swapped is None:
            continue
        anonymous = customer.get("isAnonymous") is True
        counter.check()
        page = client.customer_page(
            filters={"emailAddress": swapped, "isAnonymous": anonymous},
            limit=page_size,
        )
        counter.add()
        seen = any(str(c.get("id")) == str(customer_id) for c in page.customers)
        found: EmailFilter = "insensitive" if seen else "exact"
        traits.learn(email_filter=found)
        return found
    return None
