"""Benchmark (not a test): the sandbox with a million customers and a million-member segment.

Run: ``.venv/bin/python tests/sandbox/bench_sandbox_scale.py [customers]``. Prints the time
and resident memory of start-up, of filling one segment with every live customer, and of
walking that segment page by page over loopback HTTP. Bounded: one walk, one server.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx

from segwidgets import sandbox


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(customers: int = 1_035_000) -> dict[str, float]:
    out: dict[str, float] = {"customers": customers}
    base = rss_mb()
    t0 = time.perf_counter()
    handle = sandbox.start(customers=customers, seed=1)
    out["start_s"] = time.perf_counter() - t0
    out["start_rss_mb"] = rss_mb() - base
    out["newsletter_members"] = handle.state()["segments"]["newsletter"]["memberCount"]

    t0 = time.perf_counter()
    handle.model.seed_records(segments=[{"code": "everyone", "name": "Everyone"}])
    out["big_members"] = handle.model.fill_segment("everyone")
    out["fill_s"] = time.perf_counter() - t0
    out["after_fill_rss_mb"] = rss_mb() - base

    creds = handle.credentials
    with httpx.Client(timeout=60) as http:
        token = http.post(
            creds.token_url,
            auth=(creds.client_id, creds.client_secret.get_secret_value()),
            data={
                "grant_type": "password",
                "username": creds.username,
                "password": creds.password.get_secret_value(),
                "tenantType": "merchant",
                "tenantId": creds.merchant_code,
            },
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        url = creds.service_url("segmentation") + "/segments/everyone/members"

        t0 = time.perf_counter()
        seen = 0
        pages = 0
        params: dict[str, object] = {"limit": 1000}
        for _ in range(10_000):
            body = http.get(url, params=params).json()
            seen += len(body["members"])
            pages += 1
            cursor = body["meta"]["cursors"]["next"]
            if cursor is None:
                break
            params = {"limit": 1000, "cursor": cursor}
        out["walk_s"] = time.perf_counter() - t0
        out["walk_pages"] = pages
        out["walk_members"] = seen
        out["walk_ms_per_page"] = out["walk_s"] / pages * 1000

        customers_url = creds.service_url("customer") + "/customers"
        t0 = time.perf_counter()
        last = http.get(customers_url, params={"limit": 1, "offset": customers - 1}).json()
        out["customer_last_page_ms"] = (time.perf_counter() - t0) * 1000
        email = last["customers"][0]["emailAddress"]
        t0 = time.perf_counter()
        http.get(customers_url, params={"filters": json.dumps({"emailAddress": email})})
        out["email_lookup_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        http.get(customers_url, params={"filters": json.dumps({"isAnonymous": False})})
        out["first_guest_filter_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        http.get(customers_url, params={"filters": json.dumps({"isAnonymous": False})})
        out["cached_guest_filter_ms"] = (time.perf_counter() - t0) * 1000
    out["peak_rss_mb"] = rss_mb() - base
    handle.stop()
    return out


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_035_000)
    for key, value in result.items():
        print(f"{key:24s} {value:12.2f}")
