"""The wire layer: where the emulated services choose among the ways Shopgate may behave.

The model keeps Shopgate's rules (who is a member, which ids are customers, what a filter
matches). Where no public source says how the real services answer, the knobs of
``Settings`` decide, and they are read here and only here, once per request:

- ``max_page_size`` / ``page_limit_mode``: a ``limit`` over the maximum is a 400 with the
  platform's validation body, or the page is cut and ``meta.limit`` says so;
- ``member_paging``: members are read with ``offset`` (``meta.offset``) or ``cursor``
  (``meta.cursors.next``); the other parameter is a 400;
- ``total_counts_pending``: whether ``totalItemCount`` of members counts pending deletes;
- ``refused_items``: a member write naming unknown customers applies the rest and lists
  the refused items in its 201/202 body, or applies nothing and answers 400;
- ``email_filter`` / ``filter_in``: how ``emailAddress`` compares and where ``$in`` works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._answers import MemberPage
from ._cursor import decode_cursor, encode_cursor
from ._model import DEFAULT_LIMIT, SandboxModel
from ._service_error import ServiceError
from ._settings import Settings

__all__ = [
    "check_filters",
    "list_customers_json",
    "member_page",
    "page_limit",
    "validation_error",
    "write_members",
]


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
    A ``limit`` below 1 is left to the model, which refuses it.
    """
    maximum = settings.max_page_size
    if limit is None:
        return min(DEFAULT_LIMIT, maximum)
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


def list_customers_json(
    model: SandboxModel,
    *,
    limit: int | None,
    offset: int | None,
    filters: Any,
) -> bytes:
    """``GET customers`` as JSON bytes, shaped by the current knobs."""
    settings = model.settings
    check_filters(settings, filters, in_fields=frozenset({"id", "emailAddress"}))
    return model.list_customers_json(
        limit=page_limit(settings, limit),
        offset=offset,
        filters=filters,
        email_match=settings.email_filter,
    )


def member_page(
    model: SandboxModel,
    code: str,
    *,
    limit: int | None,
    offset: int | None,
    cursor: str | None,
    filters: Any,
    given: frozenset[str] = frozenset(),
) -> MemberPage:
    """One page of ``GET segments/{code}/members`` in the paging style of the knobs.

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
    check_filters(settings, filters, in_fields=frozenset({"id"}))
    served = page_limit(settings, limit)
    if style == "offset":
        window = model.member_window(code, limit=served, start=offset, filters=filters)
    else:
        after = None if cursor is None else decode_cursor(cursor)
        window = model.member_window(code, limit=served, after=after, filters=filters)
    total = window.total if settings.total_counts_pending else window.total - window.pending
    meta: dict[str, Any] = {"limit": served}
    if style == "offset":
        meta["offset"] = 0 if offset is None else offset
    else:
        last = window.last if window.more else None
        meta["cursors"] = {"next": None if last is None else encode_cursor(last)}
    meta["totalItemCount"] = total
    return MemberPage(ids=window.customer_ids, meta=meta, device_ids=window.device_ids)


def write_members(model: SandboxModel, code: str, body: Any, *, add: bool) -> dict[str, Any] | None:
    """``POST``/``DELETE segments/{code}/members``: the answer body (``None``: empty).

    Refused items (unknown customers) come back as ``{"errors": [...]}`` in the 2xx body,
    or, with ``refused_items="400"``, reject the batch.
    """
    all_or_nothing = model.settings.refused_items == "400"
    if add:
        refused = model.add_members(code, body, all_or_nothing=all_or_nothing)
    else:
        refused = model.remove_members(code, body, all_or_nothing=all_or_nothing)
    return {"errors": refused} if refused else None
