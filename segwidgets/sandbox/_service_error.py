"""``ServiceError``: an error answer of the emulated services, raised by every layer.

Every error the sandbox sends has the JSON body
``{"message": "...", "code": "...", "errors": [...]}`` (``errors`` only when there are
per-item errors to list), but for the platform's request validation errors, whose body is
given whole (``payload``, see ``_wire.validation_error``). The token endpoint adds the
OAuth2 fields ``error`` and ``error_description``. ``item_error`` and ``members_rejected``
build the per-item errors of member writes and the 400 of a batch rejected whole, for the
request layer (malformed items) and the model (unknown customers) alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._privacy import mask_emails_in

__all__ = ["ServiceError", "item_error", "members_rejected"]


class ServiceError(Exception):
    """An HTTP error answer: status, machine-readable code, message, optional item errors."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        oauth_error: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        message = mask_emails_in(message)  # messages never carry an email address
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = [dict(e) for e in errors] if errors is not None else None
        self.headers = dict(headers or {})
        self.oauth_error = oauth_error
        #: A whole body in another shape (the platform's validation errors), sent as is.
        self.payload = dict(payload) if payload is not None else None

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        if self.payload is not None:
            return dict(self.payload)
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        if self.oauth_error is not None:
            body["error"] = self.oauth_error
            body["error_description"] = self.message
        return body

    def __repr__(self) -> str:
        return f"ServiceError({self.status}, {self.code!r}, {self.message!r})"


def item_error(position: int, member_id: Any, code: str, reason: str) -> dict[str, Any]:
    """One per-item error in the platform's batch-route shape."""
    return {
        "code": code,
        "entity": "member",
        "entityId": member_id,
        "entityIndex": position,
        "reason": reason,
        "subentityPath": "",
    }


def members_rejected(errors: Sequence[Mapping[str, Any]], n_items: int) -> ServiceError:
    """The 400 of a member batch rejected whole: ``invalidMembers`` with its item errors in
    the order of the batch (``_wire`` leaves ``errors`` out under ``item_errors=False``)."""
    ordered = sorted(errors, key=lambda e: e["entityIndex"])
    return ServiceError(
        400,
        "invalidMembers",
        f"{len(ordered)} of {n_items} members were rejected; nothing was applied.",
        errors=ordered,
    )
