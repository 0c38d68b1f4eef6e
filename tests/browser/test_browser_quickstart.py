"""The quickstart notebook in a real browser: run it, then sync a segment through the app.

Connect to a sandbox, pick ``newsletter``, upload the sample file, find the customers,
review the diff and push, all by clicking. Then the sandbox itself (its control endpoint,
not the app) must show exactly the planned members: the ids this test computes on its own
from the same file against a sandbox with the same seed.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

import segwidgets as sw

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "notebooks" / "data" / "newsletter_signups.csv"
SEGMENT = "newsletter"


@pytest.fixture(scope="module")
def expected():
    """The plan the app should make, computed here against an identical sandbox."""
    with sw.SegmentSession.sandbox(customers=5000, seed=1) as session:
        resolution = session.resolve(sw.read_members(SAMPLE))
        plan = session.plan(SEGMENT, resolution)
        return {
            "ids": set(resolution.customer_ids.to_list()),
            "n_add": plan.n_add,
            "n_remove": plan.n_remove,
            "n_unchanged": plan.n_unchanged,
        }


def _members_in_sandbox(url: str, code: str) -> dict[str, list[str]]:
    with urllib.request.urlopen(f"{url}/_sandbox/segments/{code}/members", timeout=10) as answer:  # noqa: S310
        return json.load(answer)


def test_quickstart_app_syncs_the_sample_file(lab, expected):
    page = lab.page
    lab.open("quickstart.ipynb")
    lab.screenshot("opened")
    lab.run_all()
    assert lab.cell_errors() == []
    app = page.locator(".segwidgets-app").first
    app.wait_for()
    app.scroll_into_view_if_needed()
    lab.screenshot("app-shown")

    # 1. connect: the app starts a sandbox of its own
    connect = app.locator(".segwidgets-panel").nth(0)
    connect.locator(".widget-button", has_text="Connect").click()
    connected = connect.get_by_text(
        re.compile(r"Connected to the sandbox at http://127\.0\.0\.1:\d+")
    )
    connected.first.wait_for(timeout=60_000)
    sandbox_url = re.search(r"http://127\.0\.0\.1:\d+", connected.first.inner_text()).group(0)
    lab.screenshot("connected")

    # 2. pick the segment
    picker = app.locator(".segwidgets-panel").nth(1)
    select = picker.locator(".widget-dropdown select").first
    select.wait_for()
    # ipywidgets writes option labels with non-breaking spaces
    labels = select.evaluate("(s) => [...s.options].map((o) => o.textContent)")
    index = next(
        i for i, text in enumerate(labels) if text.replace("\xa0", " ").startswith(f"{SEGMENT} ")
    )
    select.select_option(index=index)
    picker.get_by_text("Customers who asked for the newsletter").first.wait_for()
    lab.screenshot("segment-picked")

    # 3. upload the sample file
    builder = app.locator(".segwidgets-panel").nth(2)
    # The upload widget's <input type=file> is not in the page: answer its file chooser.
    with page.expect_file_chooser() as chooser:
        builder.locator(".widget-upload").click()
    chooser.value.set_files(str(SAMPLE))
    builder.get_by_text("newsletter_signups.csv, column E-Mail").first.wait_for(timeout=60_000)
    assert "995" in builder.inner_text()
    lab.screenshot("list-loaded")

    # 4. find the customers
    match = app.locator(".segwidgets-panel").nth(3)
    match.locator(".widget-button", has_text="Find customers").click()
    match.get_by_text("customer ids from").first.wait_for(timeout=60_000)
    lab.screenshot("matched")

    # 5. review the diff (planned as soon as segment and customers are known)
    diff = app.locator(".segwidgets-panel").nth(4)
    diff.get_by_text(f"To add ({expected['n_add']:,})").first.wait_for(timeout=60_000)
    diff.get_by_text(f"To remove ({expected['n_remove']:,})").first.wait_for()
    diff.get_by_text(f"Kept ({expected['n_unchanged']:,})").first.wait_for()
    diff.scroll_into_view_if_needed()
    lab.screenshot("diff-reviewed")

    # 6. push (first a dry run, then for real)
    push = app.locator(".segwidgets-panel").nth(5)
    push.get_by_text("dry run (send nothing)").click()
    push.locator(".widget-button", has_text="Dry run").click()
    push.get_by_text("dry run:").first.wait_for(timeout=60_000)
    assert _members_in_sandbox(sandbox_url, SEGMENT)["ids"] != sorted(expected["ids"])
    push.get_by_text("dry run (send nothing)").click()
    push.locator(".widget-button", has_text="Push").click()
    push.get_by_text(re.compile(r"^verified:")).first.wait_for(timeout=120_000)
    lab.wait_cells_done()
    push.scroll_into_view_if_needed()
    lab.screenshot("pushed")

    # The sandbox holds exactly the planned members.
    state = _members_in_sandbox(sandbox_url, SEGMENT)
    assert state["pending"] == []
    assert set(state["ids"]) == expected["ids"]
    assert len(state["ids"]) == expected["n_unchanged"] + expected["n_add"]

    # After the push the app plans again: nothing left to change.
    diff.get_by_text("Nothing to change.").first.wait_for(timeout=60_000)
    # The whole app in one picture (scripts/update-screenshot.sh copies it to docs/app.png).
    page.set_viewport_size({"width": 1280, "height": 4200})
    app.scroll_into_view_if_needed()
    lab.screenshot("app", locator=app)
    # and in the dark theme (the panels use JupyterLab's --jp-* colours)
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    lab.screenshot("app-dark", locator=app)
