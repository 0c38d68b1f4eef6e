"""Targets 2 and 5: the whole sync (plan, stale check, push, verification) on big segments.

``measure_sync`` plans and applies 1 % adds + 1 % removes (or the sizes' own counts) on a
segment held by a sandbox in its own process, pages of 100 (the sandbox's default), and
counts the requests of each phase. Target 2 holds the whole apply against its own request
bound; target 5 draws plan + apply as the segment grows, measured, and projected to a
slower latency from the measured request counts.

Each phase's requests are told apart by what they are: the stale check is everything sent
before the first member write, the verification every member read after the last write,
the push (with its member-count checks) the rest.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from segwidgets import SegmentSession
from segwidgets._traits import DEFAULT_PAGE_SIZE
from segwidgets.sandbox._settings import Settings

from ._chart import growth_chart
from ._report import Check, TargetResult
from ._server import SandboxProcess
from ._sizes import Sizes

__all__ = [
    "RequestLog",
    "customers_for",
    "measure_sync",
    "project",
    "run_growth",
    "run_whole_apply",
]

_CODE = "sync"
_PAGE = DEFAULT_PAGE_SIZE
#: The latency the growth chart projects to (a realistic Shopgate round trip).
PROJECTED_LATENCY = 0.1
_DOCS = Path(__file__).resolve().parent.parent / "docs"
CHART = _DOCS / "benchmarks-growth.png"
#: measurements of this process, so target 5 reuses target 2's point when both run
_CACHE: dict[tuple[int, int, int, float, int, int], dict[str, Any]] = {}


class RequestLog:
    """When each API request of a session started (sign-ins left out), on the session's
    clock, and what it was: a member write, a read of the segment itself, another read."""

    def __init__(self, session: SegmentSession) -> None:
        self.clock = session._clock
        self.requests: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        session.client._http.event_hooks["request"].append(self._hook)

    def _hook(self, request: httpx.Request) -> None:
        path = request.url.path
        if path.endswith("/oauth/token"):
            return
        if request.method != "GET":
            kind = "write"
        elif path.rstrip("/").endswith(f"/segments/{_CODE}"):
            kind = "segment"
        else:
            kind = "read"
        now = self.clock()
        with self._lock:
            self.requests.append((now, kind))

    def split(self, start: float, end: float) -> dict[str, int]:
        """Requests of each phase of an apply that wrote: the stale check sends everything
        before the first write, the verification every read after the last write (the
        member-count check after the last write is the push's), the push the rest."""
        requests = [(t, kind) for t, kind in self.requests if start <= t <= end]
        writes = [t for t, kind in requests if kind == "write"]
        if not writes:
            return {"check": len(requests), "push": 0, "verify": 0}
        first, last = min(writes), max(writes)
        check = sum(t < first for t, _ in requests)
        verify = sum(t > last and kind == "read" for t, kind in requests)
        return {"check": check, "push": len(requests) - check - verify, "verify": verify}


def customers_for(n: int) -> int:
    """Customers a sandbox needs for ``n`` non-deleted ones (it seeds some deleted)."""
    return math.ceil(n * 1.2) + 100


def measure_sync(sizes: Sizes, *, members: int, adds: int, removes: int) -> dict[str, Any]:
    """Plan then apply ``adds`` + ``removes`` on a segment of ``members``; every number."""
    key = (members, adds, removes, sizes.latency, sizes.concurrency, sizes.batch_size)
    if key in _CACHE:
        return _CACHE[key] | {"reused": True}
    with SandboxProcess(customers=customers_for(members + adds)) as sandbox:
        ids = sandbox.ids(members + adds)
        if len(ids) < members + adds:
            msg = "the sandbox has too few customers for this segment"
            raise RuntimeError(msg)
        sandbox.fill(_CODE, ids[:members])
        desired = ids[removes:]
        del ids
        # the sandbox's default (realistic) delay before an accepted removal shows (the
        # bench's sandboxes start with none)
        settings = sandbox.configure(latency=sizes.latency, delete_delay=Settings().delete_delay)
        with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
            session = SegmentSession(
                sandbox.credentials,
                journal=Path(tmp) / "journal.sqlite3",
                batch_size=sizes.batch_size,
                concurrency=sizes.concurrency,
                verify_timeout=120,
            )
            try:
                session.segment(_CODE)  # signs in: the token is not part of any phase
                stats = session.client.stats
                stats.reset()
                start = time.perf_counter()
                plan = session.plan(_CODE, desired, allow_mass_removal=True, check_ids=False)
                plan_seconds = time.perf_counter() - start
                plan_requests = stats.n_requests
                estimate = plan.estimate(latency=sizes.latency)
                stats.reset()
                log = RequestLog(session)
                start = time.perf_counter()
                began = session._clock()
                result = session.apply(plan)
                ended = session._clock()
                apply_seconds = time.perf_counter() - start
                apply_requests = stats.n_requests
                by_route = {f"{m} {r}": n for (m, r), n in sorted(stats.by_route.items())}
                split = log.split(began, ended)
            finally:
                session.close()
        final, pending = sandbox.members(_CODE)
        final_ok = final == set(desired) and pending == 0
    out = {
        "members": members,
        "adds": plan.n_add,
        "removes": plan.n_remove,
        "pages_before": math.ceil(members / _PAGE),
        "pages_after": math.ceil(len(desired) / _PAGE),
        "latency": sizes.latency,
        "concurrency": sizes.concurrency,
        "batch_size": sizes.batch_size,
        "delete_delay": settings.get("delete_delay") or 0.0,
        "plan_seconds": plan_seconds,
        "plan_requests": plan_requests,
        "estimate_requests": estimate.n_requests,
        "estimate_seconds": getattr(estimate, "seconds", None),
        "apply_seconds": apply_seconds,
        "apply_requests": apply_requests,
        "phase_requests": split,
        "timings": dict(result.timings),
        "status": result.status,
        "stale_method": result.stale_method,
        "verify_method": result.verify_method,
        "estimate_phases": estimate.as_dict()["phases"],
        "by_route": by_route,
        "final_equals_plan": final_ok,
        "reused": False,
    }
    _CACHE[key] = out
    return out


def _waves(requests: int, concurrency: int) -> int:
    return math.ceil(requests / concurrency)


def request_bound(point: dict[str, Any]) -> dict[str, Any]:
    """The least time the apply can take at its latency, from the least requests of each
    phase in waves of ``concurrency``.

    The stale check (the way the apply chose: every page and the segment for ``full``; the
    segment, the changed ids 100 a request and the total for ``changes``), then the writes.
    Removals show only after the server's delete delay, counted from the push's first
    wave (removals go first), and the verification may send at most
    ``min(pages, ⌈changes / 100⌉) + 2`` requests, so it cannot read them again and again
    while they apply: their lookups start once the delay is over, and the adds' lookups
    (or nothing, for a full read) may go meanwhile. ``overlapped_seconds`` is the looser
    figure that lets the removals' lookups overlap the delay as well.
    """
    c, lat = point["concurrency"], point["latency"]
    changes = point["adds"] + point["removes"]
    if point.get("stale_method", "full") == "changes":
        # the segment (is it editable?), the changed ids 100 a request, the total
        check = 1 + math.ceil(changes / _PAGE) + 1
    else:
        check = point["pages_before"] + 1  # every page, and the segment
    writes = math.ceil(point["adds"] / point["batch_size"]) + math.ceil(
        point["removes"] / point["batch_size"]
    )
    verify = min(point["pages_after"], math.ceil(changes / _PAGE))
    check_seconds = _waves(check, c) * lat
    push_seconds = _waves(writes, c) * lat
    delay = point["delete_delay"] if point["removes"] else 0.0
    if not point["removes"]:
        verify_seconds = _waves(verify, c) * lat
    else:
        if verify < math.ceil(changes / _PAGE):  # a full read, after the removals apply
            meanwhile, after = 0, verify
        else:
            meanwhile = math.ceil(point["adds"] / _PAGE)
            after = math.ceil(point["removes"] / _PAGE)
        verify_seconds = max(_waves(meanwhile, c) * lat, delay - push_seconds) + (
            _waves(after, c) * lat
        )
    overlapped = max(_waves(verify, c) * lat, delay)
    return {
        "check_requests": check,
        "write_requests": writes,
        "verify_requests": verify,
        "check_seconds": check_seconds,
        "push_seconds": push_seconds,
        "verify_seconds": verify_seconds,
        "seconds": check_seconds + push_seconds + verify_seconds,
        "overlapped_seconds": check_seconds + push_seconds + overlapped,
    }


def project(point: dict[str, Any], latency: float) -> float:
    """Plan + apply at ``latency``: the measured time plus, per phase, the round trips it
    waited for one after another (its requests, or its time over the latency when they
    overlapped) times the extra latency."""
    lat = point["latency"]
    timings = point["timings"]
    phases = point["phase_requests"]
    push_seconds = timings.get("push", 0.0) + timings.get("reconcile", 0.0)
    pairs = [
        (point["plan_requests"], point["plan_seconds"]),
        (phases["check"], timings.get("check", 0.0)),
        (phases["push"], push_seconds),
        (phases["verify"], timings.get("verify", 0.0)),
    ]
    rounds = sum(min(float(n), seconds / lat) for n, seconds in pairs)
    return float(point["plan_seconds"] + point["apply_seconds"] + rounds * (latency - lat))


def run_whole_apply(sizes: Sizes) -> TargetResult:
    """Target 2: the whole apply <= 1.3x its request bound; verification requests <=
    min(pages, ceil(changes / 100)) + 2."""
    result = TargetResult(2, "Whole apply on a big segment")
    point = measure_sync(
        sizes, members=sizes.apply_members, adds=sizes.apply_adds, removes=sizes.apply_removes
    )
    bound = request_bound(point)
    phases = point["phase_requests"]
    verify_limit = bound["verify_requests"] + 2
    ratio = point["apply_seconds"] / bound["seconds"]
    result.numbers = point | {"bound": bound, "ratio": ratio, "verify_limit": verify_limit}
    result.checks = [
        Check("whole apply / its request bound", ratio, 1.3),
        Check(
            "verification requests (<= min(pages, changes/100) + 2)",
            phases["verify"],
            verify_limit,
            unit="count",
        ),
        Check(
            "final membership equals the plan (1 = yes)",
            float(point["final_equals_plan"]),
            1.0,
            "equal",
            "count",
        ),
    ]
    t = point["timings"]
    result.notes = [
        (
            f"{point['adds']:,} adds + {point['removes']:,} removes on {point['members']:,} "
            f"members: apply {point['apply_seconds']:.2f} s (check {t.get('check', 0):.2f}, push "
            f"{t.get('push', 0):.2f}, reconcile {t.get('reconcile', 0):.2f}, verify "
            f"{t.get('verify', 0):.2f}); bound {bound['seconds']:.2f} s; stale check "
            f"{point['stale_method']}, verification {point['verify_method']}"
        ),
        (
            f"requests: check {phases['check']:,} (minimum {bound['check_requests']:,}), push "
            f"{phases['push']:,} (writes minimum {bound['write_requests']:,}), verification "
            f"{phases['verify']:,} (limit {verify_limit:,}); plan {point['plan_requests']:,} "
            f"in {point['plan_seconds']:.2f} s"
        ),
        (
            "each phase against its share of the bound: check "
            f"{t.get('check', 0) / bound['check_seconds']:.2f}x, push "
            f"{(t.get('push', 0) + t.get('reconcile', 0)) / bound['push_seconds']:.2f}x, "
            f"verification {t.get('verify', 0) / bound['verify_seconds']:.2f}x "
            f"({t.get('verify', 0) / max(phases['verify'], 1) * 1000:.1f} ms per request)"
        ),
        f"requests by route during the apply: {point['by_route']}",
        (
            f"the bound: waves of {point['concurrency']} at {point['latency'] * 1000:.0f} ms per "
            f"phase; removals are looked up once the sandbox's delete delay "
            f"({point['delete_delay']:.1f} s from the push's first wave) is over, the adds "
            f"meanwhile; letting the removals' lookups overlap the delay too: "
            f"{bound['overlapped_seconds']:.2f} s "
            f"({point['apply_seconds'] / bound['overlapped_seconds']:.2f}x)"
        ),
    ]
    return result


def run_growth(sizes: Sizes) -> TargetResult:
    """Target 5: plan + apply of 1 % adds + 1 % removes as the segment grows; the chart."""
    result = TargetResult(5, "Plan + apply as the segment grows")
    points = []
    for members in sizes.growth_members:
        changes = max(1, members // 100)
        point = measure_sync(sizes, members=members, adds=changes, removes=changes)
        point = point | {
            "total_seconds": point["plan_seconds"] + point["apply_seconds"],
            "projected_seconds": project(point, PROJECTED_LATENCY),
            "total_requests": point["plan_requests"] + point["apply_requests"],
        }
        points.append(point)
    with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
        path = CHART if sizes.mode == "full" else Path(tmp) / "growth.png"
        growth_chart(
            path,
            members=[p["members"] for p in points],
            measured=[p["total_seconds"] for p in points],
            projected=[p["projected_seconds"] for p in points],
            latency=sizes.latency,
            projected_latency=PROJECTED_LATENCY,
        )
        written = path.stat().st_size > 0
    result.numbers = {
        "latency": sizes.latency,
        "projected_latency": PROJECTED_LATENCY,
        "chart": str(path) if sizes.mode == "full" else None,
        "points": points,
    }
    result.checks = [
        Check(
            "sizes where the final membership equals the plan",
            sum(p["final_equals_plan"] for p in points),
            len(points),
            "equal",
            "count",
        ),
        Check("chart written (1 = yes)", float(written), 1.0, "equal", "count"),
    ]
    result.notes = [
        (
            f"{p['members']:,} members, {p['adds']:,} + {p['removes']:,} changes: plan "
            f"{p['plan_seconds']:.2f} s / {p['plan_requests']:,} req, apply "
            f"{p['apply_seconds']:.2f} s / {p['apply_requests']:,} req (check "
            f"{p['phase_requests']['check']:,}, push {p['phase_requests']['push']:,}, verify "
            f"{p['phase_requests']['verify']:,}); projected at "
            f"{PROJECTED_LATENCY * 1000:.0f} ms: {p['projected_seconds']:.1f} s"
            + (" (measured in target 2)" if p["reused"] else "")
        )
        for p in points
    ]
    return result
