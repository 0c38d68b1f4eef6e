"""The HTTP client of Shopgate's auth, customer and segmentation services.

``ShopgateClient`` owns one ``httpx.Client`` (one connection pool, HTTP/1.1) and is safe to use
from many threads at once. Every call goes through one loop: take the current token, send,
then act on ``decide()`` (see ``segwidgets._retry``): return, wait and send again, sign in again
once after a 401 (one sign-in for all threads that saw it), or raise a typed error from
``segwidgets._errors`` carrying the failure's ``outcome`` (refused, lost or rejected) from the
same table. Redirects are never followed, and a redirect to another origin raises
``InsecureURLError``, so the token only ever goes to the configured hosts.

Nothing here logs or raises a query string, a header, a secret or a raw email address: calls are
named by method and path only (``segwidgets._http_log``).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx

from ._auth import Token, TokenCache, TokenGrant, oauth_error_code, read_token_grant, token_request
from ._config import check_url_is_safe
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsecureURLError,
    PagingError,
    PayloadTooLargeError,
    error_class_for_status,
)
from ._http_log import call_name, install_httpx_log_filter, log_attempt
from ._http_log import logger as http_logger
from ._item_errors import ItemError, parse_item_errors
from ._privacy import mask_emails_in
from ._retry import RetryBudget, RetryPolicy, backoff, classify, decide, parse_retry_after
from ._traits import DEFAULT_PAGE_SIZE, ServerTraits

if TYPE_CHECKING:
    from types import TracebackType

    from ._config import Credentials
    from ._retry import Decision

__all__ = ["ClientStats", "CustomerPage", "MemberPage", "ShopgateClient"]

_Service = Literal["segmentation", "customer"]
_SERVICES: tuple[str, ...] = ("auth", "customer", "segmentation")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MASK = "**********"
_MAX_SERVER_MESSAGE = 300
_USER_AGENT = "segwidgets"
# A 401 leads to one sign-in per request. Before it, a request may take (once) a token another
# thread fetched meanwhile, which can itself be refused if it expired while this request was
# in flight; so at most three sends per request end in a 401, and never two sign-ins.
_MAX_REAUTHS = 2
#: Cursor pages of ``customers/{id}/segments`` read at most (a customer is in few segments).
_MAX_CURSOR_PAGES = 100
#: Nested validation messages put into an error message at most.
_MAX_DETAILS = 5
#: "Value 1000 is greater than maximum 100", "must be <= 100", "at most 100"...
_MAXIMUM = re.compile(
    r"(?:maximum(?: is| of)?|max(?:imum)?\s*[:=]|<=|at most|less than or equal to)\s*(\d+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MemberPage:
    """One page of a segment's members.

    ``members`` as the server sent them (``{"id", "type"}``, any type), ``total`` from
    ``meta.totalItemCount`` (None if absent), ``next_cursor`` from ``meta.cursors.next``
    (or ``.after``) when the server pages by cursor, ``offset`` where this page starts
    when it pages by offset (None for a cursor page after the first).
    """

    members: list[dict[str, Any]]
    total: int | None
    next_cursor: str | None
    offset: int | None = 0
    #: the ``limit`` the page was read with (smaller than asked after a 400 naming ``limit``
    #: or a ``meta.limit`` that cut a full page)
    limit: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class CustomerPage:
    """One page of customers; ``total`` is ``meta.totalItemCount`` (or what was seen so far)."""

    customers: list[dict[str, Any]]
    total: int
    #: the ``limit`` the page was read with (smaller than asked after a 400 naming ``limit``)
    limit: int = DEFAULT_PAGE_SIZE


@dataclass
class ClientStats:
    """Thread-safe counters of what a client sent.

    ``n_requests`` counts API requests sent (retries and replays included, sign-ins not);
    ``n_retries`` the requests sent again (after a retryable failure or a new sign-in);
    ``n_reauths`` the sign-ins forced by a 401; ``n_token_requests`` the requests sent to the
    token endpoint; ``by_route`` the API requests per ``(method, route name)``;
    ``n_paused`` the waits of a request for the pause another one started after a 429.
    """

    n_requests: int = 0
    n_retries: int = 0
    n_reauths: int = 0
    n_token_requests: int = 0
    n_paused: int = 0
    _by_route: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _seconds: float = field(default=0.0, repr=False)
    _n_timed: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def by_route(self) -> dict[tuple[str, str], int]:
        """API requests sent per ``(method, route name)``, e.g. ``("POST", "members.add")``."""
        with self._lock:
            return dict(self._by_route)

    def mean_latency(self) -> float | None:
        """Mean seconds an API request took (answered or not), None before the first one."""
        with self._lock:
            return self._seconds / self._n_timed if self._n_timed else None

    def snapshot(self) -> dict[str, Any]:
        """All counters at one instant, as a plain dict."""
        with self._lock:
            return {
                "n_requests": self.n_requests,
                "n_retries": self.n_retries,
                "n_reauths": self.n_reauths,
                "n_token_requests": self.n_token_requests,
                "n_paused": self.n_paused,
                "by_route": dict(self._by_route),
                "mean_latency": self._seconds / self._n_timed if self._n_timed else None,
            }

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.n_requests = self.n_retries = self.n_reauths = self.n_token_requests = 0
            self.n_paused = 0
            self._by_route.clear()
            self._seconds = 0.0
            self._n_timed = 0

    def _record_request(self, method: str, route: str, *, is_retry: bool) -> None:
        with self._lock:
            self.n_requests += 1
            self.n_retries += is_retry
            key = (method, route)
            self._by_route[key] = self._by_route.get(key, 0) + 1

    def _record_latency(self, seconds: float) -> None:
        with self._lock:
            self._seconds += max(seconds, 0.0)
            self._n_timed += 1

    def _record_pause(self) -> None:
        with self._lock:
            self.n_paused += 1

    def _record_token_request(self) -> None:
        with self._lock:
            self.n_token_requests += 1

    def _record_reauth(self) -> None:
        with self._lock:
            self.n_reauths += 1


class _SendAgain(Exception):  # noqa: N818 - a signal to the send loop, never raised to callers
    """Raised inside an attempt to make the send loop wait ``wait`` seconds and send again."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass
class _Call:
    """One logical request: what to send and how far it got."""

    method: str
    url: str
    route: str
    build: Callable[[Token | None], httpx.Request]
    is_token_call: bool = False
    attempt: int = 0
    #: Re-authentications after a 401: taking a token another thread fetched, or signing in.
    n_reauths: int = 0
    #: Whether this request signed in itself after a 401 (it may only do so once).
    signed_in: bool = False
    #: The ids a member write sent, in order (to map an item error's index to its id).
    item_ids: Sequence[str] | None = None
    #: The end of the client's rate-limit pause this call already waited for (or set).
    paused_until: float = 0.0

    @cached_property
    def name(self) -> str:
        """``GET /v1/merchants/M/segments``: how messages and logs name the call (worked out
        only when a message or a log line needs it)."""
        return call_name(self.method, self.url)

    @property
    def path(self) -> str:
        return self.name.partition(" ")[2]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


class ShopgateClient:
    """Talks to one merchant's Shopgate services (or a local sandbox).

    ``transport`` replaces the network (tests pass ``httpx.MockTransport``); ``sleep``,
    ``clock`` and ``rng`` make waiting, token expiry and jitter controllable in tests.
    Use it as a context manager, or call ``close()``.

    ``stats.by_route`` names the routes ``segments.list``, ``segments.get``,
    ``segments.create``, ``segments.update``, ``segments.delete``, ``segments.clone``,
    ``members.list``, ``members.add``, ``members.remove``, ``customer.segments``,
    ``customers.list`` and ``customers.get``.

    ``traits`` (a ``ServerTraits``, new if not given) is what is known of this server: list
    calls ask for ``traits.page_size`` items unless told otherwise, and a 400 that names
    ``limit`` teaches it the largest page (the page is then sent again, once, smaller).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_connections: int = 16,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        traits: ServerTraits | None = None,
    ) -> None:
        for url in (credentials.token_url, *map(credentials.service_url, _SERVICES)):
            check_url_is_safe(url)
        self.credentials = credentials
        self.stats = ClientStats()
        self.traits = traits if traits is not None else ServerTraits()
        self._policy = retry if retry is not None else RetryPolicy()
        self._budget = RetryBudget.from_policy(self._policy)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._tokens = TokenCache(self._fetch_token, clock=clock)
        #: when the pause after a 429 ends (clock time): no request of any thread goes out
        #: before it
        self._paused_until = 0.0
        self._pause_lock = threading.Lock()
        install_httpx_log_filter()
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            http1=True,
            http2=False,
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
            # A local sandbox is reached directly, never through a proxy from the environment.
            trust_env=not credentials.is_sandbox,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._policy

    @property
    def retry_budget(self) -> RetryBudget:
        """The retry budget shared by every request of this client."""
        return self._budget

    @property
    def is_closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._http.is_closed

    def close(self) -> None:
        """Close the connection pool. The client cannot send afterwards."""
        self._http.close()

    def __enter__(self) -> ShopgateClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ShopgateClient(merchant_code={self.credentials.merchant_code!r}, "
            f"url_template={self.credentials.url_template!r}, closed={self.is_closed})"
        )

    # -- segmentation service ----------------------------------------------------------------------

    def list_segments(self, *, page_size: int | None = None) -> list[dict[str, Any]]:
        """Every segment of the merchant, walking the offset pages (``traits.page_size`` a
        page unless ``page_size`` says otherwise)."""
        size = page_size or self.traits.page_size
        segments: list[dict[str, Any]] = []
        offset = 0
        previous: list[dict[str, Any]] | None = None
        while True:
            response, size = self._list_get(
                "segmentation",
                "segments",
                route="segments.list",
                params={"limit": size, "offset": offset},
            )
            body = _json_object(response)
            page = _list_of_objects(body, "segments", response)
            meta = _meta(body)
            total = _int_or_none(meta.get("totalItemCount"))
            size = self._learn_page_limit(meta, size, len(page), offset, total)
            if page and page == previous:
                raise _paging_error(response, "the next offset page repeated the previous one")
            segments.extend(page)
            offset += len(page)
            if not page or (total is not None and offset >= total):
                return segments
            if total is None and len(page) < size:
                return segments
            previous = page

    def get_segment(self, code: str) -> dict[str, Any]:
        """The segment object (``code``, ``name``, ``status``, ``type``, ``memberCount``...)."""
        response = self._get("segmentation", "segments", code, route="segments.get")
        body = _json_object(response)
        segment = body.get("segment", body)
        if not isinstance(segment, dict):
            raise _shape_error(response, "a segment object")
        return segment

    def create_segment(
        self,
        code: str,
        name: str,
        *,
        description: str = "",
        status: str = "active",
        type: str = "fixed",
    ) -> None:
        """Create a segment (409 ``ConflictError`` if the code exists)."""
        segment = {
            "code": code,
            "name": name,
            "description": description,
            "type": type,
            "status": status,
        }
        self._write(
            "POST",
            "segmentation",
            "segments",
            route="segments.create",
            body={"segments": [segment]},
        )

    def update_segment(self, code: str, **fields: Any) -> None:
        """Change some fields of a segment, e.g. ``update_segment("vip", name="VIP")``."""
        self._write("POST", "segmentation", "segments", code, route="segments.update", body=fields)

    def delete_segment(self, code: str) -> None:
        """Delete a segment."""
        self._write("DELETE", "segmentation", "segments", code, route="segments.delete")

    def clone_segment(self, code: str, new_code: str) -> None:
        """Copy a segment (with its members) under ``new_code``."""
        self._write(
            "POST",
            "segmentation",
            "segments",
            code,
            "clone",
            route="segments.clone",
            body={"newSegmentCode": new_code},
        )

    def member_pages(
        self, code: str, *, page_size: int | None = None
    ) -> Generator[MemberPage, None, None]:
        """The segment's members page by page (every type: customers and devices).

        Pages by ``offset`` (Shopgate's documented way); when an answer carries a cursor
        (``meta.cursors.next`` or ``.after``) it is followed instead, sent back as
        ``cursor``. Reading stops at an empty page, a page shorter than asked (unless the
        total says the server just serves smaller pages), or the last cursor page; never
        at ``totalItemCount`` alone, which may leave out members still listed.

        Raises ``PagingError`` when the pages cannot be walked: no cursor and the next
        offset page repeats the previous one (or the server refuses ``offset``), or a cursor
        comes back twice.
        """
        size = page_size or self.traits.page_size
        offset = 0
        cursor: str | None = None
        seen: set[str] = set()
        previous_ids: list[Any] | None = None
        while True:
            params: dict[str, Any] = {"limit": size}
            if cursor is not None:
                params["cursor"] = cursor
            elif offset:
                params["offset"] = offset
            try:
                response, size = self._list_get(
                    "segmentation", "segments", code, "members", route="members.list", params=params
                )
            except BadRequestError as exc:
                if cursor is None and offset and _names_param(exc, "offset"):
                    raise _not_understood(exc, code) from exc
                raise
            body = _json_object(response)
            members = _list_of_objects(body, "members", response)
            meta = _meta(body)
            total = _int_or_none(meta.get("totalItemCount"))
            size = self._learn_page_limit(meta, size, len(members), offset, total)
            next_cursor = _next_cursor(meta)
            ids = [m.get("id") for m in members]
            if cursor is None and offset:
                if ids and ids == previous_ids:
                    raise _paging_error(
                        response,
                        "the answers carry no cursor and the page at the next offset repeated "
                        "the first one, so Shopgate's paging was not understood",
                    )
                self.traits.learn(member_paging="offset")
            yield MemberPage(
                members=members,
                total=total,
                next_cursor=next_cursor,
                offset=None if cursor is not None else offset,
                limit=size,
            )
            if not members:
                return
            if next_cursor is not None:
                if next_cursor in seen:
                    raise _paging_error(response, "a cursor came back that was already followed")
                seen.add(next_cursor)
                cursor = next_cursor
                self.traits.learn(member_paging="cursor")
                continue
            if cursor is not None:
                return
            offset += len(members)
            # A full page is never taken as the last one, even when the offset reaches
            # ``totalItemCount``: a total that leaves out members still listed (pending
            # deletes) would otherwise hide the last of them. It costs one empty page when
            # the count is a multiple of the page size.
            if len(members) < size:
                if total is None or offset >= total:
                    return
                # Fewer than asked while the total says there is more: the server's pages
                # are smaller than asked; walk on at its size.
                size = len(members)
            previous_ids = ids

    def member_page(
        self,
        code: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> MemberPage:
        """One offset page of a segment's members (``limit`` defaults to
        ``traits.page_size``; ``filters`` travel as JSON in the ``filters`` parameter).

        For readers that fetch offset pages concurrently (``segwidgets._live``) and for
        lookups of given ids. ``MemberPage.limit`` is the limit the page was read with.
        """
        size = limit or self.traits.page_size
        params: dict[str, Any] = {"limit": size}
        if offset:
            params["offset"] = offset
        if filters is not None:
            params["filters"] = json.dumps(dict(filters), separators=(",", ":"))
        response, size = self._list_get(
            "segmentation", "segments", code, "members", route="members.list", params=params
        )
        body = _json_object(response)
        members = _list_of_objects(body, "members", response)
        meta = _meta(body)
        total = _int_or_none(meta.get("totalItemCount"))
        size = self._learn_page_limit(meta, size, len(members), offset, total)
        next_cursor = _next_cursor(meta)
        if offset and next_cursor is None:
            self.traits.learn(member_paging="offset")
        return MemberPage(
            members=members,
            total=total,
            next_cursor=next_cursor,
            offset=offset,
            limit=size,
        )

    def members_among(
        self, code: str, ids: Sequence[str], *, chunk: int | None = None
    ) -> set[str] | None:
        """Which of ``ids`` are customer members of the segment, by
        ``filters={"id": {"$in": [...]}}`` on the member list, one request per ``chunk``
        ids (default and at most ``traits.page_size``).

        None when this Shopgate does not filter members by ``$in``: a 400 that names
        ``filters``, or an answer naming an id that was not asked for (the filter was
        ignored). ``traits.in_on_id`` records what was learnt; when it is already False
        nothing is sent.
        """
        if self.traits.in_on_id is False:
            return None
        size = min(chunk or self.traits.page_size, self.traits.page_size)
        asked = [str(i) for i in ids]
        present: set[str] = set()
        for start in range(0, len(asked), size):
            part = asked[start : start + size]
            wanted = set(part)
            try:
                page = self.member_page(code, limit=size, filters={"id": {"$in": part}})
            except BadRequestError as exc:
                if _names_param(exc, "filters"):
                    self.traits.learn(in_on_id=False)
                    return None
                raise
            found = {str(m.get("id")) for m in page.members}
            if not found <= wanted or len(page.members) > len(part):
                self.traits.learn(in_on_id=False)
                return None
            present.update(
                str(m.get("id"))
                for m in page.members
                if m.get("type", "customer") in ("customer", None)
            )
        if asked:
            self.traits.learn(in_on_id=True)
        return present

    def add_members(
        self, code: str, ids: Sequence[str], *, member_type: str = "customer"
    ) -> list[ItemError]:
        """Add members to a fixed segment in one request (nothing is sent for no ids).

        Returns the items Shopgate refused in its 2xx answer (``[]`` when it applied all).
        """
        return self._member_write("POST", "members.add", code, ids, member_type)

    def remove_members(
        self, code: str, ids: Sequence[str], *, member_type: str = "customer"
    ) -> list[ItemError]:
        """Remove members in one DELETE with a JSON body; the server applies it later (202).

        Returns the items Shopgate refused in its 2xx answer (``[]`` when it took all).
        """
        return self._member_write("DELETE", "members.remove", code, ids, member_type)

    def _member_write(
        self, method: str, route: str, code: str, ids: Sequence[str], member_type: str
    ) -> list[ItemError]:
        body = _members_body(ids, member_type)
        if body is None:
            return []
        removing = method == "DELETE"
        try:
            response = self._write(
                method, "segmentation", "segments", code, "members", route=route, body=body,
                item_ids=ids,
            )  # fmt: skip
        except BadRequestError as exc:
            if _too_many_items(exc):
                # A batch over the server's maximum, told as a validation error of the
                # body: the same as a 413 to the caller, who splits the batch.
                raise PayloadTooLargeError(
                    exc.message,
                    status_code=exc.status_code,
                    method=exc.method,
                    path=exc.path,
                    outcome=exc.outcome,
                    param_name=exc.param_name,
                    details=exc.details,
                ) from exc
            absent = _not_members(exc.item_errors, ids) if removing else set()
            if not absent or any(e.id not in absent for e in exc.item_errors):
                raise
            # Rejected whole only because some ids are not members: they are where a
            # removal wants them; the rest goes out once more on its own.
            rest = [i for i in ids if i not in absent]
            return self._member_write(method, route, code, rest, member_type) if rest else []
        refused = self._scrub_items(_item_errors_of(response, ids))
        if removing:
            # A removal of an id that is not a member is done, whether the server says
            # nothing (the usual no-op) or names it.
            absent = _not_members(refused, ids)
            refused = [e for e in refused if e.id not in absent]
        return refused

    def customer_segments(self, customer_id: str) -> list[dict[str, Any]]:
        """The segments a customer is a member of, following cursor pages
        (``meta.cursors.next`` or ``.after``, sent back as ``cursor``) up to a bound."""
        segments: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_CURSOR_PAGES):
            response = self._get(
                "segmentation",
                "customers",
                customer_id,
                "segments",
                route="customer.segments",
                params=None if cursor is None else {"cursor": cursor},
            )
            body = _json_object(response)
            page = _list_of_objects(body, "segments", response)
            segments.extend(page)
            next_cursor = _next_cursor(_meta(body))
            if next_cursor is None or not page:
                return segments
            if next_cursor in seen:
                raise _paging_error(response, "a cursor came back that was already followed")
            seen.add(next_cursor)
            cursor = next_cursor
        name = call_name("GET", self._url("segmentation", "customers", "…", "segments"))
        msg = (
            f"{name} gave more than {_MAX_CURSOR_PAGES} cursor pages; stopped reading. "
            "The paging of this call was not understood: report it to the segwidgets team."
        )
        raise PagingError(msg, method="GET", path=name.partition(" ")[2])

    # -- customer service ------------------------------------------------------------------------

    def customer_page(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> CustomerPage:
        """One page of customers; ``filters`` travel as JSON in the ``filters`` parameter.

        ``limit`` defaults to ``traits.page_size``. After a 400 naming ``limit`` the page is
        read again, smaller: ``CustomerPage.limit`` says which limit the page was read with.
        """
        params: dict[str, Any] = {"limit": limit or self.traits.page_size, "offset": offset}
        if filters is not None:
            params["filters"] = json.dumps(dict(filters), separators=(",", ":"))
        response, size = self._list_get(
            "customer", "customers", route="customers.list", params=params
        )
        body = _json_object(response)
        customers = _list_of_objects(body, "customers", response)
        meta = _meta(body)
        total = _int_or_none(meta.get("totalItemCount"))
        size = self._learn_page_limit(meta, size, len(customers), offset, total)
        return CustomerPage(
            customers=customers,
            total=total if total is not None else offset + len(customers),
            limit=size,
        )

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        """One customer (``id``, ``emailAddress``, ``isAnonymous``, ``status``...)."""
        response = self._get("customer", "customers", customer_id, route="customers.get")
        body = _json_object(response)
        customer = body.get("customer", body)
        if not isinstance(customer, dict):
            raise _shape_error(response, "a customer object")
        return customer

    # -- sending ---------------------------------------------------------------------------------

    def _url(self, service: _Service, *parts: str) -> str:
        path = "/".join(quote(str(part), safe="") for part in parts)
        return f"{self.credentials.service_url(service)}/{path}"

    def _get(
        self,
        service: _Service,
        *parts: str,
        route: str,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        return self._api_call("GET", self._url(service, *parts), route=route, params=params)

    def _list_get(
        self,
        service: _Service,
        *parts: str,
        route: str,
        params: dict[str, Any],
    ) -> tuple[httpx.Response, int]:
        """A list call, and the ``limit`` it was answered with.

        A 400 that names ``limit`` shrinks the page (to the maximum the message names, else
        to 100), records it in ``traits`` and sends the page once more.
        """
        limit = int(params["limit"])
        try:
            return self._get(service, *parts, route=route, params=params), limit
        except BadRequestError as exc:
            smaller = _smaller_limit(exc, limit)
            if smaller is None:
                raise
        self.traits.learn(page_limit=smaller)
        retried = self._get(service, *parts, route=route, params={**params, "limit": smaller})
        return retried, smaller

    def _learn_page_limit(
        self, meta: Mapping[str, Any], asked: int, n_items: int, offset: int, total: int | None
    ) -> int:
        """The page size to go on with: ``meta.limit`` when the server cut a full page to it
        (a last page, shorter anyway, teaches nothing)."""
        granted = _int_or_none(meta.get("limit"))
        more = total is None or offset + n_items < total
        if granted is not None and 0 < granted < asked and n_items == granted and more:
            self.traits.learn(page_limit=granted)
            return granted
        return asked

    def _write(
        self,
        method: str,
        service: _Service,
        *parts: str,
        route: str,
        body: Any = None,
        item_ids: Sequence[str] | None = None,
    ) -> httpx.Response:
        return self._api_call(
            method, self._url(service, *parts), route=route, body=body, item_ids=item_ids
        )

    def _api_call(
        self,
        method: str,
        url: str,
        *,
        route: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        item_ids: Sequence[str] | None = None,
    ) -> httpx.Response:
        """Send one API call; ``body`` is a JSON value or bytes already encoded as JSON.

        ``item_ids``: the ids a member write sent, in order, so that an error naming an item
        only by its index names its id."""
        # Encoded once, not again for each attempt; member writes come already encoded.
        content = body if body is None or isinstance(body, bytes) else _json_bytes(body)
        headers = None if content is None else {"Content-Type": "application/json"}

        def build(token: Token | None) -> httpx.Request:
            request = self._http.build_request(
                method, url, params=params, content=content, headers=headers
            )
            if token is not None:
                request.headers["Authorization"] = "Bearer " + token.value.get_secret_value()
            return request

        return self._send(
            _Call(method=method, url=url, route=route, build=build, item_ids=item_ids)
        )

    def _fetch_token(self) -> TokenGrant:
        call = _Call(
            method="POST",
            url=self.credentials.token_url,
            route="token",
            build=lambda _token: token_request(self.credentials),
            is_token_call=True,
        )
        return read_token_grant(self._send(call))

    def _send(self, call: _Call) -> httpx.Response:
        """The send loop: attempt, and after a ``_SendAgain`` wait (the injected ``sleep``)
        and attempt again. ``decide()`` and the retry budget bound the attempts."""
        check_url_is_safe(call.url)
        while True:
            try:
                return self._attempt(call)
            except _SendAgain as again:
                self._sleep(again.wait)

    @property
    def paused_for(self) -> float:
        """Seconds left of the pause after a 429 (0 when requests may go out)."""
        with self._pause_lock:
            until = self._paused_until
        return max(until - self._clock(), 0.0)

    def _pause(self, call: _Call, wait: float) -> None:
        """A 429: no request of this client goes out for ``wait`` seconds (the call that
        met it waits through its own retry)."""
        with self._pause_lock:
            until = max(self._paused_until, self._clock() + wait)
            self._paused_until = until
        call.paused_until = until

    def _wait_pause(self, call: _Call) -> None:
        """Wait out a pause another call started after a 429 (once per pause). The call
        that started a pause ends it when it sends again, its own wait over."""
        with self._pause_lock:
            until = self._paused_until
            if until and until == call.paused_until:
                self._paused_until = until = 0.0
        if until <= call.paused_until:
            return
        call.paused_until = until
        left = until - self._clock()
        if left > 0:
            log_attempt(call.name, 429, call.attempt, next_step=f"paused {left:.2f} s")
            self.stats._record_pause()
            self._sleep(left)

    def _attempt(self, call: _Call) -> httpx.Response:
        call.attempt += 1
        self._wait_pause(call)
        token = None if call.is_token_call else self._tokens.current()
        request = call.build(token)
        if call.is_token_call:
            self.stats._record_token_request()
        else:
            self.stats._record_request(call.method, call.route, is_retry=call.attempt > 1)
        started = self._clock()
        try:
            response = self._http.send(request)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if not call.is_token_call:
                self.stats._record_latency(self._clock() - started)
            raise self._after_failure(call, exc) from exc
        if not call.is_token_call:
            self.stats._record_latency(self._clock() - started)
        return self._after_answer(call, request, response, token)

    def _after_answer(
        self, call: _Call, request: httpx.Request, response: httpx.Response, token: Token | None
    ) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            self._budget.record_success()
            if http_logger.isEnabledFor(logging.DEBUG):
                log_attempt(call.name, status, call.attempt, next_step="done")
            return response
        if 300 <= status < 400:
            log_attempt(call.name, status, call.attempt, next_step="redirect not followed")
            raise self._redirect_error(call, request, response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        decision = decide(
            call.method,
            status,
            call.attempt,
            policy=self._policy,
            reauthenticated=call.signed_in or call.n_reauths >= _MAX_REAUTHS,
            idempotent=True if call.is_token_call else None,
            retry_after=retry_after,
        )
        reason = decision.reason
        if decision.action == "reauth" and token is not None:
            log_attempt(call.name, status, call.attempt, next_step="signing in again")
            call.n_reauths += 1
            self.stats._record_reauth()
            _, call.signed_in = self._tokens.refresh(stale=token)
            raise _SendAgain(0.0)
        if decision.action == "retry":
            if not decision.spends_budget or self._budget.try_spend():
                wait = backoff(
                    call.attempt, retry_after=retry_after, policy=self._policy, rng=self._rng
                )
                log_attempt(call.name, status, call.attempt, next_step=f"retry in {wait:.2f} s")
                if status == 429:
                    # Shopgate pushed back: every thread of this client waits with this call.
                    self._pause(call, wait)
                raise _SendAgain(wait)
            reason = "the retry budget of this client is used up"
        log_attempt(call.name, status, call.attempt, next_step=f"raise ({reason})")
        raise self._status_error(
            call, response, reason=reason, decision=decision, retry_after=retry_after
        )

    def _after_failure(self, call: _Call, exc: Exception) -> Exception:
        decision = decide(
            call.method,
            exc,
            call.attempt,
            policy=self._policy,
            idempotent=True if call.is_token_call else None,
        )
        reason = decision.reason
        if decision.action == "retry":
            if self._budget.try_spend():
                wait = backoff(call.attempt, retry_after=None, policy=self._policy, rng=self._rng)
                log_attempt(call.name, exc, call.attempt, next_step=f"retry in {wait:.2f} s")
                return _SendAgain(wait)
            reason = "the retry budget of this client is used up"
        log_attempt(call.name, exc, call.attempt, next_step=f"raise ({reason})")
        detail = self._scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        if decision.may_have_applied:
            advice = (
                "The request may have gone out and its answer was lost, so Shopgate may or may "
                "not have applied it. Re-read the segment before sending it again."
            )
        elif decision.action == "retry" or decision.exhausted:
            advice = (
                f"Gave up after {call.attempt} attempt(s): {reason}. "
                "Check the network and base_url, then try again."
            )
        else:
            advice = "Check base_url and the network settings."
        message = f"{call.name} got no answer ({detail}). {advice}"
        return cls(message, method=call.method, path=call.path, outcome=decision.outcome or "lost")

    def _redirect_error(
        self, call: _Call, request: httpx.Request, response: httpx.Response
    ) -> Exception:
        location = response.headers.get("Location")
        target: httpx.URL | None = None
        if location:
            try:
                target = request.url.join(location)
            except (httpx.InvalidURL, ValueError):
                target = None
        if target is not None and _origin(target) != _origin(request.url):
            return InsecureURLError(
                f"{call.name} was redirected to another host ({target.host or 'unknown'}). "
                "segwidgets never follows redirects, so no credentials or token went there. "
                "Check base_url: it must point at the service itself."
            )
        return APIStatusError(
            f"{call.name} answered HTTP {response.status_code} (a redirect), which segwidgets "
            "does not follow. Check base_url: it must point at the service itself.",
            status_code=response.status_code,
            method=call.method,
            path=call.path,
            outcome=classify(response.status_code) or "rejected",
        )

    def _status_error(
        self,
        call: _Call,
        response: httpx.Response,
        *,
        reason: str,
        decision: Decision,
        retry_after: float | None,
    ) -> APIStatusError:
        status = response.status_code
        may_have_applied = decision.may_have_applied
        cls = error_class_for_status(status) if status >= 400 else APIStatusError
        item_errors: list[ItemError] = []
        param_name: str | None = None
        details: list[str] = []
        if call.is_token_call:
            code = oauth_error_code(response)
            if status in (400, 401):
                cls = AuthenticationError
                advice = (
                    "Shopgate refused the sign-in"
                    + (f" ({code})" if code else "")
                    + ". Check the merchant code, client id, client secret, username and password."
                )
            else:
                advice = _advice(
                    status, reason=reason, attempts=call.attempt, may_have_applied=may_have_applied
                )
            headline = f"The sign-in ({call.name}) failed with HTTP {status}"
        else:
            server_message, item_errors, param_name, details = self._error_body(
                response, call.item_ids
            )
            advice = _advice(
                status, reason=reason, attempts=call.attempt, may_have_applied=may_have_applied
            )
            headline = f"{call.name} failed with HTTP {status}"
            if server_message:
                headline += f": {server_message.rstrip('.')}"
            extra = [d for d in details if d not in server_message]
            if param_name and param_name not in server_message:
                extra.insert(0, f"parameter {param_name}")
            if extra:
                headline += f" ({'; '.join(e.rstrip('.') for e in extra)})"
            if item_errors:
                advice = f"{len(item_errors)} item error(s) in .item_errors. {advice}"
        return cls(
            f"{headline}. {advice}",
            status_code=status,
            method=call.method,
            path=call.path,
            outcome=decision.outcome or "lost",
            item_errors=item_errors,
            retry_after=retry_after,
            param_name=param_name,
            details=details,
        )

    def _error_body(
        self, response: httpx.Response, item_ids: Sequence[str] | None = None
    ) -> tuple[str, list[ItemError], str | None, list[str]]:
        """The server's message, its item errors, the parameter a validation error names
        and the nested validation messages of an error body (all scrubbed)."""
        try:
            body = json.loads(response.content)
        except ValueError:
            return "", [], None, []
        if not isinstance(body, dict):
            return "", [], None, []
        message = body.get("message")
        text = self._scrub(message[:_MAX_SERVER_MESSAGE]) if isinstance(message, str) else ""
        items = self._scrub_items(parse_item_errors(body, item_ids))
        param, raw_details = _validation_detail(body)
        details = [self._scrub(d[:_MAX_SERVER_MESSAGE]) for d in raw_details]
        return text, items, None if param is None else self._scrub(param), details

    def _scrub_items(self, items: list[ItemError]) -> list[ItemError]:
        return [
            ItemError(
                id=None if e.id is None else self._scrub(e.id),
                index=e.index,
                code=self._scrub(e.code),
                reason=self._scrub(e.reason),
            )
            for e in items
        ]

    def _scrub(self, text: str) -> str:
        """Mask emails, and any credential or token the server might have echoed."""
        secrets = [
            self.credentials.client_secret.get_secret_value(),
            self.credentials.password.get_secret_value(),
        ]
        token = self._tokens.peek()
        if token is not None:
            secrets.append(token.value.get_secret_value())
        for secret in secrets:
            if secret:
                text = text.replace(secret, _MASK)
        return mask_emails_in(text)

    # -- raw reads -------------------------------------------------------------------------------

    def raw_get(
        self, service: _Service, *parts: str, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """One GET sent once, its answer returned whatever the status (no retry, no error).

        For probes that must read the bodies of 4xx answers, which the other methods turn
        into errors (``segwidgets doctor``). Signs in first if needed (a refused sign-in
        raises ``AuthenticationError``); no answer at all raises ``APIConnectionError``.
        """
        url = self._url(service, *parts)
        check_url_is_safe(url)
        request = self._http.build_request("GET", url, params=params)
        token = self._tokens.current()
        request.headers["Authorization"] = "Bearer " + token.value.get_secret_value()
        self.stats._record_request("GET", "raw", is_retry=False)
        started = self._clock()
        try:
            response = self._http.send(request)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            path = "/".join(parts)
            msg = f"GET {path} got no answer ({type(exc).__name__}). Check the network and retry."
            raise APIConnectionError(
                msg, method="GET", path=path, outcome=classify(exc) or "lost"
            ) from exc
        finally:
            self.stats._record_latency(self._clock() - started)
        response.read()
        return response


def _advice(status: int, *, reason: str, attempts: int, may_have_applied: bool) -> str:
    if status == 400:
        return "Shopgate rejected the request's content; the message says which field."
    if status == 401:
        return (
            "The token was refused even right after a fresh sign-in. Check that the API "
            "credentials are still valid and belong to this merchant."
        )
    if status == 403:
        return "The credentials are not allowed to do this for this merchant; ask a Shopgate admin."
    if status == 404:
        return "Check the segment code or customer id, and the merchant code."
    if status == 409:
        return "It conflicts with what exists already; re-read it and send only what is missing."
    if status == 413:
        return "The request is too large for the server; send smaller batches."
    if status == 422:
        return "Shopgate understood the request but rejected its content."
    if status == 429:
        return (
            f"Shopgate kept refusing for too many requests after {attempts} attempt(s) ({reason}). "
            "Wait a while, then run again; nothing was applied by the refused requests."
        )
    if may_have_applied:
        return (
            "The server failed while handling the write; it may or may not have been applied. "
            "Re-read the segment before sending it again."
        )
    if status >= 500:
        return (
            f"The server kept failing after {attempts} attempt(s) ({reason}). "
            "Shopgate may be down; try again later."
        )
    return "Shopgate did not accept the request."


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        raise _shape_error(response, "JSON") from None
    if not isinstance(body, dict):
        raise _shape_error(response, "a JSON object")
    return body


def _meta(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("meta")
    return meta if isinstance(meta, dict) else {}


def _list_of_objects(
    body: Mapping[str, Any], key: str, response: httpx.Response
) -> list[dict[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or not all(map(isinstance, items, repeat(dict))):
        raise _shape_error(response, f"a list of objects in {key!r}")
    return items


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _is_plain_json_text(text: str) -> bool:
    """True if ``text`` stands in a JSON string as it is: no quote, backslash or control
    character (nor any other unprintable one, to be safe)."""
    return text.isprintable() and '"' not in text and "\\" not in text


def _members_body(ids: Sequence[str], member_type: str) -> bytes | None:
    """``{"members": [{"id": ..., "type": ...}, ...]}`` as JSON bytes (None for no ids).

    Ids and types that need no escaping in JSON are joined into the body directly,
    several times faster than encoding a thousand small objects; anything else goes through
    ``json.dumps``. Both give the same JSON value.
    """
    if isinstance(ids, str):
        msg = "ids must be a sequence of member ids, not a single string."
        raise TypeError(msg)
    if not ids:
        return None
    texts = list(map(str, ids))
    if _is_plain_json_text("".join(texts)) and _is_plain_json_text(member_type):
        item_end = f'","type":"{member_type}"}}'
        body = '{"members":[{"id":"' + (item_end + ',{"id":"').join(texts) + item_end + "]}"
        return body.encode("utf-8")
    members = [{"id": t, "type": member_type} for t in texts]
    return json.dumps({"members": members}, separators=(",", ":")).encode("ascii")


def _shape_error(response: httpx.Response, expected: str) -> APIError:
    name = call_name(response.request.method, response.request.url)
    return APIError(
        f"{name} answered HTTP {response.status_code} without {expected} in the body. "
        "Check that base_url points at Shopgate (or a segwidgets sandbox).",
        method=response.request.method,
        path=name.partition(" ")[2],
    )


def _paging_error(response: httpx.Response, what: str) -> PagingError:
    name = call_name(response.request.method, response.request.url)
    return PagingError(
        f"{name}: {what}; stopped reading instead of returning part of the list. The paging "
        "of this Shopgate was not understood: report it to the segwidgets team.",
        method=response.request.method,
        path=name.partition(" ")[2],
    )


def _not_understood(exc: BadRequestError, code: str) -> PagingError:
    return PagingError(
        f"The members of segment {code!r} come in more than one page, but the answers carry "
        f"no cursor and Shopgate refused the offset of the next page ({exc.message}). The "
        "paging of this Shopgate was not understood: report it to the segwidgets team.",
        method=exc.method,
        path=exc.path,
    )


def _next_cursor(meta: Mapping[str, Any]) -> str | None:
    """``meta.cursors.next`` (or ``.after``) of a cursor page, None when there is none."""
    cursors = meta.get("cursors")
    if not isinstance(cursors, dict):
        return None
    raw = cursors.get("next")
    if raw in (None, ""):
        raw = cursors.get("after")
    return None if raw in (None, "") or isinstance(raw, (dict, list)) else str(raw)


def _validation_detail(body: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """``error.paramName`` and the nested messages of a validation error body."""
    details: list[str] = []
    param: str | None = None
    error = body.get("error")
    if isinstance(error, dict):
        raw_param = error.get("paramName")
        param = raw_param if isinstance(raw_param, str) and raw_param else None
        results = error.get("results")
        nested = results.get("errors") if isinstance(results, dict) else None
        details.extend(
            entry["message"]
            for entry in (nested if isinstance(nested, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("message"), str)
        )
    info = body.get("additionalInfo")
    validation = info.get("validationErrors") if isinstance(info, dict) else None
    for entry in validation if isinstance(validation, list) else []:
        if isinstance(entry, str):
            details.append(entry)
        elif isinstance(entry, dict):
            text = entry.get("message") or entry.get("reason")
            field_name = entry.get("field") or entry.get("path") or entry.get("paramName")
            if isinstance(text, str):
                details.append(f"{field_name}: {text}" if isinstance(field_name, str) else text)
    return param, list(dict.fromkeys(details))[:_MAX_DETAILS]


def _names_param(exc: BadRequestError, name: str) -> bool:
    """Whether a validation error is about the parameter ``name``."""
    if exc.param_name is not None:
        return exc.param_name == name
    word = re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
    return any(word.search(d) for d in exc.details) or bool(
        word.search(exc.message.partition(" failed with HTTP ")[2])
    )


def _smaller_limit(exc: BadRequestError, sent: int) -> int | None:
    """The page size to try after a 400, None if it was not about ``limit`` or cannot shrink."""
    if not _names_param(exc, "limit"):
        return None
    named = [int(m) for text in exc.details for m in _MAXIMUM.findall(text)]
    named += [int(m) for m in _MAXIMUM.findall(exc.message)]
    maximum = min((n for n in named if n > 0), default=None)
    smaller = maximum if maximum is not None else DEFAULT_PAGE_SIZE
    return smaller if smaller < sent else None


#: Item error codes that say an id of a removal is not a member of the segment.
_NOT_A_MEMBER = frozenset({"notMember", "notAMember", "memberNotFound"})
#: Nested validation messages that say an array holds more items than the server takes.
_TOO_MANY_ITEMS = re.compile(r"\bArray is too long\b|\bARRAY_LENGTH_LONG\b|\bmaxItems\b")


def _not_members(errors: Sequence[ItemError], ids: Sequence[str]) -> set[str]:
    """The ids of a removal the server named as not being members."""
    in_batch = set(ids)
    return {
        e.id for e in errors if e.code in _NOT_A_MEMBER and e.id is not None and e.id in in_batch
    }


def _too_many_items(exc: BadRequestError) -> bool:
    """Whether a 400 says the batch has more items than the server takes."""
    return not exc.item_errors and any(_TOO_MANY_ITEMS.search(d) for d in exc.details)


def _item_errors_of(response: httpx.Response, ids: Sequence[str]) -> list[ItemError]:
    """The refused items in a 2xx answer to a member write (``[]`` for an empty body)."""
    content = response.content
    if not content.strip():
        return []
    try:
        body = json.loads(content)
    except ValueError:
        return []
    return parse_item_errors(body, [str(i) for i in ids])
