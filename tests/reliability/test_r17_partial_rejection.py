"""R17: a batch of 100 refused because 1 (or 2) of its ids are invalid.

Three ways a Shopgate may answer: a 2xx that applies the rest and names the refused items
in its body (the platform's batch convention, the sandbox default), a 400 that applies
nothing and names them, a 400 that names nothing (segwidgets then bisects). Must
hold: the bad ids are isolated in at most 2·⌈log2 100⌉ = 14 extra requests each; every other
id is applied; the failed ids carry the server's reason; and the next run sends only the ids
that failed (which succeed once the cause is fixed).
"""

from __future__ import annotations

import math
import random

import pytest
from reliability_kit import Wire, make_segment, registered_ids, session_for

BATCH = 100
BOUND = 2 * math.ceil(math.log2(BATCH))  # 14


@pytest.mark.parametrize(
    "refusal",
    [("2xx-body", True), ("400", True), ("400", False)],
    ids=["R17-2xx-body", "R17-item-errors", "R17-bisect"],
)
@pytest.mark.parametrize("n_bad", [1, 2], ids=lambda n: f"R17-bad{n}")
@pytest.mark.parametrize("seed", [1, 2])
def test_r17_bad_ids_isolated_rest_applied_next_run_retries_only_them(
    big_sandbox, tmp_path, refusal: tuple[str, bool], n_bad: int, seed: int
) -> None:
    refused_items, item_errors = refusal
    model = big_sandbox.model
    big_sandbox.configure(refused_items=refused_items, item_errors=item_errors)
    good = registered_ids(model, BATCH - n_bad)
    # bad: customers that are deleted now (Shopgate refuses them) and come back later
    bad = [
        model.add_customer(emailAddress=f"r17.{seed}.{n}@example.org")["id"] for n in range(n_bad)
    ]
    for cid in bad:
        model.update_customer(cid, status="deleted")
    desired = good + bad
    random.Random(seed).shuffle(desired)
    make_segment(model, "r17")
    journal = tmp_path / "j.sqlite3"
    wire = Wire()
    with session_for(
        big_sandbox.credentials, journal, wire=wire, batch_size=BATCH, concurrency=1
    ) as session:
        plan = session.plan("r17", desired, check_ids=False)
        assert plan.n_add == BATCH  # one batch of 100
        result = session.apply(plan)
    assert result.status == "partial"
    assert sorted(result.failed["customer_id"]) == sorted(bad)
    assert all("deleted" in (e or "") for e in result.failed["error"]) or not item_errors
    assert result.n_added == BATCH - n_bad  # refused ids never count as applied
    assert big_sandbox.member_ids("r17") == set(good)
    writes = wire.writes()
    assert len(writes) - 1 <= BOUND * n_bad
    if refused_items == "2xx-body":
        # one request: Shopgate applied the rest and named the refused ids in its answer
        assert len(writes) == 1
        assert sorted(writes[0].ids) == sorted(desired)
    else:
        if item_errors:
            assert len(writes) == 2  # the refused batch, then the rest without the named ids
        # every good id went out in exactly one accepted request
        accepted = [i for e in writes if e.ok for i in e.ids]
        assert sorted(accepted) == sorted(good)

    # the cause is fixed; the next run sends only the ids that failed
    for cid in bad:
        model.update_customer(cid, status="active")
    again = Wire()
    with session_for(big_sandbox.credentials, journal, wire=again, batch_size=BATCH) as session:
        plan = session.plan("r17", desired, check_ids=False)
        assert sorted(plan.adds["customer_id"]) == sorted(bad)
        assert plan.n_remove == 0
        result = session.apply(plan)
        assert result.status == "verified"
    assert sorted(again.sent_ids("add")) == sorted(bad)
    assert big_sandbox.member_ids("r17") == set(desired)


def test_r17_ids_that_stay_invalid_fail_again_in_one_request(big_sandbox, tmp_path) -> None:
    model = big_sandbox.model
    good = registered_ids(model, 98)
    unknown = ["00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000a2"]
    make_segment(model, "r17b")
    journal = tmp_path / "j.sqlite3"
    with session_for(big_sandbox.credentials, journal, wire=Wire(), batch_size=BATCH) as session:
        first = session.apply(session.plan("r17b", good + unknown, check_ids=False))
    assert sorted(first.failed["customer_id"]) == unknown
    again = Wire()
    with session_for(big_sandbox.credentials, journal, wire=again, batch_size=BATCH) as session:
        second = session.apply(session.plan("r17b", good + unknown, check_ids=False))
    # Only the invalid ids were left to send and all were refused: nothing was applied.
    assert second.status == "failed"
    assert sorted(second.failed["customer_id"]) == unknown
    assert [sorted(e.ids) for e in again.writes()] == [unknown]
