"""Rows people can read: tables show who (masked email, name, list row), looked up for the
visible page only; search, sort, jump to a page and downloads; the match funnel, terms and
report download; History with local times, plain headers, the size chart and run details."""

from __future__ import annotations

import base64
import io
import re

import polars as pl
import pytest

import segwidgets as sw
from segwidgets import widgets as sww
from segwidgets._privacy import mask_email
from segwidgets.widgets import _table
from segwidgets.widgets._charts import local_time, size_chart_svg
from segwidgets.widgets._table import PagedTable


def _link_bytes(html: str) -> bytes:
    match = re.search(r"href='data:[^;]+;base64,([^']+)'", html)
    assert match, html
    return base64.b64decode(match.group(1))


def _sent(session: sw.SegmentSession) -> int:
    return session.client.stats.n_requests


# -- PagedTable --------------------------------------------------------------------------------------


def _frame(n: int = 40) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [f"id-{i:03d}" for i in range(n)],
            "name": [("Anna " if i % 10 == 3 else "Bo ") + str(i) for i in range(n)],
            "row": list(range(n, 0, -1)),
        }
    )


def test_search_sort_and_jump_to_page():
    table = PagedTable(_frame(), page_size=5)
    assert table.n_pages == 8
    table.page_box.value = 6  # the page box counts from 1
    assert table.page == 5
    assert "id-025" in table.html.value
    table.search = "anna"
    assert table.page == 0
    assert table.view["customer_id"].to_list() == ["id-003", "id-013", "id-023", "id-033"]
    assert "search: 4 of 40" in table.label.value
    table.search_box.value = "nobody"
    assert "No row matches" in table.html.value
    table.search = ""
    table.sort_by = "row"
    assert table.view["row"][0] == 1
    table.descending_box.value = True
    assert table.view["row"][0] == 40
    assert [v for _, v in table.sort_dropdown.options] == ["", "customer_id", "name", "row"]


def test_download_link_holds_the_rows_shown_with_formulas_defused():
    frame = _frame(12).with_columns(
        pl.when(pl.col("row") == 12).then(pl.lit("=HYPERLINK(1)")).otherwise("name").alias("name")
    )
    table = PagedTable(frame, page_size=5, name="to-add")
    table.search = "id-00"
    assert table.download("csv") == "to-add.csv"
    got = pl.read_csv(io.BytesIO(_link_bytes(table.download_link.value)))
    assert got["customer_id"].to_list() == [f"id-00{i}" for i in range(10)]
    assert got["name"][0] == "'=HYPERLINK(1)"
    table.download("parquet")
    parquet = pl.read_parquet(io.BytesIO(_link_bytes(table.download_link.value)))
    assert parquet.equals(table.view)


def test_a_large_download_is_written_next_to_the_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_table, "DOWNLOAD_LINK_LIMIT", 10)
    table = PagedTable(_frame(), name="big")
    table.download("csv")
    assert "href=" not in table.download_link.value
    assert "big.csv" in table.download_link.value
    written = tmp_path / "big.csv"
    assert pl.read_csv(written).height == 40
    assert written.stat().st_mode & 0o077 == 0


def test_enrich_sees_only_the_visible_page():
    seen: list[int] = []

    def enrich(page: pl.DataFrame) -> pl.DataFrame:
        seen.append(page.height)
        return page.with_columns(pl.lit("x").alias("email"))

    table = PagedTable(_frame(1000), page_size=15, enrich=enrich)
    table.next()
    assert seen == [15, 15]
    assert "email" in table.html.value


# -- the plan: who changes -------------------------------------------------------------------------


@pytest.fixture
def mirror_diff(session, registered):
    """A diff of the newsletter segment against 30 registered customers' emails (mirror:
    most members are removed)."""
    rows = registered.head(30)
    members = sw.read_members(rows["emailAddress"].to_list())
    diff = sww.DiffPreview(session)
    diff.segment = "newsletter"
    diff.desired = session.resolve(members)
    assert diff.plan is not None
    return diff


def test_removals_show_masked_email_and_name_looked_up_for_the_page(session, sandbox, mirror_diff):
    plan = mirror_diff.plan
    assert plan.n_remove > 30
    removes = mirror_diff.view.removes_table
    customers = sandbox.model.customers_frame()
    first_id = removes.view["customer_id"][0]
    person = customers.filter(pl.col("id") == first_id).row(0, named=True)
    html = removes.html.value
    assert mask_email(person["emailAddress"]) in html
    assert person["emailAddress"] not in html
    assert person["lastName"] in html
    assert "customer id" in html
    assert "customer_id" not in html

    before = _sent(session)
    removes.next()
    assert _sent(session) - before == 1  # one $in for the 15 ids of page 2
    removes.previous()
    assert _sent(session) - before == 1  # page 1 is cached

    mirror_diff.view.reveal_box.value = True
    assert person["emailAddress"] in removes.html.value


def test_search_finds_a_removal_by_name_and_by_id(session, sandbox, mirror_diff):
    removes = mirror_diff.view.removes_table
    customers = sandbox.model.customers_frame()
    target = removes.view["customer_id"][3]
    last_name = customers.filter(pl.col("id") == target)["lastName"][0]
    before = _sent(session)
    removes.search = last_name
    assert target in removes.view["customer_id"].to_list()
    removes.search = target[:13]
    assert removes.view["customer_id"].to_list() == [target]
    assert _sent(session) - before == 0  # search asks Shopgate nothing


def test_adds_show_the_list_row(session, registered):
    members = sw.read_members(["nobody@example.org", *registered["emailAddress"].head(5).to_list()])
    diff = sww.DiffPreview(session, mode="add")
    diff.segment = "vip"
    diff.desired = session.resolve(members)
    adds = diff.view.adds_table
    assert "list row" in adds.html.value
    rows = adds.view.sort("row")["row"].to_list()
    assert rows[0] >= 2  # the first line was not found, so it is not an add
    assert diff.view.tabs.selected_index == 0


def test_plan_download_holds_every_change(mirror_diff):
    plan = mirror_diff.plan
    assert mirror_diff.view.download("csv") == "plan-newsletter.csv"
    got = pl.read_csv(io.BytesIO(_link_bytes(mirror_diff.view.download_link.value)))
    assert got.height == plan.n_add + plan.n_remove + plan.n_unchanged
    assert got.filter(pl.col("action") == "remove").height == plan.n_remove
    assert "row" in got.columns


def test_counts_are_coloured_by_meaning(mirror_diff):
    summary = mirror_diff.view.summary.value
    green = summary.index("success-color1")
    red = summary.index("error-color1")
    assert summary.index("to add") > green
    assert summary.index("to remove") > red > green


def test_estimate_never_says_about_under_a_second(mirror_diff):
    assert "about under" not in mirror_diff.view.summary.value


# -- the match report -----------------------------------------------------------------------------


def test_match_report_explains_its_terms_and_downloads(session, registered):
    report = sww.MatchReport(session)
    report.members = sw.read_members(
        [*registered["emailAddress"].head(5).to_list(), "x@nowhere.example"]
    )
    resolution = report.run()
    assert resolution is not None
    assert "<svg" in report.funnel.value
    assert "guest_only" not in report.funnel.value
    for term in ("ambiguous", "guest only", "unmatched"):
        assert f"<b>{term}</b>" in report.terms.value
    assert report.download("csv") == "match-report.csv"
    got = pl.read_csv(io.BytesIO(_link_bytes(report.download_link.value)))
    assert got.height == resolution.n_valid
    assert "guest_only" not in report.problems_table.html.value


# -- history -----------------------------------------------------------------------------------------


def test_history_is_friendly_and_charts_the_size(session, sandbox, registered):
    before = sandbox.member_ids("vip")
    new = registered.filter(~pl.col("id").is_in(sorted(before)))["id"]
    first = session.apply(session.plan("vip", new.head(6).to_list(), mode="add"))
    history = sww.HistoryPanel(session)
    history.segment = "vip"
    assert history.run_id == first.run_id
    plan = history.undo()
    assert plan is not None
    assert "then push it" in history.undo_title.value
    history.pusher.push(wait=True)
    assert "then push it" not in history.undo_title.value
    assert "pushed (verified)" in history.undo_title.value
    undo_run = history.runs["run_id"][0]
    assert history.run_id == undo_run  # the newest run is selected after the push
    html = history.table.html.value
    assert "+00:00" not in html
    assert "n_add" not in html
    assert "added" in html
    assert "removed" in html
    assert f"undo of run …{first.run_id[-8:]}" in html
    # One segment, no notes: neither column is shown; the undo's label fits its box.
    assert ">segment<" not in html
    assert ">note<" not in html
    label = history.run_dropdown.options[0][0]
    assert f"undo of run …{first.run_id[-8:]} · verified" in label
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d<", html)

    sizes = session.journal.sizes(
        session.merchant_code, session.client.credentials.url_template, "vip"
    )
    assert sizes["n_before"].to_list() == [len(before), len(before) + 6]
    assert sizes["n_after"].to_list() == [len(before) + 6, len(before)]
    assert history.chart.value.startswith("<svg")
    assert f"{len(before) + 6:,} members" in history.chart.value

    frame = history.show_details(first.run_id)
    assert frame.height == 6
    assert history.details_box.layout.display == "flex"
    person = sandbox.model.customers_frame().filter(pl.col("id") == new[0]).row(0, named=True)
    assert mask_email(person["emailAddress"]) in history.details_table.html.value
    history.details_table.download("csv")
    got = pl.read_csv(io.BytesIO(_link_bytes(history.details_table.download_link.value)))
    assert sorted(got["customer_id"].to_list()) == sorted(new.head(6).to_list())


def test_local_time_and_empty_chart():
    assert local_time("2026-12-06T12:19:53+00:00").count(":") == 1
    assert "+" not in local_time("2026-12-06T12:19:53+00:00")
    assert local_time(None) == ""
    empty = pl.DataFrame(
        schema={"recorded_at": pl.String, "n_before": pl.Int64, "n_after": pl.Int64}
    )
    assert size_chart_svg(empty) == ""


def test_search_and_sort_show_only_for_tables_longer_than_a_page():
    short = PagedTable(_frame(5), page_size=10)
    assert short.search_box.layout.display == "none"
    assert short.toolbar.layout.display == "none"
    long = PagedTable(_frame(40), page_size=10)
    assert long.search_box.layout.display != "none"
    assert long.csv_button.layout.display == "none"
    assert PagedTable(_frame(5), downloads=True).csv_button.layout.display != "none"


def test_push_failures_show_who(session, registered):
    good = registered["id"].head(2).to_list()
    unknown = "00000000-0000-0000-0000-00000000abcd"
    plan = session.plan("vip", [*good, unknown], mode="add", check_ids=False)
    pusher = sww.PushPanel(session)
    pusher.plan = plan
    pusher.push(wait=True)
    assert pusher.result is not None
    assert pusher.result.n_failed == 1
    html = pusher.failed_table.html.value
    assert unknown in html
    assert "unknown" in html  # the account column: no such customer
    assert "customer id" in html


def test_segment_table_has_plain_headers(session):
    picker = sww.SegmentPicker(session)
    picker.refresh()
    html = picker.table.html.value
    assert ">members<" in html
    assert "memberCount" not in html


def test_a_whole_email_finds_a_removal_never_shown(session, sandbox, mirror_diff):
    removes = mirror_diff.view.removes_table
    target = removes.view["customer_id"][-1]  # on the last page: never looked up
    email = sandbox.model.customers_frame().filter(pl.col("id") == target)["emailAddress"][0]
    before = _sent(session)
    removes.search = email.split("@")[0]  # not a whole address: only what is known locally
    assert target not in removes.view["customer_id"].to_list()
    assert _sent(session) == before
    removes.search = email.upper()
    assert target in removes.view["customer_id"].to_list()
    # the matching of one email (a handful of requests) and the page shown, not one per row
    assert 0 < _sent(session) - before <= 12


# -- look up all: search and sort by email or name over every row -----------------------------------


def test_look_up_all_removals_then_search_and_sort_cover_every_row(session, sandbox, mirror_diff):
    view = mirror_diff.view
    removes = view.removes_table
    view.tabs.selected_index = 1
    n = mirror_diff.plan.n_remove
    assert view.look_up_button.description == f"Look up all {n:,}"
    assert view.look_up_button.layout.display != "none"
    # Removals are not in the list: their emails are known only once looked up.
    assert "the list has the emails" not in view.look_up_note.value
    assert "covers the rows shown so far" in view.look_up_note.value
    target = removes.view["customer_id"][-1]  # on the last page: never looked up
    person = sandbox.model.customers_frame().filter(pl.col("id") == target).row(0, named=True)
    fragment = person["emailAddress"].split("@")[0][1:]
    removes.search = fragment
    assert target not in removes.view["customer_id"].to_list()  # not known yet
    removes.search = ""

    known = set(session.people(removes.view["customer_id"], cached_only=True)["customer_id"])
    missing = [i for i in removes.view["customer_id"].to_list() if i not in known]
    expected = sum(-(-len(missing[i : i + 400]) // 100) for i in range(0, len(missing), 400))
    before = _sent(session)
    assert view.look_up_all("removes", wait=True) is not None
    assert _sent(session) - before == expected  # a hundred ids per request, none twice
    assert view.look_up_progress.value == n
    assert f"all {n:,} to remove are known" in view.look_up_note.value
    assert view.look_up_button.layout.display == "none"

    before = _sent(session)
    removes.search = fragment.upper()
    assert target in removes.view["customer_id"].to_list()
    html = removes.html.value
    assert mask_email(person["emailAddress"]) in html  # shown masked ...
    assert person["emailAddress"] not in html  # ... though the search matched the real one
    removes.search = person["lastName"]
    assert target in removes.view["customer_id"].to_list()
    removes.search = ""
    removes.sort_by = "name"
    names = removes.view["name"].drop_nulls().to_list()
    assert names == sorted(names)
    removes.sort_by = "email"
    emails = removes.view["email"].drop_nulls().to_list()
    assert emails == sorted(emails)
    assert "email" in {value for _, value in removes.sort_dropdown.options}
    assert _sent(session) == before  # search and sort ask Shopgate nothing

    # A new plan of the same segment: its people are known, so it is complete at once.
    mirror_diff.refresh()
    assert "email" in mirror_diff.view.removes_table.frame.columns


def test_look_up_all_is_capped_for_very_large_sides(session, mirror_diff, monkeypatch):
    from segwidgets.widgets import _people_table

    monkeypatch.setattr(_people_table, "LOOK_UP_ALL_LIMIT", 10)
    view = mirror_diff.view
    view.tabs.selected_index = 1
    before = _sent(session)
    assert view.look_up_all("removes", wait=True) is None
    assert _sent(session) == before
    assert view.look_up_button.layout.display == "none"
    assert "too many" in view.look_up_note.value
    assert "whole email address" in view.look_up_note.value


def test_look_up_all_stops_between_rounds():
    from segwidgets.widgets._people_columns import look_up_all

    asked: list[tuple[list[str], bool]] = []
    stop = {"now": False}

    def lookup(ids, cached_only):
        asked.append((list(ids), cached_only))
        if not cached_only:
            stop["now"] = True
        known = ["a"] if cached_only else list(ids)
        return pl.DataFrame({"customer_id": [i for i in ids if i in known or not cached_only]})

    seen: list[tuple[int, int]] = []
    done = look_up_all(
        lookup, ["a", "b", "c", "d", "e"], chunk=2, progress=lambda d, t: seen.append((d, t)),
        stopped=lambda: stop["now"],
    )  # fmt: skip
    assert done is False
    assert asked == [(["a", "b", "c", "d", "e"], True), (["b", "c"], False)]  # "a" was known
    assert seen == [(1, 5), (3, 5)]


def test_adds_are_searched_and_sorted_by_the_lists_emails(session, registered):
    emails = registered["emailAddress"].head(40).to_list()
    diff = sww.DiffPreview(session, mode="add")
    diff.segment = "vip"
    diff.desired = session.resolve(sw.read_members(emails))
    adds = diff.view.adds_table
    assert adds.frame.height > adds.page_size
    assert "the list has the emails" in diff.view.people["adds"].look_up_note.value
    last = adds.view["email"][-1]
    before = _sent(session)
    adds.search = last.split("@")[0][1:].upper()
    assert last in adds.view["email"].to_list()
    assert mask_email(last) in adds.html.value
    adds.search = ""
    adds.sort_by = "email"
    shown = adds.view["email"].to_list()
    assert shown == sorted(shown)
    assert _sent(session) - before <= 2  # the two pages drawn (found, sorted), not a row each


def test_ambiguous_rows_show_the_customers_sharing_the_email(session, customers):
    key = pl.col("emailAddress").str.to_lowercase()
    shared = (
        customers.filter(~pl.col("isAnonymous"), pl.col("status") != "deleted")
        .group_by(key.alias("key"))
        .agg(pl.col("id"), pl.col("emailAddress").first(), pl.col("lastName"))
        .filter(pl.col("id").list.len() > 1)
        .sort("key")
    )
    assert shared.height >= 1
    email, ids, last_names = shared.select("emailAddress", "id", "lastName").row(0)
    report = sww.MatchReport(session)
    report.members = sw.read_members([email, "x@nowhere.example"])
    before = _sent(session)
    report.run()
    resolution = report.resolution
    assert resolution is not None
    assert resolution.n_ambiguous == 1
    html = report.problems_table.html.value
    assert "customers with it" in html
    assert html.count(mask_email(email)) >= 1 + len(ids)  # the row's value and each customer
    assert email not in html
    for last_name in last_names:
        assert last_name in html
    assert "Ambiguous: several registered customers share this email" in report.explain.value
    assert "Guest only" not in report.explain.value  # only terms that appear are explained
    asked = _sent(session) - before
    report.problems_table.render()
    assert _sent(session) - before == asked  # the candidates are asked once

    report.reveal.value = True
    assert email in report.problems_table.html.value


def test_guest_only_rows_are_explained(session, customers):
    registered = set(
        customers.filter(~pl.col("isAnonymous"))["emailAddress"].str.to_lowercase().to_list()
    )
    guests = customers.filter(
        pl.col("isAnonymous"), ~pl.col("emailAddress").str.to_lowercase().is_in(list(registered))
    )
    report = sww.MatchReport(session)
    report.members = sw.read_members([guests["emailAddress"][0]])
    report.run()
    assert report.resolution.n_guest_only == 1
    assert "Guest only: only guest checkouts" in report.explain.value
    assert "Ambiguous:" not in report.explain.value
