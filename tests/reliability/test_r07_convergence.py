"""R7: convergence, property-based over (live, desired) pairs of up to thousands of ids.

Shapes: either side empty, both empty, equal, disjoint, desired a superset or a subset of
live, or a random overlap; all three modes. Must hold after apply and verification: the
segment is what the mode asks for, a new plan is empty, and a second sync sends 0 writes.
"""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st
from reliability_kit import Wire, make_segment, property_settings, registered_ids, session_for

SHAPES = ["empty-live", "empty-desired", "both-empty", "equal", "disjoint", "superset", "subset"]
SHAPES += ["overlap"]
POOL = 3000
_codes = itertools.count()

sizes = st.one_of(st.integers(0, 12), st.integers(0, 1500))


@st.composite
def pairs(draw: st.DrawFn) -> tuple[str, int, int, int, int]:
    """(shape, n_live, n_desired, n_common, seed) with n_live + n_desired - n_common <= POOL."""
    shape = draw(st.sampled_from(SHAPES))
    a, b = draw(sizes), draw(sizes)
    seed = draw(st.integers(0, 2**32 - 1))
    if shape == "empty-live":
        return shape, 0, b, 0, seed
    if shape == "empty-desired":
        return shape, a, 0, 0, seed
    if shape == "both-empty":
        return shape, 0, 0, 0, seed
    if shape == "equal":
        return shape, a, a, a, seed
    if shape == "disjoint":
        return shape, a, b, 0, seed
    if shape == "superset":  # desired holds all of live and more
        return shape, a, a + b, a, seed
    if shape == "subset":  # desired is part of live
        return shape, a + b, a, a, seed
    common = draw(st.integers(0, min(a, b)))
    return shape, a, b, common, seed


def build(pool: list[str], n_live: int, n_desired: int, n_common: int, seed: int):
    chosen = random.Random(seed).sample(pool, n_live + n_desired - n_common)
    live = chosen[:n_live]
    desired = chosen[n_live - n_common : n_live - n_common + n_desired]
    assert len(set(live) & set(desired)) == n_common
    return live, desired


def test_r7_sync_converges_for_any_live_and_desired(big_sandbox, tmp_path) -> None:
    big_sandbox.configure(delete_delay=0.0)
    pool = registered_ids(big_sandbox.model, POOL)
    wire = Wire()
    session = session_for(
        big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire, batch_size=250
    )

    @property_settings(examples=20)
    @given(pair=pairs(), mode=st.sampled_from(["mirror", "mirror", "add", "remove"]))
    def check(pair: tuple[str, int, int, int, int], mode: str) -> None:
        _, n_live, n_desired, n_common, seed = pair
        live, desired = build(pool, n_live, n_desired, n_common, seed)
        code = f"r7-{next(_codes)}"
        make_segment(big_sandbox.model, code, live)
        plan = session.plan(code, desired, mode=mode, allow_mass_removal=True)
        result = session.apply(plan)
        assert result.status == "verified", result.message
        expected = {
            "mirror": set(desired),
            "add": set(live) | set(desired),
            "remove": set(live) - set(desired),
        }[mode]
        assert big_sandbox.member_ids(code) == expected
        assert result.n_added == plan.n_add
        assert result.n_removed == plan.n_remove
        assert result.n_verified == plan.n_add + plan.n_remove
        # a new plan is empty, and a second sync sends no write
        again = session.plan(code, desired, mode=mode, allow_mass_removal=True)
        assert again.is_empty()
        writes = len(wire.writes())
        assert session.apply(again).status == "verified"
        assert len(wire.writes()) == writes

    try:
        check()
    finally:
        session.close()
