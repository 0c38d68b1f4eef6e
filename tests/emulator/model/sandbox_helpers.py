"""Helpers of the sandbox model tests (imported by the tests and their conftest)."""

from __future__ import annotations

import base64
from typing import Any

from segwidgets.sandbox import SandboxModel, _requests, _wire
from segwidgets.sandbox._service_error import ServiceError
from segwidgets.sandbox._settings import EmailFilter
from segwidgets.sandbox._tokens import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from segwidgets.sandbox._wire import error_answer, member_page


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def basic(client_id: str = SANDBOX_CLIENT_ID, secret: str = SANDBOX_CLIENT_SECRET) -> str:
    """An HTTP Basic header value."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def password_form(**overrides: str) -> dict[str, str]:
    """The form of a password grant with the default sandbox credentials."""
    form = {
        "grant_type": "password",
        "username": "api@sandbox.example",
        "password": "sandbox-password",
        "tenantType": "merchant",
        "tenantId": "DEMO",
    }
    form.update(overrides)
    return form


def members(*ids: str, kind: str = "customer") -> dict[str, Any]:
    """A member write body."""
    return {"members": [{"id": i, "type": kind} for i in ids]}


def list_members(
    model: SandboxModel,
    code: str,
    *,
    limit: int | None = None,
    offset: int | None = None,
    cursor: str | None = None,
    filters: Any = None,
) -> dict[str, Any]:
    """``GET segments/{code}/members`` as its answer dict, shaped by the model's knobs."""
    given = {"offset": offset, "cursor": cursor}
    return member_page(
        model,
        code,
        limit=limit,
        offset=offset,
        cursor=cursor,
        filters=filters,
        given=frozenset(name for name, value in given.items() if value is not None),
    )


class Api:
    """The model driven with raw request values (query values, JSON bodies), through the
    request layer and the wire layer as the routes drive it, without HTTP.

    Errors come out as the HTTP adapter tells them (``_wire.error_answer``).
    """

    def __init__(self, model: SandboxModel) -> None:
        self.model = model

    def _told(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except ServiceError as problem:
            raise error_answer(self.model.settings, problem, sign_in=False) from None

    def list_customers(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        filters: Any = None,
        email_match: EmailFilter = "exact",
    ) -> dict[str, Any]:
        """``GET customers`` as the model answers it (no page maximum: that is ``_wire``'s)."""
        return self.model.list_customers(
            page=_requests.page(limit, offset),
            filter=_requests.customer_filter(filters),
            email_match=email_match,
        )

    def list_segments(
        self, *, limit: int | None = None, offset: int | None = None, filters: Any = None
    ) -> dict[str, Any]:
        return self.model.list_segments(
            page=_requests.page(limit, offset), filters=_requests.segment_filter(filters)
        )

    def create_segments(self, body: Any) -> None:
        self._told(_wire.create_segments, self.model, body)

    def update_segment(self, code: str, body: Any) -> None:
        self.model.get_segment(code)
        self.model.update_segment(code, _requests.segment_update(body))

    def clone_segment(self, code: str, body: Any) -> None:
        self.model.get_segment(code)
        self.model.clone_segment(code, _requests.new_segment_code(body))

    def add_members(
        self, code: str, body: Any, *, all_or_nothing: bool | None = None
    ) -> list[dict[str, Any]]:
        """``POST members``: the refused items (``all_or_nothing`` overrides the switch)."""
        return self._write(code, body, add=True, all_or_nothing=all_or_nothing)

    def remove_members(
        self, code: str, body: Any, *, all_or_nothing: bool | None = None
    ) -> list[dict[str, Any]]:
        """``DELETE members``: the refused items (``all_or_nothing`` overrides the switch)."""
        return self._write(code, body, add=False, all_or_nothing=all_or_nothing)

    def _write(
        self, code: str, body: Any, *, add: bool, all_or_nothing: bool | None
    ) -> list[dict[str, Any]]:
        saved = self.model.settings
        if all_or_nothing is not None:
            self.model.configure(refused_items="400" if all_or_nothing else "2xx-body")
        try:
            answer = self._told(_wire.write_members, self.model, code, body, add=add)
        finally:
            self.model.configure(refused_items=saved.refused_items)
        return [] if answer is None else list(answer["errors"])

    def add_members_by_filter(self, code: str, body: Any) -> None:
        _wire.add_by_filter(self.model, code, body)

    def members_search(
        self, *, rules: Any, limit: int | None = None, offset: int | None = None
    ) -> dict[str, Any]:
        return self.model.members_search(
            _requests.search_rule(rules), page=_requests.page(limit, offset)
        )
