"""Search and sort by who: the History panel's "Who it changed" table and the push
failures table use the same people table as the plan (masked email and name, search by part
of an email or name once people are known, "Look up all N")."""

from __future__ import annotations

import polars as pl

from segwidgets import widgets as sww
from segwidgets._privacy import mask_email
from segwidgets.widgets._people_table import PeopleTable


def _sent(session) -> int:
    return session.client.stats.n_requests


def _history_of_a_push(session, sandbox, registered, n: int) -> sww.HistoryPanel:
    before = sandbox.member_ids("vip")
    new = registered.filter(~pl.col("id").is_in(sorted(before)))["id"].head(n).to_list()
    result = session.apply(session.plan("vip", new, mode="add"))
    assert result.status == "verified"
    history = sww.HistoryPanel(session)
    history.segment = "vip"
    assert history.run_id == result.run_id
    return history


def test_who_it_changed_is_searched_and_sorted_by_email_and_name(session, sandbox, registered):
    history = _history_of_a_push(session, sandbox, registered, 25)
    history.show_details()
    details, table = history.details, history.details_table
    assert isinstance(details, PeopleTable)
    assert table.frame.height == 25
    assert table.search_box.layout.display != "none"  # longer than a page: search and sort
    assert details.look_up_box.layout.display == "flex"
    customers = sandbox.model.customers_frame()
    # Whose row is on the last page (its person may not be known yet).
    target = table.view["customer_id"][-1]
    person = customers.filter(pl.col("id") == target).row(0, named=True)
    assert not details.complete  # only the first page was read
    table.search = person["lastName"]
    assert target not in table.view["customer_id"].to_list()  # not known yet
    table.search = ""
    assert details.look_up_button.description == "Look up all 25"
    assert details.look_up_all(wait=True) is not None
    assert details.complete
    assert "all 25 customers this run changed are known" in details.look_up_note.value

    before = _sent(session)
    table.search = person["emailAddress"].split("@")[0][1:].upper()  # part of the email
    assert target in table.view["customer_id"].to_list()
    html = table.html.value
    assert mask_email(person["emailAddress"]) in html  # masked ...
    assert person["emailAddress"] not in html
    table.search = person["lastName"]
    assert target in table.view["customer_id"].to_list()
    table.search = ""
    table.sort_by = "name"
    names = table.view["name"].drop_nulls().to_list()
    assert len(names) == 25
    assert names == sorted(names)
    assert ("email", "email") in table.sort_dropdown.options
    assert _sent(session) == before  # search and sort ask Shopgate nothing

    table.search = person["lastName"]
    assert person["emailAddress"] not in table.html.value
    history.details_reveal.value = True  # "show emails"
    assert person["emailAddress"] in table.html.value


def test_a_short_run_needs_no_look_up(session, sandbox, registered):
    history = _history_of_a_push(session, sandbox, registered, 4)
    history.show_details()
    assert history.details.complete  # one page: everyone was read for it
    assert history.details.look_up_box.layout.display == "none"
    assert "email" in history.details_table.frame.columns


def test_push_failures_are_searched_and_looked_up(session, registered):
    good = registered["id"].head(2).to_list()
    unknown = [f"00000000-0000-0000-0000-{i:012d}" for i in range(14)]
    plan = session.plan("vip", [*good, *unknown], mode="add", check_ids=False)
    pusher = sww.PushPanel(session)
    pusher.plan = plan
    pusher.push(wait=True)
    assert pusher.result is not None
    assert pusher.result.n_failed == 14
    failures, table = pusher.failures, pusher.failed_table
    assert table.search_box.layout.display != "none"
    assert failures.look_up_box.layout.display == "flex"
    assert failures.look_up_button.description == "Look up all 14"
    table.search = unknown[12][-6:]
    assert table.view["customer_id"].to_list() == [unknown[12]]
    table.search = ""
    assert failures.look_up_all(wait=True) is not None
    assert failures.complete
    table.sort_by = "customer_id"
    table.descending = True
    assert table.view["customer_id"].to_list() == sorted(unknown, reverse=True)
    # The people of unknown ids are known (as nobody): the account column says so.
    assert "unknown" in table.html.value


def test_a_runs_changes_and_its_undo_are_shown_one_at_a_time(session, sandbox, registered):
    history = _history_of_a_push(session, sandbox, registered, 3)
    run = history.run_id
    history.show_details()
    assert history.details_box.layout.display == "flex"
    assert "3 members." in history.details_title.value
    plan = history.undo()
    assert plan is not None
    assert history.details_box.layout.display == "none"
    assert history.undo_box.layout.display == "flex"
    assert f"…{run[-8:]}" in history.undo_title.value
    assert f"undo of run …{run[-8:]}" in history.view.summary.value
    assert run not in history.view.summary.value  # the short id, as in the list
    history.show_details()  # the undo was not pushed: its plan goes
    assert history.undo_plan is None
    assert history.undo_box.layout.display == "none"
    assert history.details_box.layout.display == "flex"


def test_the_size_chart_dates_sit_under_their_runs():
    from segwidgets.widgets._charts import size_chart_svg

    one = pl.DataFrame(
        {"recorded_at": ["2026-12-06T12:00:00+00:00"], "n_before": [980], "n_after": [980]}
    )
    svg = size_chart_svg(one)
    assert "text-anchor='middle'" in svg  # one run: its time centred under its points
    two = pl.concat([one, one.with_columns(n_after=pl.lit(990, dtype=pl.Int64))])
    assert size_chart_svg(two).count("opacity='.75'") == 2
