"""The wire layer: where the emulated services choose among the ways Shopgate may behave.

The model (``_model``) keeps Shopgate's rules (who is a member, which ids are customers,
what a filter matches); the request layer (``_requests``) turns what a request carries into
typed values. Where no public source says how the real services answer, the switches of
``Settings`` decide, and they are read here and only here, once per request:

- ``max_page_size`` / ``page_limit_mode``: a ``limit`` over the maximum is a 400 with the
  platform's validation body, or the page is cut and ``meta.limit`` says so;
- ``member_paging``: members are read with ``offset`` (``meta.offset``) or ``cursor``
  (``meta.cursors.next``); the other parameter is a 400;
- ``total_counts_pending``: whether ``totalItemCount`` of members counts pending deletes;
- ``refused_items``: a member write naming unknown customers applies the rest and lists
  the refused items in its 201/202 body, or applies nothing and answers 400;
- ``delete_non_member``: a DELETE naming a customer that is not a member ignores it, or
  refuses that item like an unknown customer;
- ``max_members_per_request`` / ``oversize_status``: a larger member batch is a 400 with
  the platform's validation body naming the body, or a 413;
- ``email_filter`` / ``filter_in``: how ``emailAddress`` compares and where ``$in`` works;
- ``member_filter``: whether the member list applies its ``filters`` or ignores them;
- ``duplicate_add``, ``item_errors``: whether re-adding a member is a 409, and whether a
  rejected batch lists its items;
- ``signin_error``: the body of a refused sign-in (OAuth2's or the platform's).

Each public function serves one call: it takes the parsed query (or the JSON body) and
returns the answer body, going through ``_requests`` for the typed arguments of the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _requests
from ._cursor import decode_cursor, encode_cursor
from ._model import SandboxModel
from ._requests import DEFAULT_LIMIT, MemberItems
from ._service_error import ServiceError, members_rejected
from ._settings import Settings

__all__ = [
    "add_by_filter",
    "check_filters",
    "create_segments",
    "error_answer",
    "list_customers",
    "list_segments",
    "member_page",
    "members_search",
    "page_limit",
    "validation_error",
    "write_members",
]

#: OAuth2 errors of a sign-in refused for its credentials (not for a malformed request).
_REFUSED_SIGN_IN = frozenset({"invalid_client", "invalid_grant"})
#: Codes of errors that list a rejected batch's items (left out under ``item_errors=False``).
_ITEM_LISTS = frozenset({"invalidMembers", "alreadyMember"})


def validation_error(param: str, errors: list[dict[str, Any]]) -> ServiceError:
    """A 400 in the platform's request-validation shape, naming the parameter at fault."""
    message = f"Request validation failed: Parameter ({param}) failed schema validation"
    return ServiceError(
        400,
        "ValidationError",
        message,
        payload={
            "statusCode": 400,
            "code": "ValidationError",
            "message": message,
            "error": {
                "code": "SCHEMA_VALIDATION_FAILED",
                "message": message,
                "paramName": param,
                "results": {"errors": errors},
            },
        },
    )


def page_limit(settings: Settings, limit: int | None) -> int | None:
    """The page size to serve for ``limit`` (``None``: absent, the model's default).

    Over ``max_page_size``: a 400 naming ``limit`` (``reject``) or the maximum (``clamp``).
    Below 1: a 400 naming ``limit`` whatever the mode.
    """
    maximum = settings.max_page_size
    if limit is None:
        return min(DEFAULT_LIMIT, maximum)
    if limit < 1:
        raise validation_error(
            "limit",
            [{"code": "MINIMUM", "message": f"Value {limit} is less than minimum 1", "path": []}],
        )
    if limit <= maximum:
        return limit
    if settings.page_limit_mode == "clamp":
        return maximum
    raise validation_error(
        "limit",
        [
            {
                "code": "MAXIMUM",
                "message": f"Value {limit} is greater than maximum {maximum}",
                "path": [],
            }
        ],
    )


def check_filters(settings: Settings, filters: Any, *, in_fields: frozenset[str]) -> None:
    """Refuse ``{"$in": [...]}`` where this server does not take it (400 naming ``filters``).

    ``in_fields``: the fields of this call that may take ``$in`` at all; ``filter_in``
    allows ``id`` (``id``), every one of them (``all``) or none (``off``).
    """
    if not isinstance(filters, Mapping):
        return  # the model says what is wrong with it
    allowed = {"off": frozenset(), "id": in_fields & {"id"}, "all": in_fields}[settings.filter_in]
    for name, value in filters.items():
        if isinstance(value, Mapping) and name not in allowed:
            raise validation_error(
                "filters",
                [
                    {
                        "code": "INVALID_TYPE",
                        "message": f"Expected type string but found type object for {name}",
                        "path": [name],
                    }
                ],
            )


def _check_batch_size(settings: Settings, size: int, *, verb: str) -> None:
    """A member batch over ``max_members_per_request``: 400 (validation body) or 413."""
    limit = settings.max_members_per_request
    if size <= limit:
        return
    if settings.oversize_status == 400:
        raise validation_error(
            "body",
            [
                {
                    "code": "ARRAY_LENGTH_LONG",
                    "message": f"Array is too long ({size}), maximum {limit}",
                    "path": ["members"],
                }
            ],
        )
    raise ServiceError(
        413,
        "payloadTooLarge",
        f"A request may {verb} at most {limit} members; this one has {size}. "
        "Split it into smaller batches.",
    )


def _checked_items(settings: Settings, items: MemberItems, *, verb: str) -> list[str]:
    """The ids of a member batch that passed the size check and has no malformed item."""
    _check_batch_size(settings, len(items), verb=verb)
    if items.errors:
        raise members_rejected(items.errors, len(items))
    return items.customer_ids


def list_customers(
    model: SandboxModel, *, limit: int | None, offset: int | None, filters: Any
) -> dict[str, Any]:
    """``GET customers``, shaped by the current switches."""
    settings = model.settings
    check_filters(settings, filters, in_fields=frozenset({"id", "emailAddress"}))
    page = _requests.page(page_limit(settings, limit), offset)
    return model.list_customers(
        page=page,
        filter=_requests.customer_filter(filters),
        email_match=settings.email_filter,
    )


def list_segments(
    model: SandboxModel, *, limit: int | None, offset: int | None, filters: Any
) -> dict[str, Any]:
    """``GET segments``."""
    page = _requests.page(page_limit(model.settings, limit), offset)
    return model.list_segments(page=page, filters=_requests.segment_filter(filters))


def members_search(
    model: SandboxModel, *, rules: Any, limit: int | None, offset: int | None
) -> dict[str, Any]:
    """``GET membersSearch``."""
    rule = _requests.search_rule(rules)
    page = _requests.page(page_limit(model.settings, limit), offset)
    return model.members_search(rule, page=page)


def member_page(
    model: SandboxModel,
    code: str,
    *,
    limit: int | None,
    offset: int | None,
    cursor: str | None,
    filters: Any,
    given: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One page of ``GET segments/{code}/members`` in the paging style of the switches.

    ``given``: the query parameters the request carried (``offset`` under cursor paging and
    ``cursor`` under offset paging are unknown parameters, 400).
    """
    settings = model.settings
    style = settings.member_paging
    stray = "cursor" if style == "offset" else "offset"
    if stray in given:
        accepted = "limit, offset, filters" if style == "offset" else "limit, cursor, filters"
        raise ServiceError(
            400,
            "invalidParameter",
            f"Unknown query parameter(s): {stray}. This call takes {accepted}.",
        )
    if settings.member_filter == "ignored":
        filters = None
    check_filters(settings, filters, in_fields=frozenset({"id"}))
    page = _requests.page(page_limit(settings, limit), offset)
    wanted = _requests.member_filter(filters)
    if style == "offset":
        window = model.member_window(code, limit=page.limit, start=page.offset, filter=wanted)
    else:
        after = None if cursor is None else decode_cursor(cursor)
        window = model.member_window(code, limit=page.limit, after=after, filter=wanted)
    total = window.total if settings.total_counts_pending else window.total - window.pending
    meta: dict[str, Any] = {"limit": page.limit}
    if style == "offset":
        meta["offset"] = page.offset
    else:
        last = window.last if window.more else None
        meta["cursors"] = {"next": None if last is None else encode_cursor(last)}
    meta["totalItemCount"] = total
    members = [{"id": i, "type": "customer"} for i in window.customer_ids]
    members += [{"id": i, "type": "device"} for i in window.device_ids]
    return {"members": members, "meta": meta}


def write_members(model: SandboxModel, code: str, body: Any, *, add: bool) -> dict[str, Any] | None:
    """``POST``/``DELETE segments/{code}/members``: the answer body (``None``: empty).

    Refused items (unknown customers; with ``delete_non_member="item-error"``, customers
    that are not members of a DELETE) come back as ``{"errors": [...]}`` in the 2xx body,
    or, with ``refused_items="400"``, reject the batch.
    """
    settings = model.settings
    ids = _checked_items(settings, _requests.member_items(body), verb="add" if add else "remove")
    all_or_nothing = settings.refused_items == "400"
    if add:
        refused = model.add_members(
            code,
            ids,
            all_or_nothing=all_or_nothing,
            refuse_present=settings.duplicate_add == "conflict",
        )
    else:
        refused = model.remove_members(
            code,
            ids,
            all_or_nothing=all_or_nothing,
            refuse_absent=settings.delete_non_member == "item-error",
        )
    return {"errors": refused} if refused else None


def create_segments(model: SandboxModel, body: Any) -> None:
    """``POST segments``: members given at creation obey the member batch rules."""
    entries = _requests.new_segments(body)
    for entry in entries:
        if entry.members is not None:
            _checked_items(model.settings, entry.members, verb="add")
    model.create_segments(entries)


def add_by_filter(model: SandboxModel, code: str, body: Any) -> None:
    """``POST segments/{code}/members/addByFilter``: a filter lists at most
    ``max_members_per_request`` values (413)."""
    rule = _requests.filter_rule(body)
    limit = model.settings.max_members_per_request
    if rule.size > limit:
        raise ServiceError(
            413,
            "payloadTooLarge",
            f"A filter may list at most {limit} values; this one has {rule.size}. "
            "Split it into smaller batches.",
        )
    model.add_members_by_filter(code, rule)


def error_answer(settings: Settings, problem: ServiceError, *, sign_in: bool) -> ServiceError:
    """An error as this server tells it: a rejected batch without its item list under
    ``item_errors=False``; a sign-in refused for its credentials as the platform's 401 under
    ``signin_error="platform"``."""
    if problem.errors is not None and problem.code in _ITEM_LISTS and not settings.item_errors:
        return ServiceError(problem.status, problem.code, problem.message, headers=problem.headers)
    if sign_in and settings.signin_error == "platform" and problem.oauth_error in _REFUSED_SIGN_IN:
        return ServiceError(
            401,
            "Unauthorized",
            "Unauthorized",
            payload={"statusCode": 401, "code": "Unauthorized", "message": "Unauthorized"},
        )
    return problem
