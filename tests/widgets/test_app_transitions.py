"""The app's state machine driven through the panels: nothing stale is ever shown."""

from __future__ import annotations

import threading

import polars as pl
import pytest

import segwidgets as sw
from segwidgets import widgets as sww


def _ids_not_in(registered, sandbox, code, n):
    live = sandbox.member_ids(code)
    return registered.filter(~pl.col("id").is_in(sorted(live)))["id"].head(n).to_list()


def test_mode_switch_drops_the_mass_removal_warning(session, registered, sandbox):
    app = session.panel()
    app.picker.value = "newsletter"
    app.builder.load(pl.DataFrame({"customer_id": registered["id"].head(3).to_list()}))
    assert app.pusher.needs_confirmation
    assert app.pusher.confirm_text.layout.display == "flex"
    app.pusher.push()  # refused: the code was not typed
    assert "Type newsletter into Confirm" in app.pusher.status_text
    app.diff.mode = "add"
    assert app.state.plan is app.diff.plan
    assert app.diff.plan.n_remove == 0
    assert not app.pusher.needs_confirmation
    assert app.pusher.confirm_text.layout.display == "none"
    assert app.pusher.status_text == ""  # the old warning went with the old plan


def test_a_new_segment_clears_the_result_of_the_old_one(session, registered, sandbox):
    app = session.panel()
    app.picker.value = "vip"
    app.diff.mode = "add"
    app.builder.load(pl.DataFrame({"customer_id": _ids_not_in(registered, sandbox, "vip", 4)}))
    app.pusher.push(wait=True)
    assert app.pusher.result.status == "verified"
    assert app.state.run is app.pusher.result
    app.picker.value = "newsletter"
    assert app.state.segment == "newsletter"
    assert app.state.run is None
    assert app.pusher.result is None
    assert app.pusher.result_html.value == ""
    assert app.state.plan is app.diff.plan
    assert app.pusher.plan is app.diff.plan
    assert app.pusher.plan.segment_code == "newsletter"


def test_a_new_list_clears_the_plan_and_the_result(session, registered, sandbox):
    app = session.panel()
    app.picker.value = "vip"
    app.diff.mode = "add"
    app.builder.load(pl.DataFrame({"customer_id": _ids_not_in(registered, sandbox, "vip", 3)}))
    app.pusher.push(wait=True)
    assert app.state.pushed
    app.builder.load(pl.DataFrame({"customer_id": _ids_not_in(registered, sandbox, "vip", 2)}))
    assert app.state.run is None
    assert not app.state.pushed
    assert app.state.plan is not None
    assert app.state.plan.n_add == 2
    assert not app.pusher.push_button.disabled


def test_cancel_then_resume_from_the_button(registered, sandbox, tmp_path):
    sandbox.configure(delete_delay=0)
    ids = _ids_not_in(registered, sandbox, "vip", 40)
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", batch_size=5, concurrency=1
    ) as session:
        app = session.panel()
        app.picker.value = "vip"
        app.diff.mode = "add"
        app.builder.load(pl.DataFrame({"customer_id": ids}))
        push = app.pusher
        first = threading.Event()
        release = threading.Event()
        shown = push._on_progress

        def held(event):
            shown(event)
            if event.phase == "push" and event.batches_done >= 1:
                first.set()
                release.wait(30)

        push._on_progress = held
        assert push.push() is not None
        assert first.wait(30)
        push.cancel()
        release.set()
        assert push.wait(60)
        result = push.result
        assert result.status == "cancelled"
        assert push.result_html.value.count("Cancelled:") == 1
        assert f"{result.n_pending:,} not sent" in push.result_html.value
        assert "Cancelling" not in push.status_text
        assert app.state.resume_run_id == result.run_id
        assert push.resume_button.layout.display == "flex"
        assert "stopped before the end" in push.summary.value
        push._on_progress = shown
        push.resume(wait=True)
        assert push.result.status == "verified", push.status_text
        assert set(ids) <= sandbox.member_ids("vip")
        assert push.resume_button.layout.display == "none"
        assert app.state.resume_run_id is None


def test_an_interrupted_run_is_offered_when_its_segment_is_opened(registered, sandbox, tmp_path):
    sandbox.configure(delete_delay=0)
    ids = _ids_not_in(registered, sandbox, "vip", 20)
    journal = tmp_path / "j.sqlite3"
    with sw.SegmentSession(
        sandbox.credentials, journal=journal, batch_size=5, concurrency=1
    ) as session:
        plan = session.plan("vip", ids, mode="add")

        def crash(event):
            if event.phase == "push" and event.batches_done >= 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            session.apply(plan, progress=crash)
        run_id = session.history("vip")["run_id"][0]
        assert session.history("vip")["status"][0] == "interrupted"

        app = session.panel()
        app.picker.value = "newsletter"
        assert app.state.resumable is None
        app.picker.value = "vip"
        assert app.state.resumable == run_id
        assert app.pusher.resume_run_id == run_id
        assert app.pusher.resume_button.layout.display == "flex"
        assert "stopped before it finished" in app.pusher.status_text
        app.pusher.resume(wait=True)
        assert app.pusher.result.status == "verified", app.pusher.status_text
        assert set(ids) <= sandbox.member_ids("vip")
        assert app.state.resumable is None


def test_badges_say_where_a_push_goes(session):
    app = session.panel()
    assert "SANDBOX" in app.pusher.badge.value
    assert "DEMO" in app.pusher.badge.value
    assert "SANDBOX" in app.connect.summary.value


def test_unknown_keywords_are_refused():
    with pytest.raises(TypeError, match="colour"):
        sww.SegmentApp(None, environ={}, colour="red")
    for panel in (sww.PushPanel, sww.DiffPreview, sww.MatchReport, sww.SegmentPicker):
        with pytest.raises(TypeError, match="bogus"):
            panel(None, bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        sww.MemberListBuilder(bogus=1)


def test_environment_is_chosen_on_purpose():
    panel = sww.ConnectPanel(None, environ={})
    assert panel.environment.value == ""
    panel.target = "shopgate"
    for field, value in (
        (panel.merchant_code, "ACME"),
        (panel.client_id, "c"),
        (panel.client_secret, "s"),
        (panel.username, "u"),
        (panel.password, "p"),
    ):
        field.value = value
    assert panel.connect() is None
    assert "Missing: environment" in panel.status_text
    preset = sww.ConnectPanel(None, environ={"SHOPGATE_ENV": "pg"})
    assert preset.environment.value == "pg"


def test_builder_reads_a_path_and_refuses_a_list_without_valid_lines(session, tmp_path):
    app = session.panel()
    app.picker.value = "newsletter"
    bad = tmp_path / "allbad.csv"
    bad.write_text("email\nnot-an-email\nalso bad\n")
    app.builder.location.value = str(bad)
    app.builder.location_button.click()
    assert app.builder.members is None
    assert app.builder.shown is not None  # the report still shows why
    assert "rejected" in app.builder.report.value
    assert "none of the 2 data lines" in app.builder.status_text
    assert app.state.members is None
    assert app.match.run_button.disabled
    assert app.diff.plan is None
    good = tmp_path / "good.csv"
    good.write_text("email\na@example.org\n")
    assert app.builder.load_location(str(good)) is not None
    assert app.state.members is app.builder.members


def test_builder_refuses_a_column_of_names_and_suggests_the_right_one(session, registered):
    app = session.panel()
    app.picker.value = "newsletter"
    frame = pl.DataFrame(
        {
            "first_name": ["Clara", "Ivan", "Mei", "Jonas"],
            "E-Mail": registered["emailAddress"].head(4).to_list(),
        }
    )
    app.builder.load(frame, column="first_name")
    assert app.builder.members is None
    assert "neither email addresses nor customer ids" in app.builder.status_text
    assert "E-Mail" in app.builder.status_text
    assert "Upload a CSV" not in app.builder.report.value  # no stale hint beside the refusal
    assert app.diff.plan is None
    app.builder.column = "E-Mail"
    assert app.builder.members is not None
    assert app.builder.members.kind == "email"


def test_matching_and_planning_run_in_the_background(session, registered, sandbox):
    app = sww.SegmentApp(session, environ={}, background=True)
    assert app.match.background
    assert app.diff.background
    app.picker.value = "vip"
    app.diff.mode = "add"
    emails = registered["emailAddress"].head(5).to_list()
    app.builder.load(pl.DataFrame({"email": emails}))
    assert app.match.run() is None or app.match.resolution is not None
    assert app.wait(60)
    assert app.match.resolution is not None
    assert app.match.resolution.n_ids == 5
    assert app.wait(60)
    assert app.state.plan is not None
    assert app.state.plan is app.diff.plan
    assert app.pusher.plan is app.diff.plan


def test_most_of_the_segment_removed_offers_add_only(session, registered):
    app = session.panel()
    app.picker.value = "newsletter"
    app.builder.load(pl.DataFrame({"customer_id": registered["id"].head(2).to_list()}))
    assert app.diff.add_only_button.layout.display == "flex"
    app.diff.add_only_button.click()
    assert app.diff.mode == "add"
    assert app.diff.plan.n_remove == 0
    assert app.diff.add_only_button.layout.display == "none"
    assert not app.pusher.needs_confirmation


def test_a_change_while_planning_is_planned_after_it(session, registered, sandbox):
    app = sww.SegmentApp(session, environ={}, background=True)
    app.picker.value = "vip"
    app.builder.load(pl.DataFrame({"customer_id": _ids_not_in(registered, sandbox, "vip", 3)}))
    app.diff.mode = "add"  # while the mirror plan may still be running
    assert app.wait(60)
    assert app.diff.plan is not None
    assert app.diff.plan.mode == "add"
    assert app.state.plan is app.diff.plan
    assert not app.diff.busy


def test_an_applied_undo_does_not_offer_plan_again(session, registered, sandbox):
    app = session.panel()
    app.picker.value = "vip"
    app.diff.mode = "add"
    app.builder.load(pl.DataFrame({"customer_id": _ids_not_in(registered, sandbox, "vip", 3)}))
    app.pusher.push(wait=True)
    app.history.undo()
    undo = app.history.pusher
    assert undo.replan_button.layout.display == "none"
    undo.push(wait=True)
    assert undo.result.status == "verified"
    assert undo.push_button.disabled
    assert "was pushed" in undo.summary.value
    assert "Plan again" not in undo.summary.value
    # The main panel planned again: the segment changed under its pushed plan.
    assert app.state.run is None
    assert app.pusher.result is None
    assert app.state.plan is app.diff.plan
    assert app.diff.plan.n_add == 3


def test_errors_keep_no_machine_paths():
    from segwidgets.widgets._base import strip_paths

    trace = (
        'File "/home/ana/work/segwidgets/widgets/_push.py", line 3\n'
        'File "/usr/lib/python3.12/threading.py", line 1\n'
        'File "C:\\\\Users\\\\ana\\\\venv\\\\Lib\\\\site-packages\\\\polars\\\\frame.py", line 9\n'
    )
    clean = strip_paths(trace)
    assert "/home/ana" not in clean
    assert "/usr/lib" not in clean
    assert "Users" not in clean
    assert 'File "segwidgets/widgets/_push.py"' in clean
    assert 'File "threading.py"' in clean
    assert "polars" in clean

    panel = sww.PushPanel(None)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        panel.show_error(exc, doing="testing")
    html_text = panel.out.outputs[0]["data"]["text/html"]
    assert "Details for a bug report" in html_text
    assert __file__ not in html_text


def test_the_state_says_what_runs(session, registered, sandbox):
    app = session.panel()
    seen = []
    app.observe(lambda change: seen.append(change["new"].activity), names="state")
    app.picker.value = "vip"
    app.diff.mode = "add"
    app.builder.load(pl.DataFrame({"customer_id": _ids_not_in(registered, sandbox, "vip", 2)}))
    assert "planning" in seen
    app.pusher.push(wait=True)
    assert "pushing" in seen
    assert app.state.activity == "idle"


def test_production_needs_the_code_for_every_push(session, registered, sandbox, monkeypatch):
    from segwidgets._destination import Destination
    from segwidgets.widgets._push import destination_badge

    badge = destination_badge(Destination("ACME", "PRODUCTION"))
    assert "PRODUCTION" in badge
    assert "#b45309" in badge  # the warning colour
    monkeypatch.setattr(
        sww.PushPanel, "destination", property(lambda self: Destination("DEMO", "PRODUCTION"))
    )
    app = session.panel()
    app.picker.value = "vip"
    app.diff.mode = "add"
    ids = _ids_not_in(registered, sandbox, "vip", 2)
    app.builder.load(pl.DataFrame({"customer_id": ids}))
    push = app.pusher
    assert push.needs_confirmation
    assert "PRODUCTION" in push.summary.value
    assert push.push() is None
    assert "Type vip into Confirm" in push.status_text
    assert not set(ids) & sandbox.member_ids("vip")
    push.confirmation = "vip"
    push.push(wait=True)
    assert push.result.status == "verified"
    assert set(ids) <= sandbox.member_ids("vip")


def test_input_mistakes_show_no_traceback(tmp_path):
    builder = sww.MemberListBuilder()
    assert builder.load(b"email\n", name="empty.csv") is None
    html_text = builder.out.outputs[0]["data"]["text/html"]
    assert "no data lines" in html_text
    assert "<details" not in html_text
    assert "Traceback" not in builder.out.outputs[0]["data"]["text/plain"]


def test_before_connecting_nothing_looks_clickable():
    app = sww.SegmentApp(None, environ={})
    assert app.state.step == "connect"
    assert app.match.run_button.disabled
    assert app.pusher.push_button.disabled
    assert app.pusher.cancel_button.disabled
    assert app.diff.refresh_button.disabled
    assert app.picker.create_button.disabled
    assert "Connect first" in app.picker.details.value
    assert app.picker.table.layout.display == "none"
    assert "Not connected" in app.pusher.badge.value


def test_builder_reads_a_url(tmp_path):
    import functools
    import http.server

    (tmp_path / "list.csv").write_text("email\na@example.org\nb@example.org\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        builder = sww.MemberListBuilder()
        url = f"http://127.0.0.1:{server.server_address[1]}/list.csv"
        members = builder.load_location(url)
        assert members is not None, builder.status_text
        assert members.n_valid == 2
        assert members.source == "list.csv"
        assert builder.load_location(url.replace("list.csv", "missing.csv")) is None
        assert "404" in builder.status_text
    finally:
        server.shutdown()
        server.server_close()
