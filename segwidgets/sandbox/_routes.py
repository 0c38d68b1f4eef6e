"""The route table of the emulated services: which call goes to which handler.

A handler takes the model and a parsed ``Call`` and returns a ``Reply``; it knows nothing of
ASGI, so the table can be tested without sockets. Handlers read query parameters through
the request layer (``_requests``) and go through the wire layer (``_wire``) wherever the
behaviour switches shape a request or an answer; the rest call the model directly. Path
parameters use Starlette's syntax. One host serves every service:
``/{service}/v1/merchants/{merchantCode}/...`` with ``{service}`` in ``auth``, ``customer``,
``segmentation``; the token endpoint is ``/auth/oauth/token``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _wire
from ._faults import CallKind
from ._model import SandboxModel
from ._requests import new_segment_code, parse_int, parse_json_param, segment_update

__all__ = ["ROUTES", "Call", "Reply", "Route"]


@dataclass(frozen=True)
class Call:
    """One parsed request."""

    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    form: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names


@dataclass(frozen=True)
class Reply:
    """One answer; ``body=None`` sends no content."""

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
    #: ``json``: the body is parsed as JSON; ``form``: as ``x-www-form-urlencoded``.
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


def _token(model: SandboxModel, call: Call) -> Reply:
    body = model.issue_token(authorization=call.headers.get("authorization"), form=call.form)
    return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _offset_page(call: Call) -> dict[str, Any]:
    return {
        "limit": parse_int(call.query, "limit"),
        "offset": parse_int(call.query, "offset"),
        "filters": parse_json_param(call.query, "filters"),
    }


def _list_customers(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, _wire.list_customers(model, **_offset_page(call)))


def _get_customer(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, model.get_customer(call.params["customerId"]))


def _list_segments(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, _wire.list_segments(model, **_offset_page(call)))


def _create_segments(model: SandboxModel, call: Call) -> Reply:
    _wire.create_segments(model, call.body)
    return Reply(201)


def _get_segment(model: SandboxModel, call: Call) -> Reply:
    return Reply(200, model.get_segment(call.params["code"]))


def _update_segment(model: SandboxModel, call: Call) -> Reply:
    code = call.params["code"]
    model.get_segment(code)  # 404 for an unknown segment before the body is judged
    model.update_segment(code, segment_update(call.body))
    return Reply(204)


def _delete_segment(model: SandboxModel, call: Call) -> Reply:
    model.delete_segment(call.params["code"])
    return Reply(202)


def _clone_segment(model: SandboxModel, call: Call) -> Reply:
    code = call.params["code"]
    model.get_segment(code)  # 404 for an unknown source before the body is judged
    model.clone_segment(code, new_segment_code(call.body))
    return Reply(202)


def _list_members(model: SandboxModel, call: Call) -> Reply:
    return Reply(
        200,
        _wire.member_page(
            model,
            call.params["code"],
            limit=parse_int(call.query, "limit"),
            offset=parse_int(call.query, "offset"),
            cursor=call.query.get("cursor") or None,
            filters=parse_json_param(call.query, "filters"),
            given=frozenset(call.query),
        ),
    )


def _add_members(model: SandboxModel, call: Call) -> Reply:
    return Reply(201, _wire.write_members(model, call.params["code"], call.body, add=True))


def _remove_members(model: SandboxModel, call: Call) -> Reply:
    return Reply(202, _wire.write_members(model, call.params["code"], call.body, add=False))


def _add_by_filter(model: SandboxModel, call: Call) -> Reply:
    _wire.add_by_filter(model, call.params["code"], call.body)
    return Reply(202)


def _members_search(model: SandboxModel, call: Call) -> Reply:
    return Reply(
        200,
        _wire.members_search(
            model,
            rules=parse_json_param(call.query, "rules"),
            limit=parse_int(call.query, "limit"),
            offset=parse_int(call.query, "offset"),
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
        body="json",
        member_write=True,
    ),
    Route(
        "DELETE",
        f"{_S}/segments/{{code}}/members",
        _remove_members,
        "write",
        body="json",
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
