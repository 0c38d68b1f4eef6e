"""Target 1: reading a segment of a million members, pages of 100 by offset.

The engine's read (``read_live``, what ``plan()``, the stale check and a full verification
use) is timed over every page, against the bound ``pages x latency / concurrency`` and
against the sequential walk of the same pages measured in the same run. A sequential walk
of every page would take ``pages x latency`` on its own (minutes at a million members), so
the sequential walk reads a prefix of the pages and is compared per page. The client's peak
RSS is sampled while it reads the segment and plans against as many desired ids.
"""

from __future__ import annotations

import inspect
import json
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import psutil

from segwidgets import SegmentSession
from segwidgets._live import LiveSnapshot, read_live
from segwidgets._plan import compute_plan
from segwidgets._traits import DEFAULT_PAGE_SIZE

from ._machine import cpu_seconds
from ._report import Check, TargetResult
from ._server import SandboxProcess
from ._sizes import Sizes
from ._sync import customers_for

__all__ = ["RssSampler", "engine_read", "run_read", "sequential_walk"]

_CODE = "big"
_GIB = 1024**3
_PAGE = DEFAULT_PAGE_SIZE


class RssSampler:
    """The peak resident memory of this process while the ``with`` block runs (sampled)."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, int(process.memory_info().rss))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self.before = int(psutil.Process().memory_info().rss)
        self.peak = self.before
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, int(psutil.Process().memory_info().rss))


def engine_read(session: SegmentSession, code: str) -> LiveSnapshot:
    """``read_live`` as the engine calls it, with the session's concurrency where the
    engine's read takes one."""
    kwargs: dict[str, Any] = {}
    if "concurrency" in inspect.signature(read_live).parameters:
        kwargs["concurrency"] = session.concurrency
    return read_live(session.client, code, **kwargs)


def sequential_walk(session: SegmentSession, code: str, *, pages: int) -> dict[str, Any]:
    """The first ``pages`` pages read one after another by plain httpx (offset paging,
    ``json`` parsing, nothing else): seconds per page."""
    client = session.client
    base = client.credentials.service_url("segmentation")
    token = client._tokens.current().value.get_secret_value()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{base}/segments/{code}/members"
    n = 0
    n_members = 0
    with httpx.Client(trust_env=False, timeout=60) as http:
        start = time.perf_counter()
        while n < pages:
            answer = http.get(url, params={"limit": _PAGE, "offset": n * _PAGE}, headers=headers)
            answer.raise_for_status()
            n += 1
            got = len(json.loads(answer.content)["members"])
            n_members += got
            if got < _PAGE:
                break
        seconds = time.perf_counter() - start
    return {"pages": n, "members": n_members, "seconds": seconds, "per_page": seconds / max(n, 1)}


def run_read(sizes: Sizes) -> TargetResult:
    """Target 1: time <= 1.5x pages x latency / concurrency; >= 6x the sequential walk."""
    result = TargetResult(1, "Reading a big segment")
    n = sizes.read_members
    with SandboxProcess(customers=customers_for(n)) as sandbox:
        ids = sandbox.ids(n)
        n_members = sandbox.fill(_CODE, ids)
        sandbox.configure(latency=sizes.latency)
        with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
            session = SegmentSession(
                sandbox.credentials,
                journal=Path(tmp) / "journal.sqlite3",
                concurrency=sizes.concurrency,
            )
            try:
                session.segment(_CODE)  # signs in: the token is not part of the read
                stats = session.client.stats
                stats.reset()
                server_cpu = cpu_seconds(sandbox.pid)
                client_cpu = cpu_seconds()
                with RssSampler() as rss:
                    start = time.perf_counter()
                    snapshot = engine_read(session, _CODE)
                    seconds = time.perf_counter() - start
                    client_cpu = cpu_seconds() - client_cpu
                    server_cpu = cpu_seconds(sandbox.pid) - server_cpu
                    requests = stats.n_requests
                    # planning against as many desired ids: 1 % leave, 1 % arrive
                    shift = max(1, n // 100)
                    desired = pl.Series(
                        "customer_id",
                        ids[shift:] + [f"bench-new-{i:07d}" for i in range(shift)],
                        dtype=pl.String,
                    )
                    del ids
                    start = time.perf_counter()
                    adds, removes, _ = compute_plan(snapshot.ids, desired, mode="mirror")
                    plan_seconds = time.perf_counter() - start
                seq = sequential_walk(session, _CODE, pages=sizes.read_sequential_pages)
            finally:
                session.close()
    pages = math.ceil(n_members / _PAGE)
    bound = pages * sizes.latency / sizes.concurrency
    sequential_all = seq["per_page"] * pages
    speedup = sequential_all / seconds
    result.numbers = {
        "members": n_members,
        "read_members": snapshot.n,
        "page_size": _PAGE,
        "pages": pages,
        "requests": requests,
        "n_pages_read": snapshot.n_pages,
        "latency": sizes.latency,
        "concurrency": sizes.concurrency,
        "seconds": seconds,
        "bound": bound,
        "ratio": seconds / bound,
        "server_cpu": server_cpu,
        "server_cpu_per_page_ms": server_cpu / max(pages, 1) * 1000,
        "client_cpu": client_cpu,
        "client_cpu_per_page_ms": client_cpu / max(pages, 1) * 1000,
        "sequential": seq,
        "sequential_projected_all_pages": sequential_all,
        "speedup_vs_sequential": speedup,
        "plan_seconds": plan_seconds,
        "plan_adds": adds.height,
        "plan_removes": removes.height,
        "rss_before": rss.before,
        "rss_peak": rss.peak,
    }
    result.checks = [
        Check("read time / (pages x latency / concurrency)", seconds / bound, 1.5),
        Check("speed-up over the sequential walk (per page)", speedup, 6.0, "at_least"),
        Check("requests / pages (at most pages + 2)", requests, pages + 2, unit="count"),
        Check(
            "members read == members (1 = yes)",
            float(snapshot.n == n_members),
            1.0,
            "equal",
            "count",
        ),
        Check("client peak RSS, read + plan", rss.peak / _GIB, 1.0, unit="GiB"),
    ]
    per_page = seconds / max(pages, 1) * 1000
    result.notes = [
        (
            f"{n_members:,} members in {requests:,} requests, {seconds:.2f} s "
            f"({per_page:.2f} ms per page; bound {bound:.2f} s = {pages:,} pages x "
            f"{sizes.latency * 1000:.0f} ms / {sizes.concurrency})"
        ),
        (
            f"sequential walk of the first {seq['pages']:,} pages (plain httpx, offset): "
            f"{seq['per_page'] * 1000:.1f} ms per page, {sequential_all:.1f} s projected for all "
            f"{pages:,} pages: the engine is {speedup:.1f}x faster"
        ),
        (
            f"per page: sandbox CPU {result.numbers['server_cpu_per_page_ms']:.2f} ms, client CPU "
            f"{result.numbers['client_cpu_per_page_ms']:.2f} ms; with 2 cores, pages x (sandbox + "
            "client CPU) / 2 is a floor no concurrency goes under"
        ),
        (
            f"client RSS {rss.before / _GIB:.2f} GiB before, peak {rss.peak / _GIB:.2f} GiB while "
            f"reading and planning against {n_members:,} desired ids (plan {plan_seconds:.2f} s)"
        ),
    ]
    return result
