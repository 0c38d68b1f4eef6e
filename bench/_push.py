"""Targets 8 and 9: pushing 100,000 member changes, without and with injected faults.

The engine pushes through ``SegmentSession.apply`` against a sandbox in its own process. The
baseline is the pattern of Shopgate's own SDK: one batch request after another over one
plain ``httpx.Client``. Both push the same batches to segments that start out the same.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from segwidgets import (
    ApplyIncompleteError,
    ApplyResult,
    Credentials,
    Secret,
    SegmentPlan,
    SegmentSession,
    SegwidgetsError,
)
from segwidgets._progress import ProgressEvent

from ._ideal import IdealServer
from ._machine import cpu_seconds
from ._report import Check, TargetResult
from ._server import SandboxProcess
from ._sizes import Sizes

__all__ = ["run_push", "run_push_faults", "sdk_push", "sign_in"]

_ENGINE = "push-engine"
_SDK = "push-sdk"
_FAULTY = "push-faults"
_MAX_RESUMES = 5


def sign_in(http: httpx.Client, creds: Any) -> str:
    """An access token by the password grant, as Shopgate's SDK signs in."""
    answer = http.post(
        creds.token_url,
        auth=(creds.client_id, creds.client_secret.get_secret_value()),
        data={
            "grant_type": "password",
            "username": creds.username,
            "password": creds.password.get_secret_value(),
            "tenantType": "merchant",
            "tenantId": creds.merchant_code,
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def sdk_push(
    sandbox: SandboxProcess,
    code: str,
    *,
    removes: list[str],
    adds: list[str],
    batch_size: int,
) -> dict[str, Any]:
    """The sequential batched pattern: sign in, then one member write after another."""
    creds = sandbox.credentials
    base = creds.service_url("segmentation")
    url = f"{base}/segments/{code}/members"
    with httpx.Client(trust_env=False, timeout=60) as http:
        headers = {"Authorization": "Bearer " + sign_in(http, creds)}
        batches = [
            ("DELETE", removes[i : i + batch_size]) for i in range(0, len(removes), batch_size)
        ]
        batches += [("POST", adds[i : i + batch_size]) for i in range(0, len(adds), batch_size)]
        start = time.perf_counter()
        for method, ids in batches:
            body = {"members": [{"id": i, "type": "customer"} for i in ids]}
            response = http.request(method, url, json=body, headers=headers)
            response.raise_for_status()
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "requests": len(batches)}


class _JournalTimer:
    """Adds up the seconds the push spends writing batches to the journal (measuring only)."""

    def __init__(self, session: SegmentSession) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()
        journal = session.journal
        for name in ("batch_sending", "batch_done"):
            setattr(journal, name, self._timed(getattr(journal, name)))

    def _timed(self, method: Callable[..., None]) -> Callable[..., None]:
        def timed(*args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                method(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - start
                    self.calls += 1

        return timed


class _PhaseCpu:
    """Server CPU seconds at the start and the end of the push phase (from progress events)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.push_start: float | None = None
        self.push_end: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "push" and self.push_start is None:
            self.push_start = cpu_seconds(self.pid)
        elif event.phase != "push" and self.push_start is not None and self.push_end is None:
            self.push_end = cpu_seconds(self.pid)

    @property
    def push_cpu(self) -> float | None:
        if self.push_start is None or self.push_end is None:
            return None
        return self.push_end - self.push_start


def _apply_until_done(
    session: SegmentSession, plan: SegmentPlan, progress: _PhaseCpu
) -> tuple[ApplyResult, int, list[str]]:
    """Apply; when the run stops (retries ran out), finish it as a user would: ``resume``
    an interrupted run, or apply again when it stopped before starting. Bounded."""
    stops: list[str] = []
    run_id: str | None = None
    for attempt in range(_MAX_RESUMES + 1):
        try:
            if run_id is None:
                return session.apply(plan, progress=progress), attempt, stops
            return session.resume(run_id), attempt, stops
        except ApplyIncompleteError as exc:
            stops.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            run_id = exc.result.run_id if exc.result is not None else run_id
        except SegwidgetsError as exc:
            stops.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            history = session.history(plan.segment_code)
            if history.height and history.get_column("status")[0] in {"interrupted", "running"}:
                run_id = history.get_column("run_id")[0]
    msg = f"the push did not finish after {len(stops)} stops: {stops[-1]}"
    raise RuntimeError(msg)


def _measure_engine(
    sizes: Sizes,
    sandbox: SandboxProcess,
    *,
    code: str = _ENGINE,
    desired: list[str],
    faults: dict[str, Any] | None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
        session = SegmentSession(
            sandbox.credentials,
            journal=Path(tmp) / "journal.sqlite3",
            batch_size=sizes.batch_size,
            concurrency=sizes.concurrency,
            verify_timeout=120,
        )
        try:
            start = time.perf_counter()
            # The ids are the sandbox's own customers; checking them is not what this
            # target measures (the check is counted in tests/engine/test_plan_checks_ids.py).
            plan = session.plan(code, desired, allow_mass_removal=True, check_ids=False)
            plan_seconds = time.perf_counter() - start
            estimate = plan.estimate(latency=sizes.latency)
            if faults:
                sandbox.configure(**faults)
            timer = _JournalTimer(session)
            phases = _PhaseCpu(sandbox.pid)
            stats = session.client.stats
            stats.reset()
            server_writes_before = sandbox.write_requests()
            server_cpu = cpu_seconds(sandbox.pid)
            client_cpu = cpu_seconds()
            start = time.perf_counter()
            result, resumes, stops = _apply_until_done(session, plan, phases)
            apply_wall = time.perf_counter() - start
            client_cpu = cpu_seconds() - client_cpu
            server_cpu = cpu_seconds(sandbox.pid) - server_cpu
            if faults:
                sandbox.configure(error_429_rate=0.0, error_5xx_rate=0.0)
            server_writes = _delta(sandbox.write_requests(), server_writes_before)
            by_route = stats.by_route
            members, pending = sandbox.members(code)
            return {
                "plan_seconds": plan_seconds,
                "n_add": plan.n_add,
                "n_remove": plan.n_remove,
                "n_live": plan.n_live,
                "estimate_requests": estimate.n_requests,
                "estimate_write_requests": estimate.n_write_requests,
                "status": result.status,
                "resumes": resumes,
                "stops": stops,
                "apply_wall": apply_wall,
                "apply_seconds": result.seconds,
                "timings": dict(result.timings),
                "client_requests": stats.n_requests,
                "client_retries": stats.n_retries,
                "client_write_requests": by_route.get(("POST", "members.add"), 0)
                + by_route.get(("DELETE", "members.remove"), 0),
                "client_by_route": {f"{m} {r}": n for (m, r), n in sorted(by_route.items())},
                "server_write_answers": server_writes,
                "server_write_applied": sum(
                    n for status, n in server_writes.items() if status in {"201", "202"}
                ),
                "server_cpu_apply": server_cpu,
                "server_cpu_push": phases.push_cpu,
                "client_cpu_apply": client_cpu,
                "journal_seconds": timer.seconds,
                "journal_calls": timer.calls,
                "final_members": len(members),
                "final_pending_deletes": pending,
                "final_equals_plan": members == set(desired) and pending == 0,
            }
        finally:
            session.close()


def _measure_ideal(sizes: Sizes, *, live: list[str], desired: list[str]) -> dict[str, Any]:
    """The same push against ``IdealServer`` (in-process, every call exactly the latency):
    what is left beyond the bound is the engine's own cost."""
    server = IdealServer(latency=sizes.latency, members=live, code=_ENGINE)
    creds = Credentials(
        merchant_code="IDEAL",
        client_id="ideal",
        client_secret=Secret("ideal"),
        username="ideal",
        password=Secret("ideal"),
        base_url="http://127.0.0.1:9/{service}",
    )
    with tempfile.TemporaryDirectory(prefix="segwidgets-bench-") as tmp:
        session = SegmentSession(
            creds,
            journal=Path(tmp) / "journal.sqlite3",
            transport=server,
            batch_size=sizes.batch_size,
            concurrency=sizes.concurrency,
        )
        try:
            # The ideal server serves a segment only: the ids go unchecked.
            plan = session.plan(_ENGINE, desired, allow_mass_removal=True, check_ids=False)
            timer = _JournalTimer(session)
            writes_before = server.n_writes
            client_cpu = cpu_seconds()
            result = session.apply(plan, verify=False)
            client_cpu = cpu_seconds() - client_cpu
        finally:
            session.close()
    return {
        "timings": dict(result.timings),
        "status": result.status,
        "write_requests": server.n_writes - writes_before,
        "journal_seconds": timer.seconds,
        "journal_calls": timer.calls,
        "client_cpu_apply": client_cpu,
        "final_equals_plan": server.members == set(desired),
    }


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0) - before.get(k, 0)
        for k in sorted(keys)
        if after.get(k, 0) - before.get(k, 0)
    }


def _setup(
    sizes: Sizes, sandbox: SandboxProcess, codes: list[str]
) -> tuple[list[str], list[str], list[str], list[str]]:
    ids = sandbox.ids(sizes.push_live + sizes.push_adds)
    if len(ids) < sizes.push_live + sizes.push_adds:
        msg = "the sandbox has too few customers for this push size"
        raise RuntimeError(msg)
    live = ids[: sizes.push_live]
    removes = live[: sizes.push_removes]
    adds = ids[sizes.push_live :]
    for code in codes:
        sandbox.fill(code, live)
    desired = live[sizes.push_removes :] + adds
    return desired, removes, adds, live


def _minimum(sizes: Sizes) -> int:
    return math.ceil(sizes.push_adds / sizes.batch_size) + math.ceil(
        sizes.push_removes / sizes.batch_size
    )


def run_push(sizes: Sizes) -> TargetResult:
    """Target 8: push efficiency against the round-trip bound and the SDK pattern."""
    result = TargetResult(8, "Push efficiency")
    with SandboxProcess(customers=sizes.push_customers) as sandbox:
        desired, removes, adds, live = _setup(sizes, sandbox, [_ENGINE, _SDK])
        sandbox.configure(latency=sizes.latency)
        engine = _measure_engine(sizes, sandbox, desired=desired, faults=None)
        cpu = cpu_seconds(sandbox.pid)
        sdk = sdk_push(sandbox, _SDK, removes=removes, adds=adds, batch_size=sizes.batch_size)
        sdk["server_cpu"] = cpu_seconds(sandbox.pid) - cpu
        sdk_members, sdk_pending = sandbox.members(_SDK)
        sdk["final_equals_plan"] = sdk_members == set(desired) and sdk_pending == 0
    ideal = _measure_ideal(sizes, live=live, desired=desired)
    minimum = _minimum(sizes)
    bound = minimum * sizes.latency / sizes.concurrency
    push = engine["timings"]["push"]
    reads = 1 + math.ceil(engine["n_live"] / 100) + math.ceil(len(desired) / 100)
    whole_bound = reads * sizes.latency + math.ceil(minimum / sizes.concurrency) * sizes.latency
    server_floor = engine["server_cpu_push"]
    result.numbers = {
        "latency": sizes.latency,
        "concurrency": sizes.concurrency,
        "batch_size": sizes.batch_size,
        "member_changes": sizes.push_adds + sizes.push_removes,
        "minimum_write_requests": minimum,
        "round_trip_bound_push": bound,
        "round_trip_bound_whole_apply": whole_bound,
        "push_seconds": push,
        "push_ratio": push / bound,
        "whole_apply_ratio": engine["apply_seconds"] / whole_bound,
        "server_cpu_floor_push": server_floor,
        "push_vs_server_floor": None if not server_floor else push / max(bound, server_floor),
        "engine": engine,
        "sdk": sdk,
        "ideal_server": ideal,
        "ideal_push_ratio": ideal["timings"]["push"] / bound,
        "speedup_vs_sdk": sdk["seconds"] / push,
    }
    result.checks = [
        Check("push phase / round-trip bound", push / bound, 1.18),
        Check("speed-up over the sequential SDK pattern", sdk["seconds"] / push, 6.0, "at_least"),
        Check("write requests sent", engine["client_write_requests"], minimum, "equal", "count"),
        Check(
            "final membership equals the plan (1 = yes)",
            float(engine["final_equals_plan"]),
            1.0,
            "equal",
            "count",
        ),
    ]
    per_batch_journal = engine["journal_seconds"] / max(engine["journal_calls"], 1) * 1000
    result.notes = [
        (
            f"push {push:.2f} s for {minimum} writes; bound {bound:.3f} s "
            f"({minimum} x {sizes.latency * 1000:.0f} ms / {sizes.concurrency}); "
            f"SDK pattern {sdk['seconds']:.2f} s"
        ),
        (
            f"whole apply {engine['apply_seconds']:.2f} s (check {engine['timings'].get('check', 0):.2f}, "
            f"push {push:.2f}, verify {engine['timings'].get('verify', 0):.2f}) vs its own bound "
            f"{whole_bound:.2f} s (sequential page reads + writes / concurrency); the ratio uses the "
            "push phase, the only part the plan's write requests make up"
        ),
        (
            f"sandbox CPU during the push: {server_floor or 0:.2f} s (one event loop: no push can be "
            f"faster); journal calls {engine['journal_seconds']:.2f} s summed over threads, "
            f"{per_batch_journal:.1f} ms per call including waits for its lock"
        ),
        f"server saw {engine['server_write_applied']} applied writes for a minimum of {minimum}",
        (
            f"the same push against an ideal server (no server work, every call exactly "
            f"{sizes.latency * 1000:.0f} ms): {ideal['timings']['push']:.2f} s = "
            f"{ideal['timings']['push'] / bound:.1f}x the bound; journal writes "
            f"{ideal['journal_seconds']:.2f} s summed over {ideal['journal_calls']} calls"
        ),
    ]
    return result


def run_push_faults(sizes: Sizes) -> TargetResult:
    """Target 9: the same push with 30 % 429 (Retry-After 0-1 s) and 5 % 503."""
    result = TargetResult(9, "Push under faults")
    faults = {
        "error_429_rate": 0.30,
        "retry_after": list(sizes.retry_after),
        "error_5xx_rate": 0.05,
        "error_5xx_status": 503,
        "fault_seed": 20_261_126,
    }
    with SandboxProcess(customers=sizes.push_customers) as sandbox:
        desired, _, _, _ = _setup(sizes, sandbox, [_ENGINE, _FAULTY])
        sandbox.configure(latency=sizes.latency)
        clean = _measure_engine(sizes, sandbox, desired=desired, faults=None)
        faulty = _measure_engine(sizes, sandbox, code=_FAULTY, desired=desired, faults=faults)
        fault_counts = sandbox.state().get("faults", {})
    minimum = _minimum(sizes)
    slowdown_push = faulty["timings"]["push"] / clean["timings"]["push"]
    slowdown_apply = faulty["apply_wall"] / clean["apply_wall"]
    result.numbers = {
        "faults": faults,
        "faults_injected": fault_counts,
        "minimum_write_requests": minimum,
        "clean": clean,
        "faulty": faulty,
        "slowdown_push": slowdown_push,
        "slowdown_whole_apply": slowdown_apply,
    }
    duplicates = faulty["server_write_applied"] - minimum
    result.checks = [
        Check(
            "final membership equals the plan (1 = yes)",
            float(faulty["final_equals_plan"]),
            1.0,
            "equal",
            "count",
        ),
        Check(
            "writes applied by the server beyond the minimum (duplicates)",
            duplicates,
            0,
            "equal",
            "count",
        ),
    ]
    result.notes = [
        (
            f"push {faulty['timings']['push']:.2f} s with faults vs {clean['timings']['push']:.2f} s "
            f"without: {slowdown_push:.1f}x slower; whole apply {slowdown_apply:.1f}x"
        ),
        (
            f"{faulty['client_requests']} requests sent ({faulty['client_retries']} retries); "
            f"{faulty['resumes']} resume(s) after retries ran out"
        ),
        f"faults injected: {fault_counts}",
    ]
    return result
