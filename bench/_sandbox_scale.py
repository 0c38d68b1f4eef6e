"""Target 10: the sandbox itself at scale (run only when named: ``--only 10``).

The emulator with about a million customers and a segment holding every live customer, in
this process (its memory is what is measured): start-up, filling the segment, walking it
over loopback HTTP by offset pages of 100 with plain httpx, and the customer calls the
resolution leans on (the last page by offset, a lookup by email, the guest filter first and
cached). The other targets run the sandbox in a process of its own and measure the client;
this one measures what the sandbox costs, so that those numbers stay about the client.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import psutil

from segwidgets import sandbox

from ._push import sign_in
from ._report import Check, TargetResult
from ._sizes import Sizes

__all__ = ["run_sandbox_scale"]

_PAGE = 100
_MEMORY_LIMIT_GIB = 1.0
#: a lookup by email is answered from an index: about the cost of any one small page
_LOOKUP_LIMIT = 3.0


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _walk(http: httpx.Client, url: str) -> tuple[int, int]:
    """Every page of the segment by offset until a short one: (members, requests)."""
    seen = requests = offset = 0
    while True:
        body = http.get(url, params={"limit": _PAGE, "offset": offset}).json()
        requests += 1
        n = len(body["members"])
        seen += n
        offset += n
        if n < _PAGE:
            return seen, requests


def _best(call: Any, repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def run_sandbox_scale(sizes: Sizes) -> TargetResult:
    """Target 10: the sandbox's start, fill, walk and customer calls at ``sandbox_customers``."""
    result = TargetResult(10, "Sandbox at scale")
    customers = sizes.sandbox_customers
    repeat = 5 if sizes.repeat_short else 1
    base = _rss()
    start = time.perf_counter()
    handle = sandbox.start(customers=customers, seed=1)
    numbers: dict[str, Any] = {"customers": customers}
    try:
        numbers["start_seconds"] = time.perf_counter() - start
        numbers["start_rss_growth"] = _rss() - base
        start = time.perf_counter()
        handle.model.seed_records(segments=[{"code": "everyone", "name": "Everyone"}])
        members = handle.model.fill_segment("everyone")
        numbers["fill_seconds"] = time.perf_counter() - start
        numbers["members"] = members
        numbers["fill_rss_growth"] = _rss() - base
        creds = handle.credentials
        with httpx.Client(timeout=60) as http:
            http.headers["Authorization"] = f"Bearer {sign_in(http, creds)}"
            url = creds.service_url("segmentation") + "/segments/everyone/members"
            start = time.perf_counter()
            walked, requests = _walk(http, url)
            numbers["walk_seconds"] = time.perf_counter() - start
            numbers["walk_members"] = walked
            numbers["walk_requests"] = requests
            customers_url = creds.service_url("customer") + "/customers"
            last = http.get(customers_url, params={"limit": 1, "offset": customers - 1}).json()
            email = last["customers"][0]["emailAddress"]
            numbers["last_page_seconds"] = _best(
                lambda: http.get(customers_url, params={"limit": 1, "offset": customers - 1}),
                repeat,
            )
            by_email = {"filters": json.dumps({"emailAddress": email})}
            numbers["email_lookup_seconds"] = _best(
                lambda: http.get(customers_url, params=by_email), repeat
            )
            guests = {"filters": json.dumps({"isAnonymous": False})}
            start = time.perf_counter()
            http.get(customers_url, params=guests)
            numbers["guest_filter_first_seconds"] = time.perf_counter() - start
            numbers["guest_filter_cached_seconds"] = _best(
                lambda: http.get(customers_url, params=guests), repeat
            )
        numbers["peak_rss_growth"] = _rss() - base
    finally:
        handle.stop()
    result.numbers = numbers
    expected_requests = numbers["members"] // _PAGE + 1  # a full page is never the last one
    lookup_ratio = numbers["email_lookup_seconds"] / numbers["last_page_seconds"]
    result.checks = [
        Check(
            "every member walked once (1 = yes)",
            float(numbers["walk_members"] == numbers["members"]),
            1.0,
            "equal",
            "count",
        ),
        Check(
            "walk requests (members // 100 + 1)",
            float(numbers["walk_requests"]),
            float(expected_requests),
            "equal",
            "count",
        ),
        Check(
            "sandbox memory growth: start + fill + walk",
            numbers["peak_rss_growth"] / 2**30,
            _MEMORY_LIMIT_GIB,
            unit="GiB",
        ),
        Check("lookup by email / one customer page by offset", lookup_ratio, _LOOKUP_LIMIT),
    ]
    walk_ms = numbers["walk_seconds"] / numbers["walk_requests"] * 1000
    result.notes = [
        (
            f"{customers:,} customers: started in {numbers['start_seconds']:.2f} s, "
            f"a segment of {numbers['members']:,} filled in {numbers['fill_seconds']:.2f} s, "
            f"walked in {numbers['walk_requests']:,} pages in {numbers['walk_seconds']:.2f} s "
            f"({walk_ms:.2f} ms a page); memory +{numbers['peak_rss_growth'] / 2**20:.0f} MB"
        ),
        (
            f"lookup by email {numbers['email_lookup_seconds'] * 1000:.1f} ms, last page by "
            f"offset {numbers['last_page_seconds'] * 1000:.1f} ms, guest filter "
            f"{numbers['guest_filter_first_seconds'] * 1000:.1f} ms first / "
            f"{numbers['guest_filter_cached_seconds'] * 1000:.1f} ms cached"
        ),
    ]
    return result
