"""Tools shared by the reliability figures: a recording transport, a fake clock, sandbox data.

``Wire`` sits between a ``SegmentSession`` and real loopback HTTP: it records every exchange
(which call, which member ids, what came back, whether the answer reached the client) and can
run a hook before a request goes out or after its answer came back, so a test can crash the
client, lose an answer, or change the segment between two pages.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import hypothesis
import polars as pl

import segwidgets as sw


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every wire (loading the CA store costs a fifth of a second)."""
    return ssl.create_default_context()


class Crash(BaseException):
    """Stands for the process dying (not an ``Exception``: nothing may catch it)."""


@dataclass
class Exchange:
    """One request as it crossed the wire."""

    number: int
    method: str
    path: str
    route: str
    params: dict[str, str]
    ids: list[str] = field(default_factory=list)
    sent: bool = False
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    retry_after: str | None = None
    thread: int = 0

    @property
    def is_write(self) -> bool:
        return self.route in {"members.add", "members.remove"}

    @property
    def action(self) -> str:
        return "add" if self.route == "members.add" else "remove"

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def route_of(method: str, path: str) -> str:
    """A short name for a Shopgate call, from its method and path."""
    if path.endswith("/oauth/token"):
        return "token"
    parts = path.strip("/").split("/")
    if "customers" in parts and parts[0] == "customer":
        return "customers.get" if parts[-1] != "customers" else "customers.list"
    if parts[-1] == "segments" and "customers" in parts:
        return "customer.segments"
    if parts[-1] == "members":
        return {"GET": "members.list", "POST": "members.add", "DELETE": "members.remove"}[method]
    if parts[-1] == "segments":
        return "segments.list" if method == "GET" else "segments.create"
    if "segments" in parts:
        return "segments.get" if method == "GET" else f"segments.{method.lower()}"
    return f"{method} {path}"


Hook = Callable[[Exchange, httpx.Request], None]
AfterHook = Callable[[Exchange, httpx.Request, httpx.Response], None]


class Wire(httpx.BaseTransport):
    """Records every exchange with the server; optional hooks may raise to inject faults."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        before: Hook | None = None,
        after: AfterHook | None = None,
    ) -> None:
        self.inner = inner or httpx.HTTPTransport(verify=_tls_context())
        self.before = before
        self.after = after
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        self._local = threading.local()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method = request.method
        path = request.url.path
        params = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        with self.lock:
            exchange = Exchange(len(self.exchanges), method, path, route_of(method, path), params)
            exchange.thread = threading.get_ident()
            self.exchanges.append(exchange)
        self._local.last = exchange
        if exchange.is_write:
            body = json.loads(request.read() or b"{}")
            exchange.ids = [str(m["id"]) for m in body.get("members", [])]
        if self.before is not None:
            self.before(exchange, request)
        exchange.sent = True
        try:
            response = self.inner.handle_request(request)
            response.read()
        except httpx.HTTPError as exc:
            exchange.error = type(exc).__name__
            raise
        exchange.status = response.status_code
        exchange.retry_after = response.headers.get("Retry-After")
        if self.after is not None:
            self.after(exchange, request, response)
        exchange.delivered = True
        return response

    def close(self) -> None:
        self.inner.close()

    # -- views -------------------------------------------------------------------------------

    def last_here(self) -> Exchange | None:
        """The latest exchange sent from the calling thread."""
        return getattr(self._local, "last", None)

    def snapshot(self) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges)

    def writes(self) -> list[Exchange]:
        """Member writes that reached the server."""
        return [e for e in self.snapshot() if e.is_write and e.sent]

    def count(self, route: str) -> int:
        return sum(1 for e in self.snapshot() if e.route == route and e.sent)

    def members_sent(self) -> int:
        return sum(len(e.ids) for e in self.writes())

    def confirmed(self, action: str) -> set[str]:
        """Ids of writes whose success reached the client."""
        return {
            i for e in self.writes() if e.action == action and e.ok and e.delivered for i in e.ids
        }

    def sent_ids(self, action: str) -> list[str]:
        return [i for e in self.writes() if e.action == action for i in e.ids]

    def reset(self) -> None:
        with self.lock:
            self.exchanges.clear()


class FakeTime:
    """A monotonic clock that moves only when something sleeps (thread-safe).

    ``on_sleep`` runs after every sleep (a test checks an invariant there).
    """

    def __init__(self, start: float = 1_000.0, *, keep: bool = True) -> None:
        self._now = start
        self.lock = threading.Lock()
        self.keep = keep  # keep every wait in ``slept`` (off: measuring memory)
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def now(self) -> float:
        with self.lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self.lock:
            if self.keep:
                self.slept.append(seconds)
            self._now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


_REGISTERED: dict[tuple[int, int], list[str]] = {}


def registered_ids(model: Any, n: int) -> list[str]:
    """Ids of ``n`` registered, not deleted customers, in creation order.

    Cached by (seed, number of customers): a reset sandbox of the same size and seed has the
    same customers.
    """
    total = model.list_customers()["meta"]["totalItemCount"]
    key = (model.seed, total)
    if key not in _REGISTERED:
        frame = model.customers_frame()
        _REGISTERED[key] = (
            frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
            .get_column("id")
            .to_list()
        )
    ids = _REGISTERED[key]
    assert len(ids) >= n, f"the sandbox has only {len(ids)} registered customers"
    return ids[:n]


def make_segment(model: Any, code: str, members: Iterable[str] = ()) -> None:
    """A fixed segment with these members, created directly in the model (no HTTP)."""
    model.seed_records(segments=[{"code": code, "name": code, "type": "fixed"}])
    ids = list(members)
    limit = model.settings.max_members_per_request
    for start in range(0, len(ids), limit):
        chunk = ids[start : start + limit]
        model.add_members(code, chunk)


def session_for(
    credentials: sw.Credentials,
    journal: Path,
    *,
    wire: Wire | None = None,
    time: FakeTime | None = None,
    seed: int = 0,
    **options: Any,
) -> sw.SegmentSession:
    """A session over ``wire`` whose waits go to ``time`` (nothing sleeps for real)."""
    fake = time or FakeTime()
    if wire is not None:
        options["transport"] = wire
    return sw.SegmentSession(
        credentials,
        journal=journal,
        sleep=fake.sleep,
        clock=fake.now,
        rng=random.Random(seed),
        **options,
    )


def write_requests(state: dict[str, Any]) -> int:
    """Member writes the sandbox saw, whatever their outcome."""
    requests = state.get("requests", {})
    return sum(
        sum(by_status.values())
        for name, by_status in requests.items()
        if name.endswith("/segments/{code}/members") and name.split()[0] in {"POST", "DELETE"}
    )


class LogCapture(logging.Handler):
    """Every record of every logger, formatted with its arguments, at any level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.records.append((record.levelno, text))

    def text(self, *, at_least: int = logging.DEBUG) -> str:
        return "\n".join(t for level, t in self.records if level >= at_least)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[LogCapture]:
    """Capture every log record (root logger, ``level`` and up) while the block runs."""
    handler = LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def shuffled(ids: list[str], seed: int) -> list[str]:
    out = list(ids)
    random.Random(seed).shuffle(out)
    return out


def long_run() -> bool:
    """True when ``SEGWIDGETS_LONG=1`` asks for the long property-based runs."""
    return os.environ.get("SEGWIDGETS_LONG", "") not in {"", "0"}


def property_settings(*, examples: int, steps: int = 10) -> hypothesis.settings:
    """Hypothesis settings sized for CI, or 15 times larger with ``SEGWIDGETS_LONG=1``."""
    scale = 15 if long_run() else 1
    return hypothesis.settings(
        max_examples=examples * scale,
        stateful_step_count=steps * (3 if long_run() else 1),
        deadline=None,
        database=None,
        suppress_health_check=[
            hypothesis.HealthCheck.function_scoped_fixture,
            hypothesis.HealthCheck.too_slow,
            hypothesis.HealthCheck.data_too_large,
        ],
    )


@contextmanager
def clocked_sandbox(
    fake: FakeTime, *, customers: int = 300, seed: int = 9, **knobs: Any
) -> Iterator[Any]:
    """A sandbox whose model runs on ``fake`` (token expiry, delete delays), on 127.0.0.1."""
    from segwidgets.sandbox import Sandbox, SandboxModel, Settings
    from segwidgets.sandbox._app import SandboxApp
    from segwidgets.sandbox._server import ServerThread

    model = SandboxModel(
        customers=customers, seed=seed, clock=fake.now, settings=Settings().updated(knobs)
    )
    app = SandboxApp(model)
    server = ServerThread(app, host="127.0.0.1", port=0)
    server.start()
    handle = Sandbox(model=model, app=app, server=server)
    try:
        yield handle
    finally:
        handle.stop()
