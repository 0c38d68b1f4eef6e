"""The route table of the emulated services: which call goes to which model method.

A handler takes the model and a parsed ``Call`` and returns a ``Reply``; it knows nothing of
ASGI, so the table can be tested without sockets. Path parameters use Starlette's syntax.
One host serves every service: ``/{service}/v1/merchants/{merchantCode}/...`` with
``{service}`` in ``auth``, ``customer``, ``segmentation``; the token endpoint is
``/auth/oauth/token``. Where the knobs shape a request or an answer, a handler goes
through ``_wire``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._faults import CallKind
from ._model import SandboxModel
from ._service_error import ServiceError
from ._wire import list_customers_json, member_page, page_limit, write_members

__all__ = [
    "MAX_INT",
    "ROUTES",
    "Call",
    "EncodedJson",
    "Reply",
    "Route",
    "parse_int",
    "parse_json_param",
]

#: Largest ``limit`` or ``offset`` accepted (the spec says so too).
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class Call:
    """One parsed request."""

    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    form: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names


@dataclass(frozen=True)
class EncodedJson:
    """An answer body that is already JSON bytes (the big list pages, see ``_answers``)."""

    data: bytes


@dataclass(frozen=True)
class Reply:
    """One answer; ``body=None`` sends no content, an ``EncodedJson`` body is sent as is."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[SandboxModel, Call], Reply]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path, what kind of call it is, and its handler."""

    method: str
    path: str
    handler: Handler
    kind: CallKind
    #: ``json``: the body is parsed as JSON; ``form``: as ``x-www-form-urlencoded``;
    #: ``members``: JSON that is tried as a plain member list first (``_member_body``).
    body: str = "none"
    #: Member writes are the calls whose answer ``lost_response_rate`` may drop.
    member_write: bool = False
    #: The query parameters the call accepts; any other is a 400 (catches typos).
    query: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``METHOD /path/{template}``: the key of request counters."""
        return f"{self.method} {self.path}"

    @property
    def needs_token(self) -> bool:
        """Every call but the token request needs a bearer token."""
        return self.kind != "token"


def parse_int(call: Call, name: str) -> int | None:
    """An integer query parameter, or ``None`` when absent; junk is a 400."""
    raw = call.query.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 12 or abs(int(text)) > MAX_INT:
        raise ServiceError(
            400,
            "invalidParameter",
            f"Query parameter {name} must be an integer from 0 to {MAX_INT}.",
        )
    return int(text)


def parse_json_param(call: Call, name: str) -> Any:
    """A query parameter holding JSON (``filters``, ``rules``), or ``None`` when absent."""
    raw = call.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ServiceError(
            400, "invalidParameter", f"Query parameter {name} must be URL-encoded JSON."
        ) from None


def _token(model: SandboxModel, call: Call) -> Reply:
    body = model.issue_token(authorization=call.headers.get("authorization"), form=call.form)
    return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _list_customers(model: SandboxModel, call: Call) -> Reply:
    return Reply(
        200,
        EncodedJson(
            list_customers_json(
                model,
                limit=parse_int(call, "limit"),
                offset=parse_int(call, "offset"),
                filters=parse_json_param(call, "filters"),
            )
        ),
    )


def _get_customer(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, model.get_customer(call.params["customerId"]))


def _list_segments(model: SandboxModel, call: Call) -> Reply:
    return Reply(
        200,
        model.list_segments(
            limit=page_limit(model.settings, parse_int(call, "limit")),
            offset=parse_int(call, "offset"),
            filters=parse_json_param(call, "filters"),
        ),
    )


def _create_segments(model: SandboxModel, call: Call) -> Reply:
    model.create_segments(call.body)
    return Reply(201)


def _get_segment(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, model.get_segment(call.params["code"]))


def _update_segment(model: SandboxModel, call: Call) -> Reply:
    model.update_segment(call.params["code"], call.body)
    return Reply(204)


def _delete_segment(model: SandboxModel, call: Call) -> Reply:
    model.delete_segment(call.params["code"])
    return Reply(202)


def _clone_segment(model: SandboxModel, call: Call) -> Reply:
    model.clone_segment(call.params["code"], call.body)
    return Reply(202)


def _list_members(model: SandboxModel, call: Call) -> Reply:
    return Reply(
        200,
        EncodedJson(
            member_page(
                model,
                call.params["code"],
                limit=parse_int(call, "limit"),
                offset=parse_int(call, "offset"),
                cursor=call.query.get("cursor") or None,
                filters=parse_json_param(call, "filters"),
                given=frozenset(call.query),
            ).to_json()
        ),
    )


def _add_members(model: SandboxModel, call: Call) -> Reply:
    return Reply(201, write_members(model, call.params["code"], call.body, add=True))


def _remove_members(model: SandboxModel, call: Call) -> Reply:
    return Reply(202, write_members(model, call.params["code"], call.body, add=False))


def _add_by_filter(model: SandboxModel, call: Call) -> Reply:
    model.add_members_by_filter(call.params["code"], call.body)
    return Reply(202)


def _members_search(model: SandboxModel, call: Call) -> Reply:
    rules = parse_json_param(call, "rules")
    if rules is None:
        raise ServiceError(400, "invalidParameter", "Query parameter rules is required.")
    return Reply(
        200,
        model.members_search(
            rules=rules,
            limit=page_limit(model.settings, parse_int(call, "limit")),
            offset=parse_int(call, "offset"),
        ),
    )


def _customer_segments(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, model.customer_segments(call.params["customerId"]))


_OFFSET_PAGES = ("limit", "offset", "filters")
_C = "/customer/v1/merchants/{merchantCode}"
_S = "/segmentation/v1/merchants/{merchantCode}"

#: Every API endpoint the sandbox serves.
ROUTES: tuple[Route, ...] = (
    Route("POST", "/auth/oauth/token", _token, "token", body="form"),
    Route("GET", f"{_C}/customers", _list_customers, "read", query=_OFFSET_PAGES),
    Route("GET", f"{_C}/customers/{{customerId}}", _get_customer, "read"),
    Route("GET", f"{_S}/segments", _list_segments, "read", query=_OFFSET_PAGES),
    Route("POST", f"{_S}/segments", _create_segments, "write", body="json"),
    Route("GET", f"{_S}/segments/{{code}}", _get_segment, "read"),
    Route("POST", f"{_S}/segments/{{code}}", _update_segment, "write", body="json"),
    Route("DELETE", f"{_S}/segments/{{code}}", _delete_segment, "write"),
    Route("POST", f"{_S}/segments/{{code}}/clone", _clone_segment, "write", body="json"),
    Route(
        "GET",
        f"{_S}/segments/{{code}}/members",
        _list_members,
        "read",
        query=("limit", "offset", "cursor", "filters"),
    ),
    Route(
        "POST",
        f"{_S}/segments/{{code}}/members",
        _add_members,
        "write",
        body="members",
        member_write=True,
    ),
    Route(
        "DELETE",
        f"{_S}/segments/{{code}}/members",
        _remove_members,
        "write",
        body="members",
        member_write=True,
    ),
    Route(
        "POST",
        f"{_S}/segments/{{code}}/members/addByFilter",
        _add_by_filter,
        "write",
        body="json",
        member_write=True,
    ),
    Route(
        "GET", f"{_S}/membersSearch", _members_search, "read", query=("rules", "limit", "offset")
    ),
    Route("GET", f"{_S}/customers/{{customerId}}/segments", _customer_segments, "read"),
)
