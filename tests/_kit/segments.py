"""Segments seeded in the sandbox's model, and the member requests a session sent."""

from __future__ import annotations

from typing import Any

import polars as pl

import segwidgets as sw

__all__ = ["member_reads", "registered", "seed", "writes"]


def registered(sandbox: Any, n: int) -> list[str]:
    """The first ``n`` ids (sorted) of registered customers that are not deleted."""
    frame = sandbox.model.customers_frame()
    ids = (
        frame.filter(~pl.col("isAnonymous") & (pl.col("status") != "deleted"))
        .get_column("id")
        .sort()
        .to_list()
    )
    assert len(ids) >= n
    return ids[:n]


def seed(sandbox: Any, code: str, ids: list[str]) -> None:
    """A fixed segment ``code`` holding ``ids``."""
    sandbox.model.seed_records(segments=[{"code": code, "name": code, "type": "fixed"}])
    if ids:
        sandbox.model.add_members(code, ids)


def member_reads(session: sw.SegmentSession) -> int:
    """Member-list requests the session sent (pages and ``$in`` lookups)."""
    return session.client.stats.by_route.get(("GET", "members.list"), 0)


def writes(session: sw.SegmentSession) -> int:
    """Requests the session sent that were not reads."""
    return sum(n for (method, _), n in session.client.stats.by_route.items() if method != "GET")
