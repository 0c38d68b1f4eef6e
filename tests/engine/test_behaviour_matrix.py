"""The whole loop against each way the real Shopgate may behave where no source says.

``shared/shopgate-api.md`` marks several behaviours [likely] or [unknown]; the sandbox offers
each as a switch (``docs/sandbox.md``). Every cell below starts from the sandbox's defaults
(the most likely real behaviour), flips one switch, or all of them, and runs the loop an
analyst runs, on a segment of several pages:

read the list → resolve it with each strategy → plan → apply, killed part-way → resume in a
fresh session → verify → undo.

The outcome must be the same in every cell: the same people matched, the same plan, the
segment equal to the plan after the resume and equal to where it started after the undo.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
from _kit.writes import Crash, CrashingTransport

import segwidgets as sw

#: One switch flipped per cell; ``all-flipped`` flips every one at once.
CELLS: dict[str, dict[str, Any]] = {
    "default": {},
    "member-paging-cursor": {"member_paging": "cursor"},
    "over-limit-clamped": {"page_limit_mode": "clamp"},
    "pages-of-1000": {"max_page_size": 1000},
    "refused-items-400": {"refused_items": "400"},
    "email-filter-insensitive": {"email_filter": "insensitive"},
    "filter-in-off": {"filter_in": "off"},
    "filter-in-on-emails-too": {"filter_in": "all"},
    "total-without-pending-deletes": {"total_counts_pending": False},
    "delete-non-member-item-error": {"delete_non_member": "item-error"},
    "member-filter-ignored": {"member_filter": "ignored"},
    # A batch over the maximum only happens below the engine's batch size of 1000.
    "small-batches-400": {"max_members_per_request": 60},
    "small-batches-413": {"max_members_per_request": 60, "oversize_status": 413},
    "signin-error-platform": {"signin_error": "platform"},
    "all-flipped": {
        "member_paging": "cursor",
        "page_limit_mode": "clamp",
        "refused_items": "400",
        "email_filter": "insensitive",
        "filter_in": "off",
        "member_filter": "ignored",
        "total_counts_pending": False,
        "delete_non_member": "item-error",
        "max_members_per_request": 60,
        "oversize_status": 413,
        "signin_error": "platform",
    },
}

N_CURRENT = 250  # three pages of 100
SEGMENT = "matrix"


def people(sandbox: Any) -> list[dict[str, Any]]:
    """Registered, not deleted customers whose email no other registered customer shares."""
    customers = [c for c in sandbox.model.customers() if not c["isAnonymous"]]
    counts = collections.Counter(c["emailAddress"].lower() for c in customers)
    return [
        c for c in customers if c["status"] != "deleted" and counts[c["emailAddress"].lower()] == 1
    ]


def input_list(chosen: list[dict[str, Any]], sandbox: Any) -> list[str]:
    """The emails of ``chosen`` as a newsletter tool would export them: lower-cased (so a
    customer stored as ``Anna.Schmidt@GMX.de`` is listed as ``anna.schmidt@gmx.de``), every
    fifth upper-cased, plus one nobody has and one only a guest has."""
    emails = [c["emailAddress"].lower() for c in chosen]
    emails = [e.upper() if i % 5 == 0 else e for i, e in enumerate(emails)]
    registered = {
        c["emailAddress"].lower() for c in sandbox.model.customers() if not c["isAnonymous"]
    }
    guest_only = next(
        c["emailAddress"]
        for c in sandbox.model.customers()
        if c["isAnonymous"] and c["emailAddress"].lower() not in registered
    )
    return [*emails, "nobody.at.all@example.org", guest_only]


@pytest.mark.parametrize("cell", list(CELLS))
def test_the_whole_loop_gives_the_same_result_whichever_way_shopgate_behaves(
    sandbox, tmp_path, cell: str
) -> None:
    sandbox.configure(delete_delay=0.2, **CELLS[cell])
    everyone = people(sandbox)
    assert any(c["emailAddress"] != c["emailAddress"].lower() for c in everyone[50:350])
    current = {c["id"] for c in everyone[:N_CURRENT]}
    desired_people = everyone[50 : N_CURRENT + 100]
    desired = {c["id"] for c in desired_people}
    journal = tmp_path / "journal.sqlite3"

    with sw.SegmentSession(sandbox.credentials, journal=journal, verify_timeout=20) as session:
        session.create_segment(SEGMENT, "Matrix")
        sandbox.model.fill_segment(SEGMENT, sorted(current))
        assert set(session.members(SEGMENT)["customer_id"]) == current

        members = sw.read_members(input_list(desired_people, sandbox))
        resolutions = {s: session.resolve(members, strategy=s) for s in ("lookup", "scan", "auto")}
        for strategy, resolution in resolutions.items():
            assert set(resolution.customer_ids) == desired, strategy
            outcomes = resolution.report.select("email", "outcome").sort("email")
            assert outcomes.equals(
                resolutions["scan"].report.select("email", "outcome").sort("email")
            )
            assert collections.Counter(resolution.report["outcome"]) == {
                "matched": len(desired),
                "unmatched": 1,
                "guest_only": 1,
            }, strategy

        plan = session.plan(SEGMENT, resolutions["auto"])
        assert set(plan.adds["customer_id"]) == desired - current
        assert set(plan.removes["customer_id"]) == current - desired

    crashing = sw.SegmentSession(
        sandbox.credentials,
        journal=journal,
        batch_size=20,
        concurrency=2,
        transport=CrashingTransport(after=3),
    )
    with pytest.raises(Crash):
        crashing.apply(plan)
    crashing.close()

    with sw.SegmentSession(sandbox.credentials, journal=journal, verify_timeout=20) as fresh:
        run_id = fresh.history(SEGMENT)["run_id"][0]
        result = fresh.resume(run_id)
        assert result.status == "verified", result
        assert result.n_failed == 0
        assert sandbox.member_ids(SEGMENT) == desired

        undo = fresh.undo(run_id)
        assert set(undo.adds["customer_id"]) == current - desired
        assert set(undo.removes["customer_id"]) == desired - current
        assert fresh.apply(undo).status == "verified"
        assert sandbox.member_ids(SEGMENT) == current
        assert set(fresh.members(SEGMENT)["customer_id"]) == current


@pytest.mark.parametrize("refused_items", ["2xx-body", "400"])
def test_refused_members_fail_with_shopgates_reason_and_never_count_as_applied(
    sandbox, tmp_path, refused_items: str
) -> None:
    sandbox.configure(refused_items=refused_items)
    everyone = people(sandbox)
    ids = [c["id"] for c in everyone[:230]]
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j.sqlite3") as session:
        session.create_segment(SEGMENT, "Matrix")
        plan = session.plan(SEGMENT, ids)
        # Deleted after planning: Shopgate refuses them when the push comes.
        gone = ids[::50]
        for customer_id in gone:
            sandbox.model.update_customer(customer_id, status="deleted")
        result = session.apply(plan)
    assert set(result.failed["customer_id"]) == set(gone)
    assert result.n_added == len(ids) - len(gone)
    assert all(result.failed["error"].str.contains("deleted|no customer"))
    assert sandbox.member_ids(SEGMENT) == set(ids) - set(gone)
    assert result.status != "verified"
