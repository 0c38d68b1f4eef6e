"""Target 5: reading a segment of a million members, page after page (cursor pagination)."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import httpx

from segwidgets import SegmentSession
from segwidgets._live import read_live
from segwidgets._plan import fingerprint_ids

from ._machine import cpu_seconds
from ._report import Check, TargetResult
from ._server import SandboxProcess
from ._sizes import Sizes

__all__ = ["run_read"]

_CODE = "big"
_MAX_PAGE = 1000
_TRIVIAL = 50
#: Pages of the bare walk (the same pages, read by a few lines of plain httpx).
_BARE_PAGES = 200


def bare_walk(session: SegmentSession, code: str, *, pages: int, page_size: int) -> float:
    """Seconds per page of the first ``pages`` pages, read by the least a client can do:
    one plain ``httpx.Client``, ``json.loads``, follow the cursor. No retries, checks,
    statistics or snapshot: the engine's walk minus this is what the engine adds."""
    client = session.client
    base = client.credentials.service_url("segmentation")
    token = client._tokens.current().value.get_secret_value()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{base}/segments/{code}/members"
    cursor: str | None = None
    n = 0
    with httpx.Client(trust_env=False, timeout=60) as http:
        start = time.perf_counter()
        while n < pages:
            params: dict[str, str | int] = {"limit": page_size}
            if cursor is not None:
                params["cursor"] = cursor
            answer = http.get(url, params=params, headers=headers)
            answer.raise_for_status()
            n += 1
            cursor = (json.loads(answer.content)["meta"].get("cursors") or {}).get("next")
            if not cursor:
                break
        return (time.perf_counter() - start) / max(n, 1)


def run_read(sizes: Sizes) -> TargetResult:
    """Target 5: requests == pages, time <= 1.2x pages x latency."""
    result = TargetResult(5, "Reading a big segment")
    with SandboxProcess(customers=sizes.read_customers) as sandbox:
        n_members = sandbox.fill_all(_CODE)
        sandbox.configure(latency=sizes.latency, max_page_size=_MAX_PAGE)
        with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
            session = SegmentSession(
                sandbox.credentials, journal=Path(tmp) / "journal.sqlite3", page_size=_MAX_PAGE
            )
            try:
                session.segment(_CODE)  # signs in: the token is not part of the read
                # The same round trip without a page: what a request costs on this machine
                # at this latency before any member is formatted, sent or parsed.
                start = time.perf_counter()
                for _ in range(_TRIVIAL):
                    session.client.get_segment(_CODE)
                trivial = (time.perf_counter() - start) / _TRIVIAL
                stats = session.client.stats
                stats.reset()
                server_cpu = cpu_seconds(sandbox.pid)
                client_cpu = cpu_seconds()
                start = time.perf_counter()
                snapshot = read_live(session.client, _CODE, page_size=_MAX_PAGE)
                seconds = time.perf_counter() - start
                client_cpu = cpu_seconds() - client_cpu
                server_cpu = cpu_seconds(sandbox.pid) - server_cpu
                requests = stats.n_requests
                start = time.perf_counter()
                fingerprint_ids(snapshot.ids, distinct=True)
                fingerprint_seconds = time.perf_counter() - start
                bare_pages = min(_BARE_PAGES, math.ceil(n_members / _MAX_PAGE))
                bare = bare_walk(session, _CODE, pages=bare_pages, page_size=_MAX_PAGE)
            finally:
                session.close()
    pages = math.ceil(n_members / _MAX_PAGE)
    bound = pages * sizes.latency
    result.numbers = {
        "members": n_members,
        "read_members": snapshot.n,
        "pages": pages,
        "requests": requests,
        "n_pages_read": snapshot.n_pages,
        "latency": sizes.latency,
        "seconds": seconds,
        "bound": bound,
        "ratio": seconds / bound,
        "server_cpu": server_cpu,
        "server_cpu_per_page_ms": server_cpu / max(pages, 1) * 1000,
        "client_cpu": client_cpu,
        "client_cpu_per_page_ms": client_cpu / max(pages, 1) * 1000,
        "fingerprint_seconds": fingerprint_seconds,
        "trivial_round_trip": trivial,
        "trivial_round_trip_ratio": trivial / sizes.latency,
        "bare_walk_pages": bare_pages,
        "bare_walk_per_page": bare,
        "bare_walk_ratio": bare / sizes.latency,
    }
    result.checks = [
        Check("requests / minimum pages", requests, pages, "equal", "count"),
        Check("read time / (pages x latency)", seconds / bound, 1.2),
        Check(
            "members read == members (1 = yes)",
            float(snapshot.n == n_members),
            1.0,
            "equal",
            "count",
        ),
    ]
    per_page = seconds / max(pages, 1) * 1000
    result.notes = [
        (
            f"{n_members:,} members in {requests:,} requests, {seconds:.2f} s "
            f"({per_page:.1f} ms per page for {sizes.latency * 1000:.0f} ms latency)"
        ),
        (
            f"per page: sandbox CPU {result.numbers['server_cpu_per_page_ms']:.1f} ms, client CPU "
            f"{result.numbers['client_cpu_per_page_ms']:.1f} ms; a cursor walk is sequential, so "
            "both add to every page"
        ),
        f"the snapshot's fingerprint (sorted ids hashed) took {fingerprint_seconds:.2f} s of it",
        (
            f"a request without a page (GET the segment) took {trivial * 1000:.1f} ms at "
            f"{sizes.latency * 1000:.0f} ms latency = {trivial / sizes.latency:.2f}x: the floor "
            "of a sequential walk on this machine before any member is handled"
        ),
        (
            f"the first {bare_pages:,} pages read by plain httpx + json.loads (no engine): "
            f"{bare * 1000:.1f} ms per page = {bare / sizes.latency:.2f}x; the engine's walk: "
            f"{per_page:.1f} ms"
        ),
    ]
    return result
