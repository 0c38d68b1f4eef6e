"""R20 (load part): 50 concurrent clients for about 10 s against a sandbox process.

The schemathesis part of R20 is ``tests/emulator/test_openapi_schemathesis.py``. Here the
sandbox runs as its own process (``python -m segwidgets.sandbox --port 0``) so it does not
share the test's interpreter lock. 50 clients, each in a thread with its own connection pool,
add, remove and read the members of their own segment and add to one shared segment; a few
also send malformed requests. Every loop is bounded in operations and in time. Must hold: no
5xx anywhere (in the clients or in the sandbox's own counters), malformed requests get 4xx,
every segment ends exactly as its client's bookkeeping says (and its memberCount agrees), and
nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import segwidgets as sw
from segwidgets import sandbox as sandbox_package
from segwidgets._client import ShopgateClient
from segwidgets.sandbox._tokens import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
)

CLIENTS = 50
SECONDS = 10.0
MAX_OPS = 400  # per client
LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 in /proc


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets process ``pid`` listens on (hex, as in /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))
    found = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                found.append(local.split(":")[0])
    return found


@pytest.fixture
def sandbox_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "segwidgets.sandbox"),
            *("--port", "0", "--customers", "3000", "--delete-delay", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", first)
        assert match, first + process.stderr.read()  # type: ignore[union-attr]
        yield process, match.group(1)
    finally:
        process.terminate()
        process.wait(15)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]


def credentials(url: str) -> sw.Credentials:
    return sw.Credentials(
        merchant_code="DEMO",
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        username=SANDBOX_USERNAME,
        password=SANDBOX_PASSWORD,
        base_url=url + "/{service}",
    )


class Worker:
    """One client's bounded random workload and its bookkeeping."""

    def __init__(self, number: int, url: str, pool: list[str], deadline: float) -> None:
        self.code = f"load-{number}"
        self.client = ShopgateClient(credentials(url), max_connections=2, sleep=lambda _s: None)
        self.rng = random.Random(number)
        self.pool = pool
        self.deadline = deadline
        self.expected: set[str] = set()
        self.shared_added: set[str] = set()
        self.errors: list[str] = []
        self.bad_statuses: list[int] = []
        self.ops = 0
        self.url = url
        self.malformed = number % 10 == 0

    def run(self) -> None:
        try:
            self.client.create_segment(self.code, self.code)
            while time.monotonic() < self.deadline and self.ops < MAX_OPS:
                self.ops += 1
                self.step()
        except Exception as exc:  # noqa: BLE001 - every error is reported by the test
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.client.close()

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.3:
            ids = self.rng.sample(self.pool, self.rng.randint(1, 40))
            self.client.add_members(self.code, ids)
            self.expected.update(ids)
        elif roll < 0.5 and self.expected:
            ids = self.rng.sample(sorted(self.expected), min(len(self.expected), 20))
            self.client.remove_members(self.code, ids)
            self.expected.difference_update(ids)
        elif roll < 0.65:
            ids = self.rng.sample(self.pool, 5)
            self.client.add_members("shared", ids)
            self.shared_added.update(ids)
        elif roll < 0.85:
            seen = {m["id"] for page in self.client.member_pages(self.code) for m in page.members}
            if seen != self.expected:
                self.errors.append(
                    f"{self.code}: read {len(seen)} members, expected {len(self.expected)}"
                )
        elif roll < 0.95 or not self.malformed:
            self.client.get_segment(self.code)
        else:
            self.send_malformed()

    def send_malformed(self) -> None:
        base = f"{self.url}/segmentation/v1/merchants/DEMO/segments/{self.code}/members"
        token = self.client._tokens.current().value.get_secret_value()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(timeout=30) as raw:
            for method, content in (
                ("POST", b"{not json"),
                ("POST", b'{"members": "nope"}'),
                ("DELETE", b'{"members": [{"id": 5}]}'),
                ("PUT", b"{}"),
            ):
                status = raw.request(method, base, content=content, headers=headers).status_code
                if not 400 <= status < 500:
                    self.bad_statuses.append(status)


def test_r20_fifty_clients_no_5xx_consistent_loopback_only(sandbox_process) -> None:
    process, url = sandbox_process
    assert set(listening_addresses(process.pid)) <= LOOPBACK
    assert listening_addresses(process.pid)
    setup = ShopgateClient(credentials(url))
    page = setup.customer_page(filters={"isAnonymous": False, "status": "active"}, limit=1000)
    pool = [c["id"] for c in page.customers]
    setup.create_segment("shared", "shared")
    deadline = time.monotonic() + SECONDS
    workers = [Worker(n, url, pool, deadline) for n in range(CLIENTS)]
    threads = [threading.Thread(target=w.run, name=w.code) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 120)
    assert not [t.name for t in threads if t.is_alive()]

    assert [e for w in workers for e in w.errors] == []
    assert [s for w in workers for s in w.bad_statuses] == []
    assert sum(w.ops for w in workers) >= CLIENTS * 10  # the load was real
    # every segment is exactly what its client did to it, and its count agrees
    for worker in workers:
        members = {m["id"] for p in setup.member_pages(worker.code) for m in p.members}
        assert members == worker.expected, worker.code
        assert setup.get_segment(worker.code)["memberCount"] == len(members)
    shared = {m["id"] for p in setup.member_pages("shared") for m in p.members}
    assert shared == set().union(*(w.shared_added for w in workers))
    state: dict[str, Any] = httpx.get(f"{url}/_sandbox/state", timeout=30).json()
    statuses = {s for by in state["requests"].values() for s in by}
    assert not {s for s in statuses if s.startswith("5")}, statuses
    setup.close()
    assert set(listening_addresses(process.pid)) <= LOOPBACK


def test_r20_in_process_sandboxes_listen_on_loopback_only(big_sandbox) -> None:
    """The sandboxes of this test process (the shared one included) bind 127.0.0.1 only."""
    with sandbox_package.start(customers=10) as extra:
        addresses = listening_addresses(os.getpid())
        assert addresses
        assert set(addresses) <= LOOPBACK
        assert extra.url.startswith("http://127.0.0.1:")
    assert big_sandbox.url.startswith("http://127.0.0.1:")
