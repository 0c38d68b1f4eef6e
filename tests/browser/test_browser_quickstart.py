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
from segwidgets._privacy import mask_email

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "notebooks" / "data" / "newsletter_signups.csv"
SEGMENT = "newsletter"


@pytest.fixture(scope="module")
def expected():
    """The plan the app should make, computed here against an identical sandbox."""
    with sw.SegmentSession.sandbox(customers=5000, seed=1) as session:
        resolution = session.resolve(sw.read_members(SAMPLE))
        plan = session.plan(SEGMENT, resolution)
        # The last removal as listed: on the last page, never shown before a search.
        removal = plan.removes["customer_id"][-1]
        person = session.people([removal]).row(0, named=True)
        return {
            "ids": set(resolution.customer_ids.to_list()),
            "n_add": plan.n_add,
            "n_remove": plan.n_remove,
            "n_unchanged": plan.n_unchanged,
            "removal": person,
        }


def _members_in_sandbox(url: str, code: str) -> dict[str, list[str]]:
    with urllib.request.urlopen(f"{url}/_sandbox/segments/{code}/members", timeout=10) as answer:  # noqa: S310
        return json.load(answer)


def _select(panel, label_start: str) -> None:
    """Choose the option of the panel's first dropdown whose label starts with ``label_start``."""
    select = panel.locator(".widget-dropdown select").first
    select.wait_for()
    # ipywidgets writes option labels with non-breaking spaces
    labels = select.evaluate("(s) => [...s.options].map((o) => o.textContent)")
    index = next(
        i for i, text in enumerate(labels) if text.replace("\xa0", " ").startswith(label_start)
    )
    select.select_option(index=index)


def _kernel(page, code: str) -> None:
    """Run ``code`` in the notebook's kernel (what a user would type into a new cell)."""
    page.evaluate(
        """async (code) => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            const future = kernel.requestExecute({code, silent: false, store_history: false});
            const reply = await future.done;
            if (reply.content.status !== 'ok') { throw new Error(reply.content.evalue); }
        }""",
        code,
    )


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
    panels = app.locator(".segwidgets-panel")

    # 1. connect: the app starts a sandbox of its own; the badge says where pushes go
    connect = panels.nth(0)
    connect.locator(".widget-button", has_text="Connect").click()
    connected = connect.get_by_text(
        re.compile(r"Connected to the sandbox at http://127\.0\.0\.1:\d+")
    )
    connected.first.wait_for(timeout=60_000)
    sandbox_url = re.search(r"http://127\.0\.0\.1:\d+", connected.first.inner_text()).group(0)
    assert "SANDBOX" in connect.locator(".segwidgets-destination").first.inner_text()
    lab.screenshot("connected")

    # 2. pick the segment
    picker = panels.nth(1)
    _select(picker, f"{SEGMENT} ")
    picker.get_by_text("Customers who asked for the newsletter").first.wait_for()
    lab.screenshot("segment-picked")

    # 3. upload the sample file
    builder = panels.nth(2)
    # The upload widget's <input type=file> is not in the page: answer its file chooser.
    with page.expect_file_chooser() as chooser:
        builder.locator(".widget-upload").click()
    chooser.value.set_files(str(SAMPLE))
    builder.get_by_text("newsletter_signups.csv, column E-Mail").first.wait_for(timeout=60_000)
    assert "995" in builder.inner_text()
    lab.screenshot("list-loaded")

    # 3b. a mistake: the first-name column. It is refused, and the right column named.
    _select(builder, "first_name")
    builder.get_by_text("neither email addresses nor customer ids").first.wait_for()
    assert "E-Mail" in builder.inner_text()
    push = panels.nth(5)
    assert "Review a plan first" in push.inner_text()
    builder.scroll_into_view_if_needed()
    lab.screenshot("wrong-column-refused")
    _select(builder, "E-Mail")
    builder.get_by_text("newsletter_signups.csv, column E-Mail").first.wait_for(timeout=60_000)

    # 4. find the customers (in a worker thread: the notebook stays usable)
    match = panels.nth(3)
    match.locator(".widget-button", has_text="Find customers").click()
    match.get_by_text("customer ids from").first.wait_for(timeout=60_000)
    lab.screenshot("matched")

    # 5. review the diff (planned as soon as segment and customers are known)
    diff = panels.nth(4)
    diff.get_by_text(f"To add ({expected['n_add']:,})").first.wait_for(timeout=60_000)
    diff.get_by_text(f"To remove ({expected['n_remove']:,})").first.wait_for()
    diff.get_by_text(f"Kept ({expected['n_unchanged']:,})").first.wait_for()
    diff.scroll_into_view_if_needed()
    lab.screenshot("diff-reviewed")

    # 5b. who is removed: read everyone to remove, then search by part of an email
    person = expected["removal"]
    diff.locator(".lm-TabBar-tab", has_text="To remove").click()
    diff.locator(".widget-button", has_text=f"Look up all {expected['n_remove']:,}").click()
    diff.get_by_text(f"all {expected['n_remove']:,} to remove are known").first.wait_for(
        timeout=60_000
    )
    search = diff.locator("input[placeholder='search email, name or id']:visible")
    search.fill(person["email"].split("@")[0][1:])
    search.press("Enter")
    removes = diff.locator(".widget-tab-contents table:visible").first
    removes.get_by_text(person["name"]).first.wait_for(timeout=30_000)
    shown = removes.inner_text()
    assert mask_email(person["email"]) in shown
    assert person["email"] not in shown  # the search matched the real email, shown masked
    diff.scroll_into_view_if_needed()
    lab.screenshot("diff-removal-found")

    # 6. a dry run
    assert "SANDBOX" in push.locator(".segwidgets-destination").first.inner_text()
    push.get_by_text("dry run (send nothing)").click()
    push.locator(".widget-button", has_text="Dry run").click()
    push.get_by_text("Dry run: nothing was sent").first.wait_for(timeout=60_000)
    assert _members_in_sandbox(sandbox_url, SEGMENT)["ids"] != sorted(expected["ids"])
    push.get_by_text("dry run (send nothing)").click()

    # 7. push over a slow network in small batches, and cancel it half-way
    _kernel(
        page,
        "import dataclasses\n"
        "_p = app.session._pusher\n"
        "_p.options = dataclasses.replace(_p.options, batch_size=10, concurrency=1)\n"
        "_p.batch_size = 10\n"
        "app.session.server.configure(latency=0.15)\n",
    )
    push.locator(".widget-button", has_text="Push").click()
    push.get_by_text(re.compile(r"sending · batch [3-9]/")).first.wait_for(timeout=120_000)
    push.scroll_into_view_if_needed()
    lab.screenshot("pushing-phase-bar")
    push.locator(".widget-button", has_text="Cancel").click()
    push.get_by_text(re.compile(r"Cancelled: [\d,]+ sent, [\d,]+ not sent")).first.wait_for(
        timeout=120_000
    )
    resume = push.locator(".widget-button:not(:disabled)", has_text="Resume")
    resume.wait_for()  # enabled: the push has settled
    panels.nth(6).get_by_text("cancelled", exact=True).first.wait_for()  # history shows it
    assert "Cancelling" not in push.inner_text()
    assert "stopped before the end" in push.inner_text()
    lab.screenshot("cancelled")

    # 8. resume: only what was not sent goes out
    _kernel(page, "app.session.server.configure(latency=0.0)\n")
    resume.click()
    push.get_by_text("Done and verified").first.wait_for(timeout=120_000)
    lab.wait_cells_done()
    lab.screenshot("resumed")

    # The sandbox holds exactly the planned members.
    state = _members_in_sandbox(sandbox_url, SEGMENT)
    assert state["pending"] == []
    assert set(state["ids"]) == expected["ids"]
    assert len(state["ids"]) == expected["n_unchanged"] + expected["n_add"]

    # 9. plan again: nothing left, and the old result went with the old plan
    push.locator(".widget-button", has_text="Plan again").click()
    diff.get_by_text("Nothing to change.").first.wait_for(timeout=60_000)
    assert "Done and verified" not in push.inner_text()

    # 10. history: the runs, then undo the last one
    history = panels.nth(6)
    history.scroll_into_view_if_needed()
    history.locator(".widget-button", has_text="Plan undo").click()
    undo = history.locator(".segwidgets-panel").first
    undo.get_by_text("Ready:").first.wait_for(timeout=60_000)
    lab.screenshot("undo-planned")
    undo_box = undo.locator("input[type=text]")
    if undo_box.first.is_visible():
        undo_box.first.fill(SEGMENT)
        undo_box.first.press("Enter")
    undo.locator(".widget-button", has_text="Push").click()
    undo.get_by_text("Done and verified").first.wait_for(timeout=120_000)
    assert "was pushed" in undo.inner_text()
    lab.wait_cells_done()
    history.scroll_into_view_if_needed()
    lab.screenshot("undone")

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
