"""The Connect panel's *Check connection* button (``panel.check_connection()``)."""

from __future__ import annotations

import segwidgets as sw
import segwidgets.widgets as sww


def test_check_connection_needs_a_session() -> None:
    panel = sww.ConnectPanel(environ={})
    try:
        assert panel.check_button.disabled
        assert panel.check_connection() is None
        assert "Connect first" in panel.status_text
        assert panel.check_table.value == ""
    finally:
        panel.close()


def test_check_connection_shows_the_table_and_learns(session: sw.SegmentSession, sandbox) -> None:
    sandbox.configure(member_paging="cursor")
    panel = sww.ConnectPanel(session, environ={})
    try:
        assert not panel.check_button.disabled
        report = panel.check_connection()
        assert report is not None
        assert report.ok
        assert panel.last_check is report
        assert not panel.busy
        table = panel.check_table.value
        for text in ("what Shopgate did", "what segwidgets will do", "member paging", "cursor"):
            assert text in table
        assert "checked" in panel.status_text
        assert session.traits.member_paging == "cursor"
        write_routes = [
            route
            for route in sandbox.state()["requests"]
            if route.split()[0] in {"POST", "DELETE"} and "oauth" not in route
        ]
        assert write_routes == [], "the check is read-only"
        panel.session = None
        assert panel.check_table.value == ""
        assert panel.check_button.disabled
    finally:
        panel.close()


def test_check_connection_failure_is_shown(sandbox, tmp_path) -> None:
    creds = sandbox.credentials
    wrong = sw.SegmentSession.connect(
        merchant_code=creds.merchant_code,
        client_id=creds.client_id,
        client_secret="wrong-secret",
        username=creds.username,
        password=creds.password,
        base_url=creds.base_url,
        journal=tmp_path / "journal.sqlite3",
    )
    panel = sww.ConnectPanel(wrong, environ={})
    try:
        report = panel.check_connection()
        assert report is not None
        assert not report.ok
        assert "failed" in panel.check_table.value
        assert "failed" in panel.status_text
    finally:
        panel.close()
        wrong.close()
