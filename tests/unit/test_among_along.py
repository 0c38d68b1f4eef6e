"""``MemberReader.among`` with other reads in its pool (the stale check's segment and
total): they overlap the lookups, stay within the concurrency, go only when they should,
and their errors come first."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from segwidgets._traits import ServerTraits
from segwidgets._verify import MemberReader


class FakeClient:
    """``members_among`` over a fixed member set; counts what is in flight."""

    def __init__(self, members: set[str], *, in_on_id: bool | None, refuse: bool = False):
        self.traits = ServerTraits(in_on_id=in_on_id)
        self.members = members
        self.refuse = refuse
        self.lookups = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.gate: threading.Barrier | None = None

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def members_among(self, code: str, ids: Sequence[str], *, chunk: int) -> set[str] | None:
        assert len(ids) <= chunk
        self.enter()
        try:
            if self.gate is not None:
                self.gate.wait()
            time.sleep(0.002)
            with self.lock:
                self.lookups += 1
            if self.refuse:
                self.traits.learn(in_on_id=False)
                return None
            return {i for i in ids if i in self.members}
        finally:
            self.leave()


def reader(client: FakeClient, concurrency: int) -> MemberReader:
    return MemberReader(
        client,  # type: ignore[arg-type]
        page_size=None,
        concurrency=concurrency,
        sleep=lambda _s: None,
        clock=time.monotonic,
    )


IDS = [f"c{i:04d}" for i in range(1000)]


def counted(client: FakeClient, calls: list[str], name: str):
    def read() -> None:
        client.enter()
        try:
            time.sleep(0.002)
            calls.append(name)
        finally:
            client.leave()

    return read


def test_along_overlaps_the_first_lookup() -> None:
    # The first lookup and the read along wait for each other: sent one after the other,
    # the barrier would break.
    client = FakeClient(set(IDS[::2]), in_on_id=None)
    client.gate = threading.Barrier(2, timeout=5)
    met: list[str] = []

    def along() -> None:
        assert client.gate is not None
        client.gate.wait()
        met.append("segment")

    found = reader(client, 8).among("s", IDS[:100], None, along=[along])
    assert found == set(IDS[:100:2])
    assert met == ["segment"]


@pytest.mark.parametrize("in_on_id", [None, True])
def test_every_read_goes_once_within_the_concurrency(in_on_id: bool | None) -> None:
    client = FakeClient(set(IDS[:500]), in_on_id=in_on_id)
    calls: list[str] = []
    found = reader(client, 3).among(
        "s",
        IDS,
        None,
        along=[counted(client, calls, "segment")],
        if_in=[counted(client, calls, "total")],
    )
    assert found == set(IDS[:500])
    assert client.lookups == 10
    assert sorted(calls) == ["segment", "total"]
    assert client.max_in_flight <= 3


def test_refused_in_sends_along_but_not_if_in() -> None:
    client = FakeClient(set(IDS), in_on_id=None, refuse=True)
    calls: list[str] = []
    found = reader(client, 8).among(
        "s",
        IDS,
        None,
        along=[counted(client, calls, "segment")],
        if_in=[counted(client, calls, "total")],
    )
    assert found is None
    assert client.lookups == 1  # the first lookup alone, refused
    assert calls == ["segment"]


class NotEditableError(Exception):
    pass


def test_an_along_error_comes_before_a_lookup_error() -> None:
    class Broken(FakeClient):
        def members_among(self, code: str, ids: Sequence[str], *, chunk: int) -> set[str] | None:
            msg = "lookup failed"
            raise RuntimeError(msg)

    def along() -> None:
        raise NotEditableError

    with pytest.raises(NotEditableError):
        reader(Broken(set(), in_on_id=True), 4).among("s", IDS, None, along=[along])
    # and alone, the lookup's error
    with pytest.raises(RuntimeError, match="lookup failed"):
        reader(Broken(set(), in_on_id=True), 4).among("s", IDS, None)


def test_no_ids_still_sends_the_reads() -> None:
    client = FakeClient(set(), in_on_id=True)
    calls: list[str] = []
    found = reader(client, 8).among(
        "s",
        [],
        None,
        along=[counted(client, calls, "segment")],
        if_in=[counted(client, calls, "total")],
    )
    assert found == set()
    assert sorted(calls) == ["segment", "total"]
    assert client.lookups == 0
