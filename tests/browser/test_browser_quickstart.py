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
    # The app of the cell ``app = SegmentApp()`` (the notebook shows a second one further
    # down, already connected): the kernel's ``app`` must be the one clicked.
    cell = page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text="app = SegmentApp()")
    )
    assert cell.count() == 1
    app = cell.locator(".segwidgets-app")
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
    _kernel(page, "assert app.session is not None and app.session.is_sandbox\n")
    lab.screenshot("connected")

    # 2. pick the segment
    picker = panels.nth(1)
    _select(picker, f"{SEGMENT} ")
    picker.get_by_text("Customers who asked for the newsletter").first.wait_for()
    lab.screenshot("segment-picked")

    # 3. upload the sample file (in pieces, through the chunked upload)
    builder = panels.nth(2)
    upload_button = builder.locator(".segwidgets-upload-button")
    assert upload_button.inner_text().strip() == "Upload a file"
    # The button opens the browser's file chooser: answer it.
    with page.expect_file_chooser() as chooser:
        upload_button.click()
    chooser.value.set_files(str(SAMPLE))
    builder.get_by_text("newsletter_signups.csv, column E-Mail").first.wait_for(timeout=60_000)
    assert "995" in builder.inner_text()
    assert "MiB" not in builder.inner_text()  # no size limit below the websocket's
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
    # the summary under the funnel (the bar's own "Matched: …" line is hidden once done)
    match.get_by_text("customer ids from").locator("visible=true").first.wait_for(timeout=60_000)
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
    diff.locator(".widget-button:visible", has_text=f"Look up all {expected['n_remove']:,}").click()
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

    # 10. history: who the last run changed (searched by part of the removal's email), then
    # undo it
    history = panels.nth(6)
    history.scroll_into_view_if_needed()
    history.locator(".widget-button", has_text="Who it changed").click()
    history.get_by_text("Changes of the run").first.wait_for(timeout=60_000)
    changed = history.locator(".segwidgets-people").first  # the details, before the undo's
    known = changed.get_by_text("customers this run changed are known")
    look_up = changed.locator(".widget-button:visible", has_text="Look up all")
    look_up.or_(known).first.wait_for(timeout=60_000)  # drawn: offered, or all known already
    if look_up.count():
        look_up.first.click()
    known.first.wait_for(timeout=60_000)
    search = changed.locator("input[placeholder='search email, name or id']:visible").first
    search.fill(person["email"].split("@")[0][1:])
    search.press("Enter")
    changed.locator("table").get_by_text(person["name"]).first.wait_for(timeout=30_000)
    assert mask_email(person["email"]) in changed.inner_text()
    assert person["email"] not in changed.inner_text()
    lab.screenshot("history-who-it-changed")
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


def _big_csv(path: Path, *, at_least: int) -> dict[str, int]:
    """A CSV of distinct emails over ``at_least`` bytes, with 3 invalid and 2 repeated lines."""
    lines = ["email,name"]
    size = len(lines[0]) + 1
    n = 0
    while size <= at_least:
        line = f"customer.{n:07d}@example-shop.org,Customer {n}"
        lines.append(line)
        size += len(line) + 1
        n += 1
    lines += ["not-an-email,Nobody", "@example.org,Nobody", "a@@b,Nobody"]
    lines += [lines[1], lines[2]]
    path.write_text("\n".join(lines) + "\n")
    return {"valid": n, "rejected": 3, "duplicates": 2, "rows": n + 5}


def test_a_file_over_the_websocket_limit_is_uploaded_in_pieces(lab, tmp_path):
    """15 MiB is over the 10 MiB a single widget message may carry: the upload goes in
    pieces, shows its progress, and the list is read with its row counts."""
    notebook = "big_upload.ipynb"
    cells = [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "from segwidgets.widgets import MemberListBuilder\nbuilder = MemberListBuilder()\nbuilder"},
    ]  # fmt: skip
    (lab.server.root / notebook).write_text(
        json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3",
                    "display_name": "Python 3", "language": "python"}},
                    "nbformat": 4, "nbformat_minor": 5})
    )  # fmt: skip
    big = tmp_path / "big_signups.csv"
    counts = _big_csv(big, at_least=15 * 2**20)
    assert big.stat().st_size > 15 * 2**20

    page = lab.page
    lab.open(notebook)
    lab.run_all()
    assert lab.cell_errors() == []
    builder = page.locator(".segwidgets-panel").first
    builder.wait_for()
    upload_button = builder.locator(".segwidgets-upload-button")
    with page.expect_file_chooser() as chooser:
        upload_button.click()
    # Every line the upload shows, recorded as it changes (a fast upload is over before a
    # screenshot could catch it).
    page.evaluate(
        """() => {
            const text = document.querySelector('.segwidgets-upload-text');
            window._uploadLines = [];
            new MutationObserver(() => window._uploadLines.push(text.textContent))
                .observe(text, {childList: true, characterData: true, subtree: true});
        }"""
    )
    chooser.value.set_files(str(big))
    page.wait_for_function("() => window._uploadLines.length > 0")
    lab.screenshot("big-uploading")
    builder.get_by_text("big_signups.csv, column email").first.wait_for(timeout=180_000)
    lab.wait_cells_done()
    lines = page.evaluate("() => window._uploadLines")
    progress = [line for line in lines if line.startswith("Uploading big_signups.csv: ")]
    # one line per piece of 4 MiB at least, the last one complete
    assert len(progress) >= 4, lines
    assert any(
        re.search(r": [\d.,]+ (MiB|bytes) of 15\.\d MiB \(\d+ %\)", line) for line in progress
    )
    assert any(line.endswith("(100 %)") for line in progress), progress
    report = builder.inner_text()
    for number in (counts["rows"], counts["valid"], counts["rejected"], counts["duplicates"]):
        assert f"{number:,}" in report, (number, report)
    assert "Could not" not in report
    assert "Uploading" not in report  # the progress went with the upload
    lab.screenshot("big-loaded")
    # The kernel read the same rows as a typed path would, and no byte is in widget state.
    _kernel(
        page,
        "import os, segwidgets as _sw\n"
        "_typed = _sw.read_members(builder.upload.path, name='big_signups.csv')\n"
        "assert builder.members.valid.equals(_typed.valid)\n"
        "assert builder.upload.path.stat().st_mode & 0o777 == 0o600\n"
        "assert 'customer.0000001' not in repr(builder.upload.get_state())\n"
        "_first = builder.upload.path\n",
    )

    # Cancel: the kernel holds its answers after the second piece (as a busy one would), so
    # the upload waits half-way; Cancel stops it and removes what arrived.
    _kernel(
        page,
        "_reply = builder.upload._reply\n"
        "builder.upload._reply = lambda c: c if c.get('kind') == 'ack' and c['index'] >= 1 "
        "else _reply(c)\n",
    )
    with page.expect_file_chooser() as chooser:
        upload_button.click()
    chooser.value.set_files(str(big))
    builder.get_by_text(
        re.compile(r"Uploading big_signups\.csv: 8\.0 MiB of 15\.\d MiB \(\d+ %\)")
    ).first.wait_for(timeout=60_000)
    assert upload_button.is_disabled()
    lab.screenshot("big-uploading-half-way")
    _kernel(page, "_folder = builder.upload._partial.folder\nassert os.path.isdir(_folder)\n")
    builder.locator(".segwidgets-upload-cancel").click()
    builder.get_by_text("Upload of big_signups.csv cancelled.").first.wait_for()
    lab.wait_cells_done()
    assert not upload_button.is_disabled()
    lab.screenshot("big-cancelled")
    _kernel(
        page,
        "builder.upload._reply = _reply\n"
        "assert builder.upload.status == 'cancelled'\n"
        "assert not os.path.exists(_folder)\n"
        "assert builder.upload.path == _first and _first.exists()  # the list read before\n"
        f"assert builder.members.n_valid == {counts['valid']}\n",
    )
    assert f"{counts['valid']:,}" in builder.inner_text()

    # Over the panel's limit: refused at the first piece, with the reason; the list stays.
    _kernel(page, "builder.max_bytes = 10 * 2**20\n")
    with page.expect_file_chooser() as chooser:
        upload_button.click()
    chooser.value.set_files(str(big))
    builder.get_by_text(
        re.compile(r"big_signups\.csv is 15\.\d MiB, more than the limit of 10\.0 MiB")
    ).first.wait_for(timeout=60_000)
    builder.get_by_text("Not uploaded.").first.wait_for()
    lab.wait_cells_done()
    assert not upload_button.is_disabled()
    assert f"{counts['valid']:,}" in builder.inner_text()
    lab.screenshot("big-refused")
    _kernel(page, "assert builder.upload._partial is None and builder.upload.path == _first\n")
