"""The thin HTTP adapter: a Starlette app that turns requests into ``Call``s for the routes.

It owns HTTP only: per API call, in this order, maybe inject a 429/5xx or a rate-limit
429, check the bearer token, refuse unknown query parameters, read the body (JSON or a
form), run the handler, tell an error the way the switches say (``_wire.error_answer``),
count it, and answer no sooner than ``latency`` after the call arrived (awaited, so
concurrent calls overlap; the sandbox's own work is part of that time), or for a member
write maybe drop the connection, after the change was applied. Control endpoints live under ``/_sandbox/`` (loopback clients only) and the
OpenAPI spec at ``/openapi.json``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from .._config import is_loopback_host
from .._errors import ConfigurationError
from ._model import SandboxModel
from ._routes import ROUTES, Call, Reply, Route
from ._service_error import ServiceError
from ._wire import error_answer

__all__ = ["ResponseDroppedError", "SandboxApp", "check_control_request", "openapi_spec"]

logger = logging.getLogger("segwidgets.sandbox")

_MAX_BODY = 32 * 1024 * 1024
_MAX_RESET_CUSTOMERS = 5_000_000

#: Drops the connection of the request whose scope is given (set by the server).
Dropper = Callable[[Scope], Awaitable[None]]


class ResponseDroppedError(Exception):
    """Raised instead of answering when no server can drop the connection (in-process use)."""


@cache
def _spec_text() -> str:
    return resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")


def openapi_spec() -> dict[str, Any]:
    """The hand-written OpenAPI spec of the sandbox (a fresh copy)."""
    spec: dict[str, Any] = json.loads(_spec_text())
    return spec


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _error(problem: ServiceError) -> Response:
    return _json(problem.status, problem.body(), problem.headers)


class SandboxApp:
    """The ASGI app of one sandbox: the API routes, the control routes and the spec."""

    def __init__(self, model: SandboxModel) -> None:
        self.model = model
        #: Requests served since the last reset: route name -> status (or "dropped") -> count.
        self.counters: dict[str, dict[str, int]] = {}
        self._counter_lock = threading.Lock()
        #: Set by the server so a lost response really closes the connection.
        self.drop_connection: Dropper | None = None
        #: API calls being served now, and the most at once since the last reset.
        self.in_flight = 0
        self.max_in_flight = 0
        by_path: dict[str, dict[str, Route]] = {}
        for route in ROUTES:
            by_path.setdefault(route.path, {})[route.method] = route
        routes = [
            StarletteRoute(path, _Resource(self, methods)) for path, methods in by_path.items()
        ]
        routes += [
            StarletteRoute("/openapi.json", self._openapi, methods=["GET"]),
            StarletteRoute("/_sandbox/state", self._state, methods=["GET"]),
            StarletteRoute("/_sandbox/reset", self._reset, methods=["POST"]),
            StarletteRoute("/_sandbox/seed", self._seed, methods=["POST"]),
            StarletteRoute("/_sandbox/settings", self._settings, methods=["POST"]),
            StarletteRoute("/_sandbox/faults", self._settings, methods=["POST"]),
            StarletteRoute(
                "/_sandbox/segments/{code}/members", self._segment_members, methods=["GET"]
            ),
        ]
        self._app = Starlette(
            routes=routes,
            exception_handlers={HTTPException: self._http_exception},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def count(self, name: str, status: int | str) -> None:
        """Add one request to the counters."""
        with self._counter_lock:
            by_status = self.counters.setdefault(name, {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    def state(self) -> dict[str, Any]:
        """The model's state plus the request counters."""
        state = self.model.state()
        with self._counter_lock:
            state["requests"] = {name: dict(c) for name, c in self.counters.items()}
        state["concurrency"] = {"inFlight": self.in_flight, "maxInFlight": self.max_in_flight}
        return state

    def reset(self, *, customers: int | None = None, seed: int | None = None) -> None:
        """Reset the model and the request counters."""
        self.model.reset(customers=customers, seed=seed)
        with self._counter_lock:
            self.counters.clear()
        self.max_in_flight = self.in_flight

    # -- generic handlers -----------------------------------------------------------------
    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if status == 405:
            problem = ServiceError(
                405, "methodNotAllowed", "This method is not allowed here.", headers=headers
            )
        elif status == 404:
            problem = ServiceError(404, "notFound", "There is no such endpoint.")
        else:
            problem = ServiceError(status, "httpError", "The request could not be served.")
        return _error(problem)

    async def _openapi(self, request: Request) -> Response:
        return Response(_spec_text(), media_type="application/json")

    # -- control endpoints ------------------------------------------------------------------
    async def _control_body(self, request: Request) -> dict[str, Any]:
        check_control_request(
            client=None if request.client is None else request.client.host,
            host=request.headers.get("host"),
            origin=request.headers.get("origin"),
        )
        raw = await request.body()
        if not raw.strip():
            return {}
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ServiceError(
                415,
                "unsupportedMediaType",
                "Control endpoints take JSON bodies: send Content-Type: application/json.",
            )
        try:
            body = json.loads(raw)
        except ValueError:
            raise ServiceError(400, "invalidJson", "The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ServiceError(400, "invalidBody", "The body must be a JSON object.")
        return body

    async def _control(
        self, request: Request, action: Callable[[dict[str, Any]], tuple[int, Any]]
    ) -> Response:
        try:
            body = await self._control_body(request)
            status, answer = action(body)
        except ServiceError as problem:
            return _error(problem)
        except (ConfigurationError, ValueError, TypeError) as exc:
            return _error(ServiceError(400, "invalidBody", str(exc)))
        return _json(status, answer)

    async def _state(self, request: Request) -> Response:
        return await self._control(request, lambda _: (200, self.state()))

    async def _reset(self, request: Request) -> Response:
        def action(body: dict[str, Any]) -> tuple[int, Any]:
            unknown = sorted(set(body) - {"customers", "seed"})
            if unknown:
                raise ServiceError(400, "invalidBody", f"Unknown field(s): {', '.join(unknown)}.")
            customers = body.get("customers")
            if customers is not None and (
                not isinstance(customers, int) or not 0 <= customers <= _MAX_RESET_CUSTOMERS
            ):
                msg = f"customers must be an integer from 0 to {_MAX_RESET_CUSTOMERS}."
                raise ServiceError(400, "invalidBody", msg)
            self.reset(customers=customers, seed=body.get("seed"))
            return 200, self.state()

        return await self._control(request, action)

    async def _seed(self, request: Request) -> Response:
        def action(body: dict[str, Any]) -> tuple[int, Any]:
            unknown = sorted(set(body) - {"customers", "segments"})
            if unknown:
                raise ServiceError(400, "invalidBody", f"Unknown field(s): {', '.join(unknown)}.")
            customers = body.get("customers", [])
            segments = body.get("segments", [])
            if not isinstance(customers, list) or not all(isinstance(c, dict) for c in customers):
                raise ServiceError(400, "invalidBody", "customers must be a list of objects.")
            if not isinstance(segments, list):
                raise ServiceError(400, "invalidBody", "segments must be a list of objects.")
            return 201, self.model.seed_records(customers=customers, segments=segments)

        return await self._control(request, action)

    async def _settings(self, request: Request) -> Response:
        def action(body: dict[str, Any]) -> tuple[int, Any]:
            return 200, {"settings": self.model.configure(**body).to_dict()}

        return await self._control(request, action)

    async def _segment_members(self, request: Request) -> Response:
        code = request.path_params["code"]

        def action(_: dict[str, Any]) -> tuple[int, Any]:
            return 200, {
                "ids": sorted(self.model.member_ids(code)),
                "pending": sorted(self.model.pending_delete_ids(code)),
            }

        return await self._control(request, action)


def _host_name(host: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8765`` → ``::1``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_control_request(*, client: str | None, host: str | None, origin: str | None) -> None:
    """Refuse (403) a control request that is not plainly from this machine.

    The client address and the ``Host`` header must be loopback (a page on another site
    reaching the sandbox through DNS rebinding names its own host), and an ``Origin``, if
    present, must be a loopback origin (a page on another site posting here sends its own).
    """
    if client is None or not is_loopback_host(client):
        raise ServiceError(403, "forbidden", "Control endpoints answer loopback clients only.")
    if host is None or not is_loopback_host(_host_name(host.strip())):
        raise ServiceError(
            403,
            "forbidden",
            "Control endpoints answer only requests addressed to a loopback host "
            "(127.0.0.1, localhost or [::1]).",
        )
    if origin is not None:
        name = urlsplit(origin.strip()).hostname if "://" in origin else None
        if name is None or not is_loopback_host(name):
            raise ServiceError(
                403,
                "forbidden",
                "Control endpoints refuse requests from web pages of other origins.",
            )


class _Resource:
    """The API routes of one path, as a raw ASGI app (so it can drop a connection)."""

    def __init__(self, app: SandboxApp, methods: dict[str, Route]) -> None:
        self.app = app
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        route = self.methods.get(request.method)
        if route is None:
            allow = ", ".join(self.methods)
            problem = ServiceError(
                405,
                "methodNotAllowed",
                f"This method is not allowed here; use {allow}.",
                headers={"Allow": allow},
            )
            await _error(problem)(scope, receive, send)
            return
        self.app.in_flight += 1
        self.app.max_in_flight = max(self.app.max_in_flight, self.app.in_flight)
        try:
            await self._answer(route, request, scope, receive, send)
        finally:
            self.app.in_flight -= 1

    async def _answer(
        self, route: Route, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> None:
        model = self.app.model
        arrived = anyio.current_time()
        try:
            reply = await self._serve(route, request)
        except ServiceError as raised:
            problem = error_answer(model.settings, raised, sign_in=route.kind == "token")
            self.app.count(route.name, problem.status)
            await self._hold(arrived)
            await _error(problem)(scope, receive, send)
            return
        except Exception:
            logger.exception("The sandbox failed to serve %s", route.name)
            self.app.count(route.name, 500)
            failure = ServiceError(500, "internalError", "The sandbox failed; see its log.")
            await self._hold(arrived)
            await _error(failure)(scope, receive, send)
            return
        if route.member_write and reply.status < 300 and model.lose_response():
            self.app.count(route.name, "dropped")
            await self._hold(arrived)
            if self.app.drop_connection is None:
                msg = "The sandbox dropped this response (lost_response_rate)."
                raise ResponseDroppedError(msg)
            await self.app.drop_connection(scope)
            return
        self.app.count(route.name, reply.status)
        headers = dict(reply.headers)
        if reply.body is None:
            response = Response(status_code=reply.status, headers=headers)
        else:
            response = JSONResponse(reply.body, status_code=reply.status, headers=headers)
        await self._hold(arrived)
        await response(scope, receive, send)

    async def _hold(self, arrived: float) -> None:
        """Answer no sooner than ``latency`` seconds after the call arrived (awaited, so
        concurrent calls overlap). The sandbox's own work on the call is part of that time,
        as a server's work is part of its round trip; it adds to it only when it takes
        longer."""
        rest = self.app.model.settings.latency - (anyio.current_time() - arrived)
        if rest > 0:
            await anyio.sleep(rest)

    async def _serve(self, route: Route, request: Request) -> Reply:
        model = self.app.model
        merchant = request.path_params.get("merchantCode")
        fault = model.before_call(kind=route.kind, merchant=merchant)
        if fault is not None:
            raise fault
        headers = {k.lower(): v for k, v in request.headers.items()}
        if route.needs_token and merchant is not None:
            model.authenticate(headers.get("authorization"), merchant)
        unknown = sorted(set(request.query_params) - set(route.query))
        if unknown:
            raise ServiceError(
                400,
                "invalidParameter",
                f"Unknown query parameter(s): {', '.join(unknown)}."
                + (f" This call takes {', '.join(route.query)}." if route.query else ""),
            )
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            raise ServiceError(413, "payloadTooLarge", "The request body is too large.")
        body: Any = None
        form: dict[str, str] = {}
        if route.body == "json" and raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise ServiceError(400, "invalidJson", "The body is not valid JSON.") from None
        elif route.body == "form":
            try:
                form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise ServiceError(
                    400, "invalid_request", "The form is not UTF-8.", oauth_error="invalid_request"
                ) from None
        call = Call(
            params=dict(request.path_params),
            query=dict(request.query_params),
            body=body,
            form=form,
            headers=headers,
        )
        return route.handler(model, call)
