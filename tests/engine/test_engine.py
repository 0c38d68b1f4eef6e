"""SegmentSession end to end over real loopback HTTP against the sandbox."""

from __future__ import annotations

import threading

import polars as pl
import pytest
from _kit.credentials import credentials_like
from _kit.writes import Crash, CrashingTransport, member_writes

import segwidgets as sw
from segwidgets._progress import ProgressEvent


@pytest.fixture
def session(sandbox, tmp_path):
    s = sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "journal.sqlite3", verify_timeout=10
    )
    yield s
    s.close()


def registered(session: sw.SegmentSession, n: int) -> pl.DataFrame:
    """n registered, non-deleted customers whose email no other registered customer has."""
    page = session.client.customer_page(filters={"isAnonymous": False}, limit=500)
    rows = [c for c in page.customers if c["status"] != "deleted"]
    frame = pl.DataFrame(
        {"customer_id": [c["id"] for c in rows], "email": [c["emailAddress"].lower() for c in rows]}
    )
    counts = frame.group_by("email").len()
    unique = frame.join(counts.filter(pl.col("len") == 1), on="email", how="semi")
    assert unique.height >= n
    return unique.head(n)


def test_full_sync_is_verified_and_converges(session, sandbox) -> None:
    session.create_segment("spring", "Spring promo")
    people = registered(session, 40)
    members = sw.read_members(people.select("email"))
    resolution = session.resolve(members)
    assert resolution.n_matched == 40
    plan = session.plan("spring", resolution)
    assert (plan.n_add, plan.n_remove, plan.n_unchanged) == (40, 0, 0)
    result = session.apply(plan)
    assert result.status == "verified", result.message
    assert result.n_added == 40
    assert result.n_verified == 40
    assert sandbox.member_ids("spring") == set(people["customer_id"])
    # a second plan from the same input is empty, and applying it sends no write
    again = session.plan("spring", resolution)
    assert again.is_empty()
    writes = member_writes(sandbox)
    assert session.apply(again).status == "verified"
    assert member_writes(sandbox) == writes
    history = session.history("spring")
    assert history.height == 2
    assert history["status"].to_list() == ["verified", "verified"]


def test_mirror_removes_and_verifies_async_deletes(session, sandbox) -> None:
    sandbox.configure(delete_delay=0.3)
    session.create_segment("s1", "S1")
    people = registered(session, 30)
    ids = people["customer_id"].to_list()
    session.apply(session.plan("s1", ids[:20]))
    plan = session.plan("s1", ids[10:30])
    assert (plan.n_add, plan.n_remove, plan.n_unchanged) == (10, 10, 10)
    result = session.apply(plan)
    assert result.status == "verified"
    assert result.n_removed == 10
    assert sandbox.member_ids("s1") == set(ids[10:30])


def test_deletes_never_applied_end_unverified_with_exact_ids(sandbox, tmp_path) -> None:
    sandbox.configure(delete_delay=None)
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j", verify_timeout=0.5) as s:
        s.create_segment("s2", "S2")
        ids = registered(s, 6)["customer_id"].to_list()
        s.apply(s.plan("s2", ids))
        result = s.apply(s.plan("s2", ids[:3], allow_mass_removal=True))
        assert result.status == "accepted_unverified"
        assert set(result.unverified["customer_id"]) == set(ids[3:])


def test_stale_plan_is_refused_with_zero_writes(session, sandbox) -> None:
    session.create_segment("s3", "S3")
    ids = registered(session, 10)["customer_id"].to_list()
    session.apply(session.plan("s3", ids[:5]))
    plan = session.plan("s3", ids)
    session.client.add_members("s3", [ids[9]])  # someone else changes the segment
    writes = member_writes(sandbox)
    with pytest.raises(sw.StalePlanError, match="changed since this plan was made") as info:
        session.apply(plan)
    assert info.value.n_added_since == 1
    assert member_writes(sandbox) == writes


def test_plan_for_another_segment_or_merchant_is_refused(session, sandbox, tmp_path) -> None:
    session.create_segment("s4", "S4")
    plan = session.plan("s4", registered(session, 2)["customer_id"].to_list())
    with pytest.raises(sw.PlanTargetError, match="not 'other'"):
        session.apply(plan, segment="other")
    saved = plan.save(tmp_path / "plan.json")
    loaded = sw.SegmentPlan.load(saved)
    other = credentials_like(sandbox.credentials, merchant_code="OTHER")
    with sw.SegmentSession(other, journal=tmp_path / "j2") as s2, pytest.raises(sw.PlanTargetError):
        s2.apply(loaded)
    # the same saved plan still applies in the right session
    assert session.apply(loaded).status == "verified"


def test_dynamic_segment_is_not_editable(session) -> None:
    dynamic = session.segments().filter(pl.col("type") == "dynamic")["code"][0]
    with pytest.raises(sw.SegmentNotEditableError, match="Only fixed segments"):
        session.plan(dynamic, ["x"])


def test_dry_run_sends_no_write(session, sandbox) -> None:
    session.create_segment("s5", "S5")
    plan = session.plan("s5", registered(session, 25)["customer_id"].to_list())
    writes = member_writes(sandbox)
    result = session.apply(plan, dry_run=True)
    assert result.status == "dry_run"
    assert result.requests is not None
    assert result.requests["n_members"].sum() == 25
    assert member_writes(sandbox) == writes
    assert sandbox.member_ids("s5") == set()


def test_too_large_batches_are_split(sandbox, tmp_path) -> None:
    sandbox.configure(max_members_per_request=7)
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j", batch_size=20) as s:
        s.create_segment("s6", "S6")
        ids = registered(s, 45)["customer_id"].to_list()
        result = s.apply(s.plan("s6", ids))
        assert result.status == "verified"
        assert sandbox.member_ids("s6") == set(ids)
        assert s.batch_size <= 7


def test_bad_ids_are_isolated_and_the_rest_applied(session, sandbox) -> None:
    session.create_segment("s7", "S7")
    ids = registered(session, 30)["customer_id"].to_list()
    bad = ["00000000-0000-0000-0000-000000000000"]
    result = session.apply(session.plan("s7", ids + bad, check_ids=False))
    assert result.status == "partial"
    assert result.failed["customer_id"].to_list() == bad
    assert sandbox.member_ids("s7") == set(ids)


def test_bad_ids_isolated_by_bisection_without_item_errors(sandbox, tmp_path) -> None:
    # a Shopgate that refuses the whole batch with a 400 naming no item
    sandbox.configure(refused_items="400", item_errors=False)
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j", batch_size=16) as s:
        s.create_segment("s8", "S8")
        ids = registered(s, 15)["customer_id"].to_list()
        bad = ["00000000-0000-0000-0000-00000000000b"]
        result = s.apply(s.plan("s8", ids + bad, check_ids=False))
        assert set(result.failed["customer_id"]) == set(bad)
        assert sandbox.member_ids("s8") == set(ids)


def test_lost_answers_and_rate_limits_converge(sandbox, tmp_path) -> None:
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j", batch_size=10) as s:
        s.create_segment("s9", "S9")
        ids = registered(s, 80)["customer_id"].to_list()
        s.apply(s.plan("s9", ids[:40]))
        sandbox.configure(
            lost_response_rate=0.3,
            error_429_rate=0.2,
            retry_after=["0"],
            error_5xx_rate=0.1,
            fault_seed=7,
            delete_delay=0.0,
        )
        result = s.apply(s.plan("s9", ids[20:], allow_mass_removal=True))
        sandbox.configure(lost_response_rate=0.0, error_429_rate=0.0, error_5xx_rate=0.0)
        assert result.status == "verified", result.message
        assert sandbox.member_ids("s9") == set(ids[20:])
        assert s.plan("s9", ids[20:]).is_empty()


def test_token_expiry_mid_run(sandbox, tmp_path) -> None:
    # 12 batches, two at a time, 50 ms each: the push alone outlives three 0.2 s tokens.
    sandbox.configure(token_ttl=0.2, latency=0.05)
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j", batch_size=5, concurrency=2
    ) as s:
        s.create_segment("s10", "S10")
        ids = registered(s, 60)["customer_id"].to_list()
        result = s.apply(s.plan("s10", ids))
        assert result.status == "verified"
        assert result.seconds > 0.2
        assert s.client.stats.n_token_requests >= 2


def test_progress_and_cancel_then_resume(session, sandbox) -> None:
    session.create_segment("s11", "S11")
    ids = registered(session, 50)["customer_id"].to_list()
    token = sw.CancelToken()
    events: list[ProgressEvent] = []

    def on_progress(event: ProgressEvent) -> None:
        events.append(event)
        if event.phase == "push" and event.batches_done >= 2:
            token.cancel()

    s2 = sw.SegmentSession(
        sandbox.credentials, journal=session.journal, batch_size=5, concurrency=1
    )
    result = s2.apply(s2.plan("s11", ids), progress=on_progress, cancel=token)
    assert result.status == "cancelled"
    assert 0 < result.n_added < 50
    assert result.n_pending == 50 - result.n_added
    assert events
    assert events[-1].members_total == 50
    sent_before = member_writes(sandbox)
    resumed = s2.resume(result.run_id)
    assert resumed.status == "verified"
    assert sandbox.member_ids("s11") == set(ids)
    # only the missing batches were sent: (50 - already added) / 5
    assert member_writes(sandbox) - sent_before == (50 - result.n_added) // 5
    s2.close()


@pytest.mark.parametrize("applied", [False, True], ids=["before-send", "applied-answer-lost"])
def test_crash_then_resume_in_a_fresh_session(sandbox, tmp_path, applied: bool) -> None:
    journal = tmp_path / "j.sqlite3"
    transport = CrashingTransport(3, applied=applied)
    crashing = sw.SegmentSession(
        sandbox.credentials, journal=journal, batch_size=5, concurrency=1, transport=transport
    )
    crashing.create_segment("s12", "S12")
    ids = registered(crashing, 40)["customer_id"].to_list()
    plan = crashing.plan("s12", ids)
    with pytest.raises(Crash):
        crashing.apply(plan)
    crashing.close()
    with sw.SegmentSession(sandbox.credentials, journal=journal) as reader:
        run_id = reader.history("s12")["run_id"][0]
    sent_before = member_writes(sandbox)
    with sw.SegmentSession(sandbox.credentials, journal=journal, batch_size=5) as fresh:
        assert fresh.history("s12")["status"][0] == "interrupted"
        result = fresh.resume(run_id)
        assert result.status == "verified"
    assert sandbox.member_ids("s12") == set(ids)
    # confirmed batches are never re-sent
    assert member_writes(sandbox) - sent_before == (40 - 15 - (5 if applied else 0)) // 5


def test_undo_restores_the_segment(session, sandbox) -> None:
    session.create_segment("s13", "S13")
    ids = registered(session, 20)["customer_id"].to_list()
    session.apply(session.plan("s13", ids[:10]))
    before = sandbox.member_ids("s13")
    run = session.apply(session.plan("s13", ids[5:15]))
    undo = session.undo(run.run_id)
    assert undo.kind == "undo"
    assert set(undo.adds["customer_id"]) == set(ids[:5])
    assert set(undo.removes["customer_id"]) == set(ids[10:15])
    assert session.apply(undo).status == "verified"
    assert sandbox.member_ids("s13") == before
    assert session.history("s13")["kind"].to_list()[0] == "undo"


def test_second_apply_at_once_is_refused(sandbox, tmp_path) -> None:
    sandbox.configure(latency=0.05)
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j", batch_size=2, concurrency=1
    ) as s:
        s.create_segment("s14", "S14")
        ids = registered(s, 10)["customer_id"].to_list()
        plan = s.plan("s14", ids)
        started = threading.Event()
        outcome: dict[str, object] = {}

        def first() -> None:
            outcome["first"] = s.apply(plan, progress=lambda e: started.set())

        worker = threading.Thread(target=first)
        worker.start()
        started.wait(10)
        with pytest.raises(sw.ApplyInProgressError):
            s.apply(plan)
        worker.join(30)
        assert outcome["first"].status == "verified"  # type: ignore[union-attr]


def test_owned_scope_only_removes_what_segwidgets_added(session, sandbox) -> None:
    session.create_segment("s15", "S15")
    ids = registered(session, 10)["customer_id"].to_list()
    session.client.add_members("s15", ids[:5])  # added by someone else
    session.apply(session.plan("s15", ids, mode="add"))
    plan = session.plan("s15", [], scope="owned", allow_mass_removal=True)
    assert set(plan.removes["customer_id"]) == set(ids[5:])


def test_secrets_never_in_logs_or_reprs(tmp_path, caplog) -> None:
    from segwidgets import sandbox as sandbox_module

    canary_secret, canary_password = "CANARY-secret-7f3a9", "CANARY-pass-91bd2"
    with sandbox_module.start(
        customers=100, client_secret=canary_secret, password=canary_password
    ) as sb:
        caplog.set_level("DEBUG")
        with sw.SegmentSession(sb.credentials, journal=tmp_path / "j") as s:
            s.create_segment("c1", "C1")
            people = registered(s, 5)
            plan = s.plan("c1", s.resolve(sw.read_members(people.select("email"))))
            result = s.apply(plan)
            texts = [
                repr(s),
                repr(s.client),
                repr(plan),
                repr(result),
                repr(sb.credentials),
                caplog.text,
            ]
    for text in texts:
        assert canary_secret not in text
        assert canary_password not in text
    for email in people["email"]:
        assert email not in caplog.text


def test_unverified_push_keeps_what_the_session_learned(sandbox, tmp_path) -> None:
    sandbox.configure(max_members_per_request=7)
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j", batch_size=20) as s:
        s.create_segment("s16", "S16")
        ids = registered(s, 30)["customer_id"].to_list()
        result = s.apply(s.plan("s16", ids[:15]), verify=False)
        assert result.status == "applied"
        assert result.n_verified == 0
        assert result.n_added == 15
        assert s.batch_size <= 7  # learned from the 413s of the unverified push
        writes = member_writes(sandbox)
        follow_up = s.apply(s.plan("s16", ids))
        assert follow_up.status == "verified"
        # the second push starts at the learned size: no batch is refused as too large again
        learned = s.batch_size
        assert member_writes(sandbox) - writes == -(-15 // learned)
        assert sandbox.member_ids("s16") == set(ids)
