"""The request layer: query parameters, JSON envelopes and member items become typed values.

What moto's ``responses.py`` does for its models: every check of *how a request is written*
lives here (is ``limit`` an integer, is ``filters`` JSON naming known fields, is the body
``{"members": [...]}``, is each item ``{"id": <str>, "type": "customer"}``), and a problem
is the sandbox's 400 (``invalidParameter``, ``invalidBody``, ``invalidField``,
``invalidRules``). What is left for the model is typed: ``Page``, ``CustomerFilter``,
``MemberFilter``, ``MemberItems``, ``NewSegment``, ``SegmentUpdate``, a ``Rule``.

Nothing here reads the behaviour switches: where a switch shapes a request (``filter_in``,
``max_page_size``, ``max_members_per_request``) the wire layer (``_wire``) decides first.
Imports go one way: the routes and ``_wire`` call this module; the model imports only its
input types from here (and ``new_segments`` for ``seed_records``, the JSON door of tests
and ``/_sandbox/seed``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._rules import Rule, parse_rule
from ._seed import CODE_STATUS
from ._segments import SEGMENT_STATUSES, SEGMENT_TYPES
from ._service_error import ServiceError, item_error

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_INT",
    "CustomerFilter",
    "MemberFilter",
    "MemberItems",
    "NewSegment",
    "Page",
    "SegmentUpdate",
    "check_code",
    "customer_filter",
    "filter_rule",
    "invalid_param",
    "member_filter",
    "member_items",
    "new_segment_code",
    "new_segments",
    "page",
    "parse_int",
    "parse_json_param",
    "search_rule",
    "segment_filter",
    "segment_update",
]

#: Page size of list calls that come without ``limit``.
DEFAULT_LIMIT = 100
#: Largest ``limit`` or ``offset`` accepted (the spec says so too).
MAX_INT = 2**31 - 1

_CUSTOMER_FILTERS = frozenset(
    {"id", "emailAddress", "externalCustomerNumber", "isAnonymous", "status"}
)
_SEGMENT_FILTERS = frozenset({"code", "name", "type", "status"})
_MEMBER_FILTERS = frozenset({"id", "type"})
#: Customer filter fields that take ``{"$in": [...]}`` at all (``_wire`` decides which of
#: them a server allows).
_IN_FIELDS = frozenset({"id", "emailAddress"})
#: The keys a member item may have.
_ITEM_KEYS = frozenset({"id", "type"})
_MEMBER_SHAPE = 'A member is {"id": "<customer id>", "type": "customer"}.'

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NEW_FIELDS = frozenset(
    {"code", "name", "description", "type", "status", "rules", "externalUpdateDate", "members"}
)
_UPDATE_FIELDS = frozenset({"name", "description", "status", "rules", "externalUpdateDate"})
#: Most segments one ``POST segments`` may create.
_MAX_NEW_SEGMENTS = 100


def invalid_param(name: str, message: str) -> ServiceError:
    """The sandbox's 400 for a query parameter it cannot use."""
    return ServiceError(400, "invalidParameter", f"Query parameter {name}: {message}")


# -- query parameters ----------------------------------------------------------------------
def parse_int(query: Mapping[str, str], name: str) -> int | None:
    """An integer query parameter, or ``None`` when absent; junk is a 400."""
    raw = query.get(name)
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


def parse_json_param(query: Mapping[str, str], name: str) -> Any:
    """A query parameter holding JSON (``filters``, ``rules``), or ``None`` when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ServiceError(
            400, "invalidParameter", f"Query parameter {name} must be URL-encoded JSON."
        ) from None


@dataclass(frozen=True)
class Page:
    """An offset page: at most ``limit`` items from position ``offset``."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


def page(limit: int | None, offset: int | None) -> Page:
    """The page a list call asks for (``limit`` already checked by ``_wire.page_limit``)."""
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit < 1:
        raise invalid_param("limit", "must be >= 1.")
    if offset is None:
        offset = 0
    if offset < 0:
        raise invalid_param("offset", "must be >= 0.")
    return Page(limit=limit, offset=offset)


# -- filters -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerFilter:
    """``GET customers?filters=``: each field given is one value or the values of ``$in``."""

    ids: frozenset[str] | None = None
    emails: frozenset[str] | None = None
    external_number: str | None = None
    status: str | None = None
    is_anonymous: bool | None = None


def _in_values(name: str, value: Mapping[str, Any]) -> list[str]:
    """The values of ``{"$in": [...]}`` (strings only), or a 400."""
    values = value.get("$in")
    if set(value) != {"$in"} or not isinstance(values, list):
        raise invalid_param("filters", f'{name} takes a string or {{"$in": [strings]}}.')
    if not all(isinstance(v, str) for v in values):
        raise invalid_param("filters", f"the $in list of {name} must hold strings.")
    return values


def _wanted(value: Any) -> frozenset[str]:
    """The values a filter field accepts: one string, or those of its ``$in``."""
    return frozenset(value["$in"]) if isinstance(value, Mapping) else frozenset({value})


def customer_filter(filters: Any) -> CustomerFilter:
    """The customer filter of a ``filters`` parameter (``None``: no filter)."""
    if filters is None:
        return CustomerFilter()
    if not isinstance(filters, Mapping):
        raise invalid_param("filters", "must be a JSON object.")
    unknown = sorted(set(filters) - _CUSTOMER_FILTERS)
    if unknown:
        raise invalid_param(
            "filters",
            f"unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_CUSTOMER_FILTERS))}.",
        )
    for name, value in filters.items():
        if name == "isAnonymous":
            if not isinstance(value, bool):
                raise invalid_param("filters", "isAnonymous must be true or false.")
        elif name in _IN_FIELDS and isinstance(value, Mapping):
            _in_values(name, value)
        elif not isinstance(value, str):
            raise invalid_param("filters", f"{name} must be a string.")
    if "status" in filters and filters["status"] not in CODE_STATUS:
        raise invalid_param("filters", "status must be active, inactive or deleted.")
    return CustomerFilter(
        ids=_wanted(filters["id"]) if "id" in filters else None,
        emails=_wanted(filters["emailAddress"]) if "emailAddress" in filters else None,
        external_number=filters.get("externalCustomerNumber"),
        status=filters.get("status"),
        is_anonymous=filters.get("isAnonymous"),
    )


def segment_filter(filters: Any) -> dict[str, str]:
    """``GET segments?filters=``: equality on ``code``, ``name``, ``type``, ``status``."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise invalid_param("filters", "must be a JSON object.")
    unknown = sorted(set(filters) - _SEGMENT_FILTERS)
    if unknown:
        raise invalid_param(
            "filters",
            f"unknown key(s) {', '.join(unknown)}; use code, name, type or status.",
        )
    if any(not isinstance(v, str) for v in filters.values()):
        raise invalid_param("filters", "values must be strings.")
    if filters.get("type", "fixed") not in SEGMENT_TYPES:
        raise invalid_param("filters", "type must be fixed or dynamic.")
    if filters.get("status", "active") not in SEGMENT_STATUSES:
        raise invalid_param("filters", "status must be active or inactive.")
    return dict(filters)


@dataclass(frozen=True)
class MemberFilter:
    """``GET segments/{code}/members?filters=``: member ids (one or ``$in``) and a type."""

    ids: frozenset[str] | None = None
    type: str | None = None


def member_filter(filters: Any) -> MemberFilter | None:
    """The member filter of a ``filters`` parameter (``None``: no filter)."""
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise invalid_param("filters", "must be a JSON object.")
    unknown = sorted(set(filters) - _MEMBER_FILTERS)
    if unknown:
        raise invalid_param("filters", f"unknown key(s) {', '.join(unknown)}; use id or type.")
    kind = filters.get("type")
    if "type" in filters and kind not in ("customer", "device"):
        raise invalid_param("filters", "type must be customer or device.")
    ids = None
    if "id" in filters:
        value = filters["id"]
        if isinstance(value, Mapping):
            _in_values("id", value)
        elif not isinstance(value, str):
            raise invalid_param("filters", "id must be a string.")
        ids = _wanted(value)
    return MemberFilter(ids=ids, type=kind)


# -- member writes -------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberItems:
    """The items of a member write: the id of each (``None`` where malformed) and the
    per-item errors of those that are not ``{"id": <str>, "type": "customer"}``."""

    ids: list[str | None]
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def customer_ids(self) -> list[str]:
        """The ids, for a batch without errors."""
        return [i for i in self.ids if i is not None]


def member_items(body: Any) -> MemberItems:
    """The ``members`` of a write body ``{"members": [...]}`` (400 unless a non-empty list)."""
    if not isinstance(body, Mapping) or set(body) != {"members"}:
        raise ServiceError(
            400,
            "invalidBody",
            'The body must be {"members": [{"id": "<customer id>", "type": "customer"}]}.',
        )
    return _items(body["members"])


def _items(items: Any) -> MemberItems:
    if not isinstance(items, list) or not items:
        raise ServiceError(400, "invalidBody", "'members' must be a non-empty list.")
    ids: list[str | None] = []
    errors: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        # dict first: a batch holds up to 1,000 items, and the ABC's check is the slow one
        is_object = isinstance(item, (dict, Mapping))
        member_id = item.get("id") if is_object else None
        kind = item.get("type") if is_object else None
        well_formed = (
            is_object
            and isinstance(member_id, str)
            and isinstance(kind, str)
            and item.keys() <= _ITEM_KEYS
        )
        if not well_formed:
            shown = member_id if isinstance(member_id, str) else None
            errors.append(item_error(position, shown, "invalidMember", _MEMBER_SHAPE))
            ids.append(None)
        elif kind != "customer":
            errors.append(
                item_error(
                    position, member_id, "invalidMemberType", "Member type must be 'customer'."
                )
            )
            ids.append(None)
        else:
            ids.append(member_id)
    return MemberItems(ids=ids, errors=errors)


# -- segments ------------------------------------------------------------------------------
def _invalid(message: str) -> ServiceError:
    return ServiceError(400, "invalidField", message)


def check_code(code: object, *, name: str = "code") -> str:
    """A segment code: 1-64 letters, digits, ``_``, ``.``, ``-``, not starting with a sign."""
    if not isinstance(code, str) or not _CODE_RE.match(code):
        msg = (
            f"Segment {name} must be 1-64 characters of letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )
        raise _invalid(msg)
    return code


def _check_text(data: Mapping[str, Any], name: str, *, required: bool, limit: int) -> None:
    if name not in data:
        if required:
            raise _invalid(f"Segment field {name} is required.")
        return
    value = data[name]
    if required and (not isinstance(value, str) or not value):
        raise _invalid(f"Segment field {name} must be a non-empty string.")
    if value is not None and not isinstance(value, str):
        raise _invalid(f"Segment field {name} must be a string.")
    if isinstance(value, str) and len(value) > limit:
        raise _invalid(f"Segment field {name} must be at most {limit} characters.")


def _check_common(data: Mapping[str, Any]) -> None:
    _check_text(data, "description", required=False, limit=2000)
    _check_text(data, "externalUpdateDate", required=False, limit=64)
    if "status" in data and data["status"] not in SEGMENT_STATUSES:
        raise _invalid("Segment status must be 'active' or 'inactive'.")


@dataclass(frozen=True)
class NewSegment:
    """One checked entry of ``POST segments``, defaults filled in."""

    code: str
    name: str
    description: str
    type: str
    status: str
    rules: Rule | None
    external_update_date: str | None
    #: The ``members`` given at creation (fixed segments), or ``None``.
    members: MemberItems | None


def _new_segment(data: object) -> NewSegment:
    if not isinstance(data, Mapping):
        raise _invalid("Each entry of 'segments' must be a JSON object.")
    unknown = sorted(set(data) - _NEW_FIELDS)
    if unknown:
        raise _invalid(f"Unknown segment field(s): {', '.join(unknown)}.")
    check_code(data.get("code"))
    _check_text(data, "name", required=True, limit=255)
    _check_common(data)
    kind = data.get("type", "fixed")
    if kind not in SEGMENT_TYPES:
        raise _invalid("Segment type must be 'fixed' or 'dynamic'.")
    rules: Rule | None = None
    if kind == "dynamic":
        if data.get("rules") is None:
            raise _invalid("A dynamic segment needs 'rules'.")
        rules = parse_rule(data["rules"])
        if "members" in data:
            raise ServiceError(
                400, "segmentNotFixed", "Members can only be given for a fixed segment."
            )
    elif data.get("rules") is not None:
        raise _invalid("A fixed segment has no 'rules'; its members are listed explicitly.")
    return NewSegment(
        code=data["code"],
        name=data["name"],
        description=data.get("description") or "",
        type=kind,
        status=data.get("status", "active"),
        rules=rules,
        external_update_date=data.get("externalUpdateDate"),
        members=_items(data["members"]) if "members" in data else None,
    )


def new_segments(body: Any) -> list[NewSegment]:
    """The entries of ``POST segments`` (``{"segments": [...]}``), each checked."""
    if not isinstance(body, Mapping) or set(body) != {"segments"}:
        raise ServiceError(400, "invalidBody", 'The body must be {"segments": [...]}.')
    entries = body["segments"]
    if not isinstance(entries, list) or not entries:
        raise ServiceError(400, "invalidBody", "'segments' must be a non-empty list.")
    if len(entries) > _MAX_NEW_SEGMENTS:
        raise ServiceError(400, "invalidBody", f"At most {_MAX_NEW_SEGMENTS} segments per request.")
    parsed = [_new_segment(e) for e in entries]
    codes = [p.code for p in parsed]
    if len(set(codes)) != len(codes):
        raise ServiceError(400, "invalidBody", "The same segment code is given twice.")
    return parsed


@dataclass(frozen=True)
class SegmentUpdate:
    """The checked fields of ``POST segments/{code}`` (a partial update).

    ``rules`` is the raw JSON (``None`` to clear): whether a segment may have rules is the
    model's call (fixed segments have none).
    """

    changes: dict[str, Any]


def segment_update(body: Any) -> SegmentUpdate:
    """The fields a partial segment update changes."""
    if not isinstance(body, Mapping):
        raise _invalid("The body must be a JSON object with the fields to change.")
    for name in ("code", "type"):
        if name in body:
            raise _invalid(f"Segment field {name} cannot be changed.")
    unknown = sorted(set(body) - _UPDATE_FIELDS)
    if unknown:
        raise _invalid(f"Unknown or read-only segment field(s): {', '.join(unknown)}.")
    if "name" in body:
        _check_text(body, "name", required=True, limit=255)
    _check_common(body)
    changes = {k: v for k, v in body.items() if k in _UPDATE_FIELDS}
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    return SegmentUpdate(changes)


def new_segment_code(body: Any) -> str:
    """``POST segments/{code}/clone``: the ``newSegmentCode`` of ``{"newSegmentCode": ...}``."""
    if not isinstance(body, Mapping) or set(body) != {"newSegmentCode"}:
        raise ServiceError(400, "invalidBody", 'The body must be {"newSegmentCode": "..."}.')
    return check_code(body["newSegmentCode"], name="newSegmentCode")


# -- rules ---------------------------------------------------------------------------------
def filter_rule(body: Any) -> Rule:
    """``POST segments/{code}/members/addByFilter``: the rule of ``{"filter": {...}}``."""
    if not isinstance(body, Mapping) or set(body) != {"filter"}:
        raise ServiceError(400, "invalidBody", 'The body must be {"filter": {...}}.')
    return parse_rule(body["filter"], what="filter")


def search_rule(rules: Any) -> Rule:
    """``GET membersSearch?rules=``: the rule set (required)."""
    if rules is None:
        raise ServiceError(400, "invalidParameter", "Query parameter rules is required.")
    return parse_rule(rules)
