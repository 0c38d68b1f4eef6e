"""``SegmentApp``: the panels wired together, driven as a user would, through Python twins."""

from __future__ import annotations

import polars as pl

import segwidgets as sw
from segwidgets import widgets as sww


def test_session_panel_returns_the_app(session):
    app = session.panel()
    assert isinstance(app, sww.SegmentApp)
    assert app.session is session
    assert all(p.session is session for p in (app.picker, app.match, app.diff, app.pusher))
    assert [type(p).__name__ for p in app.panels] == [
        "ConnectPanel",
        "SegmentPicker",
        "MemberListBuilder",
        "MatchReport",
        "DiffPreview",
        "PushPanel",
        "HistoryPanel",
    ]


def test_whole_flow_from_emails_to_a_verified_segment(session, registered, sandbox, output_of):
    emails = registered["emailAddress"].head(60).to_list()
    frame = pl.DataFrame({"email": [*emails, "unknown99999@example.org", "bad", emails[0]]})
    app = session.panel()

    app.picker.value = "newsletter"
    assert app.diff.segment == "newsletter"
    assert app.history.segment == "newsletter"
    app.builder.load(frame)
    assert app.match.members is app.builder.members
    assert app.diff.plan is None  # nothing is planned before the customers are found
    app.match.run()
    resolution = app.match.resolution
    assert resolution is not None, output_of(app.match)
    assert resolution.n_ids == 60, output_of(app.match)
    plan = app.diff.plan
    assert plan is not None, output_of(app.diff)
    assert app.pusher.plan is plan, output_of(app.diff)
    live = sandbox.member_ids("newsletter")
    wanted = set(resolution.customer_ids)
    assert (plan.n_add, plan.n_remove) == (len(wanted - live), len(live - wanted))

    if app.pusher.needs_confirmation:
        app.pusher.confirmation = "newsletter"
    app.pusher.push(wait=True)
    assert app.pusher.result.status == "verified", output_of(app.pusher)
    assert sandbox.member_ids("newsletter") == wanted

    # The pushed plan stays on screen with its result (Push is off: it was pushed); the
    # picker and history caught up.
    result = app.pusher.result
    assert app.state.plan is plan
    assert app.state.run is result
    assert app.state.pushed
    assert app.state.step == "done"
    assert app.pusher.push_button.disabled
    assert not app.pusher.replan_button.disabled
    # Plan again: nothing left, and the old result goes with the old plan.
    app.pusher.replan()
    assert app.diff.plan is not None
    assert app.diff.plan.is_empty()
    assert app.state.plan is app.diff.plan
    assert app.state.run is None
    assert app.pusher.result is None
    assert app.pusher.result_html.value == ""
    assert app.picker.segment["memberCount"] == len(wanted)
    assert app.history.runs["run_id"].to_list() == [result.run_id]

    # Undo from the history panel restores the segment.
    app.history.undo()
    undo = app.history.pusher
    if undo.needs_confirmation:
        undo.confirmation = "newsletter"
    undo.push(wait=True)
    assert undo.result.status == "verified", output_of(undo)
    assert sandbox.member_ids("newsletter") == live
    assert app.picker.segment["memberCount"] == len(live)


def test_customer_id_lists_skip_matching(session, registered):
    app = session.panel()
    app.picker.value = "vip"
    ids = registered["id"].head(5).to_list()
    app.builder.load(pl.DataFrame({"customer_id": ids}))
    assert app.match.run_button.disabled
    assert "no matching needed" in app.match.intro.value
    plan = app.diff.plan
    assert plan is not None
    assert set(plan.adds["customer_id"]) <= set(ids)


def test_dynamic_segment_is_not_planned(session, registered):
    app = session.panel()
    app.builder.load(pl.DataFrame({"customer_id": registered["id"].head(3).to_list()}))
    app.picker.value = "inactive-gmail"
    assert app.diff.segment is None
    assert app.diff.plan is None
    assert "cannot be synced" in app.picker.details.value


def test_connecting_switches_every_panel_to_the_new_session(session):
    app = sww.SegmentApp(session, environ={})
    app.connect.customers.value = 30
    new = app.connect.connect()
    try:
        assert new is not None
        assert new is not session
        assert app.session is new
        assert all(p.session is new for p in (app.picker, app.match, app.diff, app.history))
        assert app.history.pusher.session is new
        assert set(app.picker.segments["code"]) == set(new.segments()["code"])
    finally:
        app.close()
    assert not new.server.is_running
    assert not session.client.is_closed  # a session passed in is left to its owner


def test_empty_plan_cannot_be_pushed(session, sandbox):
    app = session.panel()
    app.picker.value = "vip"
    current = sorted(sandbox.member_ids("vip"))
    app.builder.load(pl.DataFrame({"customer_id": current}))
    assert app.diff.plan is not None
    assert app.diff.plan.is_empty()
    assert app.pusher.push_button.disabled
    assert "already matches" in app.pusher.summary.value
    assert isinstance(app.diff.plan, sw.SegmentPlan)
