"""Each panel through its Python twins, against the sandbox."""

from __future__ import annotations

import threading

import polars as pl
import pytest
import traitlets

import segwidgets as sw
from segwidgets import widgets as sww
from segwidgets._client import ShopgateClient
from segwidgets.widgets._table import PagedTable


def test_public_names_are_pinned():
    assert sww.__all__ == [
        "ConnectPanel",
        "DiffPreview",
        "HistoryPanel",
        "MatchReport",
        "MemberListBuilder",
        "PagedTable",
        "PlanView",
        "PushPanel",
        "SegmentApp",
        "SegmentPicker",
    ]
    assert sorted(sww.__all__) == sww.__all__
    for name in sww.__all__:
        assert getattr(sww, name).__module__.startswith("segwidgets.widgets._")


# -- connect ---------------------------------------------------------------------------------------


def test_connect_to_a_sandbox_by_default():
    panel = sww.ConnectPanel(environ={}, customers=50, seed=3)
    assert panel.target == "sandbox"
    session = panel.connect()
    try:
        assert session is not None
        assert panel.session is session
        assert session.is_sandbox
        assert session.server is not None
        assert session.server.url in panel.summary.value
        assert not panel.busy
        assert not panel.connect_button.disabled
    finally:
        panel.close()
    assert not session.server.is_running  # the panel opened it, so the panel closed it


def test_connect_to_shopgate_with_typed_secrets_clears_them(sandbox, output_of):
    creds = sandbox.credentials
    environ = {
        "SHOPGATE_MERCHANT_CODE": creds.merchant_code,
        "SHOPGATE_USERNAME": creds.username,
        "SHOPGATE_BASE_URL": sandbox.base_url,
    }
    panel = sww.ConnectPanel(environ=environ)
    assert panel.merchant_code.value == creds.merchant_code
    assert panel.base_url.value == sandbox.base_url
    panel.target = "shopgate"
    assert panel.shopgate_box.layout.display == "flex"
    assert panel.sandbox_box.layout.display == "none"
    panel.client_id.value = creds.client_id
    panel.client_secret.value = creds.client_secret.get_secret_value()
    panel.password.value = creds.password.get_secret_value()
    try:
        session = panel.connect()
        assert session is not None, output_of(panel)
        assert session.merchant_code == creds.merchant_code
        assert panel.client_secret.value == ""
        assert panel.password.value == ""
        state = repr(panel.client_secret.get_state()) + repr(panel.password.get_state())
        assert creds.password.get_secret_value() not in state
    finally:
        panel.close()


def test_secrets_come_from_the_environment_and_never_enter_the_widgets(sandbox):
    creds = sandbox.credentials
    secret = creds.client_secret.get_secret_value()
    password = creds.password.get_secret_value()
    environ = {
        "SHOPGATE_MERCHANT_CODE": creds.merchant_code,
        "SHOPGATE_CLIENT_ID": creds.client_id,
        "SHOPGATE_CLIENT_SECRET": secret,
        "SHOPGATE_USERNAME": creds.username,
        "SHOPGATE_PASSWORD": password,
        "SHOPGATE_BASE_URL": sandbox.base_url,
    }
    panel = sww.ConnectPanel(environ=environ)
    states = repr([w.get_state() for w in (panel.client_secret, panel.password)])
    assert secret not in states
    assert password not in states
    assert "SHOPGATE_PASSWORD" in panel.password.placeholder
    panel.target = "shopgate"
    try:
        assert panel.connect() is not None
    finally:
        panel.close()


def test_wrong_credentials_are_shown_with_what_to_do(sandbox, output_of):
    creds = sandbox.credentials
    panel = sww.ConnectPanel(environ={"SHOPGATE_BASE_URL": sandbox.base_url})
    panel.target = "shopgate"
    assert panel.connect() is None
    assert isinstance(panel.last_error, sw.ConfigurationError)
    assert "Missing" in output_of(panel)

    panel.merchant_code.value = creds.merchant_code
    panel.client_id.value = creds.client_id
    panel.username.value = creds.username
    panel.client_secret.value = "not-the-secret"
    panel.password.value = "not-the-password"
    assert panel.connect() is None
    assert isinstance(panel.last_error, sw.AuthenticationError)
    text = output_of(panel)
    assert "Could not finish connecting" in text
    assert "Traceback" in text
    assert "not-the-password" not in text
    assert "not-the-secret" not in text
    assert panel.password.value == ""
    assert panel.client_secret.value == ""
    assert panel.session is None
    assert not panel.busy


def test_target_is_validated():
    panel = sww.ConnectPanel(environ={})
    with pytest.raises(traitlets.TraitError):
        panel.target = "elsewhere"


# -- segments --------------------------------------------------------------------------------------


def test_picker_lists_segments_and_explains_dynamic_ones(session):
    picker = sww.SegmentPicker(session)
    codes = [code for _, code in picker.dropdown.options]
    assert set(codes) == set(session.segments()["code"])
    assert picker.value is None
    assert not picker.editable
    picker.value = "newsletter"
    assert picker.dropdown.value == "newsletter"
    assert picker.editable
    assert f"{picker.segment['memberCount']:,}" in picker.details.value
    picker.value = "inactive-gmail"
    assert not picker.editable
    assert "cannot be synced" in picker.details.value
    assert "rules" in picker.details.value
    picker.dropdown.value = "vip"  # as the browser does
    assert picker.value == "vip"
    with pytest.raises(traitlets.TraitError, match="No segment"):
        picker.value = "no-such-segment"


def test_picker_creates_a_fixed_segment(session, output_of):
    picker = sww.SegmentPicker(session)
    picker.create("summer", "Summer sale", description="Sale newsletter")
    assert picker.value == "summer", output_of(picker)
    assert picker.editable, output_of(picker)
    assert session.segment("summer")["type"] == "fixed"
    picker.create("summer", "Again")
    assert isinstance(picker.last_error, sw.ConflictError)
    assert picker.value == "summer"
    assert not picker.busy
    picker.create("", "")
    assert "needs a code and a name" in output_of(picker)


# -- member list -----------------------------------------------------------------------------------


def test_builder_reports_every_line_of_a_frame(registered):
    emails = registered["emailAddress"].head(20).to_list()
    frame = pl.DataFrame(
        {"name": ["x"] * 25, "email": [*emails, emails[0].upper(), "not-an-email", None, "", "a@"]}
    )
    builder = sww.MemberListBuilder()
    members = builder.load(frame.lazy())
    assert members is not None
    assert builder.members is members
    assert (members.n_valid, members.n_duplicates, members.n_rejected, members.n_blank) == (
        20,
        1,
        2,
        2,
    )
    assert list(builder.column_dropdown.options) == ["(auto)", "name", "email"]
    assert "20" in builder.report.value
    assert builder.details.layout.display == "flex"
    table = builder.rejected_table.html.value
    assert "not-an-email" not in table
    assert "n***" in table
    builder.reveal.value = True
    assert "not-an-email" in builder.rejected_table.html.value


def test_builder_upload_is_read_like_a_path(registered):
    emails = registered["emailAddress"].head(5).to_list()
    data = ("Email;Other email\n" + "\n".join(f"{e};x{e}" for e in emails)).encode()
    builder = sww.MemberListBuilder()
    builder.upload.receive_file(data, name="list.csv")
    assert "Email;" not in repr(builder.upload.get_state())  # the bytes are in no trait
    # Two columns look like emails: the panel asks which one.
    assert isinstance(builder.last_error, sw.ColumnError)
    assert builder.members is None
    assert list(builder.column_dropdown.options) == ["(auto)", "Email", "Other email"]
    builder.column_dropdown.value = "Email"
    assert builder.members is not None
    assert builder.members.n_valid == 5
    assert builder.members.source == "list.csv"
    assert builder.members.column == "Email"


def test_builder_reads_customer_ids():
    builder = sww.MemberListBuilder()
    members = builder.load(pl.DataFrame({"customer_id": ["0012", "0013", "0012"]}))
    assert members is not None
    assert members.kind == "customer_id"
    assert members.n_valid == 2
    builder.kind = "email"
    assert builder.kind_buttons.value == "email"
    # Read as emails no line is valid: the report shows why, and the list is refused.
    assert builder.shown is not None
    assert builder.shown.kind == "email"
    assert builder.members is None
    assert isinstance(builder.last_error, sw.EmptyFileError)


def test_builder_shows_unreadable_input():
    builder = sww.MemberListBuilder()
    assert builder.load(b"", name="empty.csv") is None
    assert isinstance(builder.last_error, sw.EmptyFileError)
    assert not builder.busy
    assert not builder.upload.disabled


# -- matching --------------------------------------------------------------------------------------


def test_match_report_funnel_problems_and_policy(session, registered, output_of):
    emails = registered["emailAddress"].head(30).to_list()
    members = sw.read_members([*emails, "nobody99999@example.org", "bad"])
    report = sww.MatchReport(session)
    assert report.run_button.disabled
    report.members = members
    assert not report.run_button.disabled
    resolution = report.run()
    assert resolution is not None, output_of(report)
    assert report.resolution is resolution, output_of(report)
    assert resolution.n_matched == 30
    assert resolution.n_unmatched == 1
    for label in ("valid emails", "matched", "unmatched", "customer ids"):
        assert label in report.funnel.value
    table = report.problems_table.html.value
    assert "nobody99999@example.org" not in table
    assert "n***@e***.org" in table
    report.reveal.value = True
    assert "nobody99999@example.org" in report.problems_table.html.value

    report.policy = "latest"
    assert report.resolution is not resolution
    assert report.resolution.policy == "latest"
    assert report.policy_buttons.value == "latest"
    with pytest.raises(traitlets.TraitError):
        report.policy = "first"


# -- diff preview and paged tables ---------------------------------------------------------------------


def test_diff_preview_plans_when_it_knows_segment_and_members(session, registered):
    ids = registered["id"].head(40).to_list()
    diff = sww.DiffPreview(session)
    diff.segment = "vip"
    assert diff.plan is None
    diff.desired = ids
    plan = diff.plan
    assert plan is not None
    assert plan.segment_code == "vip"
    live = set(session.members("vip")["customer_id"])
    assert plan.n_add == len(set(ids) - live)
    assert plan.n_remove == len(live - set(ids))
    assert f"To add ({plan.n_add:,})" in diff.view.tabs.titles
    diff.mode = "add"
    assert diff.mode_buttons.value == "add"
    assert diff.plan.n_remove == 0
    with pytest.raises(traitlets.TraitError):
        diff.mode = "replace"


def test_mass_removal_is_shown_and_still_guarded(session, registered):
    diff = sww.DiffPreview(session)
    diff.segment = "newsletter"
    diff.desired = registered["id"].head(1).to_list()
    plan = diff.plan
    assert plan is not None
    assert plan.needs_mass_removal_consent
    assert "safety limit" in diff.view.warning.value
    with pytest.raises(sw.MassRemovalError):  # the reviewed plan carries no consent
        session.apply(plan)


def test_dynamic_segment_cannot_be_planned(session, registered, output_of):
    diff = sww.DiffPreview(session)
    diff.desired = registered["id"].head(3).to_list()
    diff.segment = "inactive-gmail"
    assert diff.plan is None
    assert isinstance(diff.last_error, sw.SegmentNotEditableError)
    assert "fixed" in output_of(diff)


def test_paged_table_renders_one_page_only():
    frame = pl.DataFrame({"customer_id": [f"id-{i:07d}" for i in range(1_000_000)]})
    table = PagedTable(frame, page_size=20)
    html = table.html.value
    assert html.count("<tr>") == 21  # header + 20 rows
    assert "id-0000019" in html
    assert "id-0000020" not in html
    assert "of 1,000,000" in table.label.value
    assert table.previous_button.disabled
    table.next()
    assert "id-0000020" in table.html.value
    assert "id-0000019" not in table.html.value
    table.page = 10**9  # clamped to the last page
    assert table.page == 49_999
    assert "id-0999999" in table.html.value
    assert table.next_button.disabled
    table.frame = None
    assert "Nothing to show" in table.html.value


# -- push ------------------------------------------------------------------------------------------------


def _plan(session, code, ids, **options):
    return sw.widgets._planview.for_review(
        session.plan(code, ids, allow_mass_removal=True, **options)
    )


def test_dry_run_then_push_then_nothing_left(session, registered, sandbox, output_of):
    ids = registered["id"].head(30).to_list()
    push = sww.PushPanel(session)
    assert push.push_button.disabled
    push.plan = _plan(session, "vip", ids, mode="add")
    push.dry_run = True
    assert push.push_button.description == "Dry run"
    push.push(wait=True)
    assert push.result is not None, output_of(push)
    assert push.result.status == "dry_run", output_of(push)
    assert not set(ids) <= sandbox.member_ids("vip")
    push.dry_run = False
    push.push(wait=True)
    assert push.result.status == "verified", output_of(push)
    assert set(ids) <= sandbox.member_ids("vip")
    assert not push.busy
    # A pushed plan cannot be pushed again: the button says so by being off, the summary
    # says to plan again, and the Python twin refuses it.
    assert push.push_button.disabled
    assert "was pushed" in push.summary.value
    push.push(wait=True)  # the same plan again: refused by the panel, nothing sent
    assert "pushed already" in output_of(push)


def test_mass_removal_needs_the_segment_code_typed(session, registered, sandbox, output_of):
    keep = registered["id"].head(2).to_list()
    push = sww.PushPanel(session)
    push.plan = _plan(session, "newsletter", keep)
    assert push.needs_confirmation
    assert push.confirm_text.layout.display == "flex"
    assert push.push() is None
    assert "Type newsletter into Confirm" in output_of(push)
    assert len(sandbox.member_ids("newsletter")) > 2  # nothing sent
    push.confirm_text.value = "newsleter"
    assert push.push() is None
    push.confirm_text.value = "newsletter"
    push.push(wait=True)
    assert push.result.status == "verified", output_of(push)
    assert sandbox.member_ids("newsletter") == set(keep)


def test_stale_plan_is_refused_with_what_to_do(session, registered, sandbox, output_of):
    replanned = []
    push = sww.PushPanel(session, replan=lambda: replanned.append(True))
    ids = registered["id"].head(5).to_list()
    push.plan = _plan(session, "vip", ids, mode="add")
    session.client.add_members("vip", registered["id"].slice(100, 1).to_list())  # someone else
    push.push(wait=True)
    assert isinstance(push.last_error, sw.StalePlanError)
    text = output_of(push)
    assert "Plan again" in text
    assert "Nothing was sent" in text
    assert not set(ids) <= sandbox.member_ids("vip")
    push.replan_button.click()
    assert replanned == [True]


def test_failed_ids_are_listed_and_downloadable(session, registered, output_of):
    unknown = "00000000-0000-0000-0000-00000000beef"
    push = sww.PushPanel(session)
    # the point is Shopgate's own refusal of the unknown id: the plan must not leave it out
    push.plan = _plan(
        session, "vip", [*registered["id"].head(3).to_list(), unknown], mode="add", check_ids=False
    )
    push.push(wait=True)
    result = push.result
    assert result is not None, output_of(push)
    assert result.n_failed == 1, output_of(push)
    assert push.failed_box.layout.display == "flex"
    assert unknown in push.failed_table.html.value
    text = push.prepare_download()
    assert unknown in text
    assert "base64," in push.download_link.value


def test_cancel_stops_between_batches_and_the_kernel_stays_free(sandbox, registered, tmp_path):
    sandbox.configure(delete_delay=0)
    with sw.SegmentSession(
        sandbox.credentials, journal=tmp_path / "j.sqlite3", batch_size=5, concurrency=1
    ) as session:
        ids = registered["id"].head(60).to_list()
        push = sww.PushPanel(session)
        push.plan = _plan(session, "vip", ids, mode="add")
        first_batch, release = threading.Event(), threading.Event()
        show = push._on_progress

        def held(event):
            show(event)
            if event.batches_done:
                first_batch.set()
                release.wait(30)

        push._on_progress = held
        worker = push.push()
        assert worker is not None
        assert first_batch.wait(30)
        # The push is running in its worker; this thread (the kernel's) is free to act.
        assert push.busy
        assert push.push_button.disabled
        assert not push.cancel_button.disabled
        assert push.progress.value > 0
        assert push.push() is None  # a second push while one runs is refused
        assert "A push is running" in push.status_text
        push.cancel()
        release.set()
        assert push.wait(60)
        assert push.result.status == "cancelled"
        assert 0 < push.result.n_added < len(ids)
        assert push.result.n_pending > 0
        assert not push.busy
        # The stopped run is offered for Resume; the plan itself was pushed.
        assert push.push_button.disabled
        assert push.cancel_button.disabled
        assert not push.resume_button.disabled
        assert push.resume_button.layout.display == "flex"
        assert push.resume_run_id == push.result.run_id
        assert "Cancelled:" in push.result_html.value
        assert "resume(" not in push.result_html.value


# -- history ---------------------------------------------------------------------------------------------


def test_history_lists_runs_and_undoes_one(session, registered, sandbox, output_of):
    before = sandbox.member_ids("vip")
    ids = registered.filter(~pl.col("id").is_in(sorted(before)))["id"].head(7).to_list()
    result = session.apply(session.plan("vip", ids, mode="add"))
    history = sww.HistoryPanel(session)
    history.segment = "vip"
    assert history.runs["run_id"].to_list() == [result.run_id]
    assert history.run_id == result.run_id
    assert result.run_id in history.table.html.value
    assert history.undo_box.layout.display == "none"
    plan = history.undo()
    assert plan is not None, output_of(history)
    assert (plan.n_add, plan.n_remove) == (0, 7), output_of(history)
    assert history.undo_box.layout.display == "flex"
    assert history.pusher.plan is plan
    history.pusher.push(wait=True)
    assert history.pusher.result.status == "verified", output_of(history.pusher)
    assert sandbox.member_ids("vip") == before
    assert history.runs["kind"].to_list() == ["undo", "sync"]


# -- errors ------------------------------------------------------------------------------------------------


def test_server_errors_land_in_the_panel_with_the_traceback(sandbox, tmp_path, output_of):
    # Retries do not sleep here: the client's sleep is injected.
    client = ShopgateClient(sandbox.credentials, sleep=lambda seconds: None)
    with sw.SegmentSession(
        sandbox.credentials, client=client, journal=tmp_path / "j.sqlite3"
    ) as session:
        picker = sww.SegmentPicker(session)
        sandbox.configure(error_5xx_rate=1.0, retry_after=["0"])
        picker.refresh()
    assert isinstance(picker.last_error, sw.APIError)
    text = output_of(picker)
    assert "Could not finish reading the segments" in text
    assert "Traceback (most recent call" in text
    assert not picker.busy
    assert not picker.refresh_button.disabled


def test_unexpected_errors_are_not_lost(session, output_of, monkeypatch):
    diff = sww.DiffPreview(session)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom from jane.doe@example.com")

    monkeypatch.setattr(session, "plan", broken)
    diff.segment = "vip"
    diff.desired = ["x"]
    text = output_of(diff)
    assert "Unexpected error while planning: ZeroDivisionError" in text
    assert "jane.doe@example.com" not in text
    assert "j***@e***.com" in text
    assert "broken" in text  # the traceback names the failing function
