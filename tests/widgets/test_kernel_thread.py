"""Workers never build widgets or change the app's state: they hand results back to the
kernel's thread, which applies them (``_kernel_thread``).

A widget created in a worker sends its comm_open from that thread while the kernel's thread
may already send a box whose children name it; the front end can then draw a view for a
model it does not know yet. These tests record, for a whole match → plan → look-up → push
→ undo flow run in the background, which thread built each widget and changed each trait.
"""

from __future__ import annotations

import threading

import ipywidgets
import polars as pl
import pytest

import segwidgets as sw
from segwidgets import widgets as sww
from segwidgets._result import ApplyResult
from segwidgets.widgets import _kernel_thread

#: Traits that carry what the app knows or how it is laid out: set on the kernel's thread only.
_KERNEL_ONLY = {"children", "plan", "result", "resolution", "undo_plan", "state", "busy", "options"}


class _FakeLoop:
    """A kernel's event loop as workers see it: ``add_callback`` from any thread."""

    def __init__(self) -> None:
        self.n_callbacks = 0
        self._lock = threading.Lock()

    def add_callback(self, callback) -> None:
        with self._lock:
            self.n_callbacks += 1  # run by the test's waits (drain) on the main thread


class _Recorder:
    def __init__(self) -> None:
        self.built: list[tuple[str, str]] = []
        self.changed: list[tuple[str, str, str]] = []


@pytest.fixture
def recorder(monkeypatch) -> _Recorder:
    record = _Recorder()
    init = ipywidgets.Widget.__init__
    notify = ipywidgets.Widget.notify_change

    def recording_init(self, *args, **kwargs):
        record.built.append((threading.current_thread().name, type(self).__name__))
        init(self, *args, **kwargs)

    def recording_notify(self, change):
        record.changed.append(
            (threading.current_thread().name, type(self).__name__, str(change["name"]))
        )
        notify(self, change)

    monkeypatch.setattr(ipywidgets.Widget, "__init__", recording_init)
    monkeypatch.setattr(ipywidgets.Widget, "notify_change", recording_notify)
    return record


def _ids_not_in(registered: pl.DataFrame, sandbox, code: str, n: int) -> list[str]:
    members = sandbox.member_ids(code)
    return [i for i in registered["id"].to_list() if i not in members][:n]


def _flow(session, registered, sandbox) -> sww.SegmentApp:
    """Match, plan, look everyone up, push, plan an undo and push it, all in workers."""
    app = sww.SegmentApp(session, environ={}, background=True)
    app.picker.value = "vip"
    members = set(sandbox.member_ids("vip"))
    emails = registered.filter(~pl.col("id").is_in(list(members)))["emailAddress"].head(20)
    app.builder.load(pl.DataFrame({"email": emails.to_list()}))
    app.match.run()
    assert app.wait(60)
    assert app.match.resolution is not None
    assert app.diff.plan is not None, app.diff.status_text
    app.diff.view.look_up_all("removes", wait=True)
    assert "removes" in app.diff.view.complete
    app.pusher.confirmation = "vip"
    app.pusher.push(wait=True)
    assert app.wait(60)
    assert app.pusher.result is not None, app.pusher.status_text
    assert app.pusher.result.status == "verified"
    app.history.undo()
    undo = app.history.pusher
    undo.confirmation = "vip"
    undo.push(wait=True)
    assert app.wait(60)
    assert undo.result is not None, undo.status_text
    assert undo.result.status == "verified"
    return app


def test_no_widget_is_built_off_the_kernel_thread(session, registered, sandbox, recorder):
    _flow(session, registered, sandbox)
    main = threading.main_thread().name
    assert {thread for thread, _ in recorder.built} == {main}
    off = {(kind, name) for thread, kind, name in recorder.changed if thread != main}
    assert not {(kind, name) for kind, name in off if name == "children"}


def test_in_a_kernel_workers_hand_results_back(session, registered, sandbox, recorder, monkeypatch):
    loop = _FakeLoop()
    monkeypatch.setattr(_kernel_thread, "kernel_loop", lambda: loop)
    app = sww.SegmentApp(session, environ={}, background=True)
    app.picker.value = "vip"
    app.builder.load(pl.DataFrame({"email": registered["emailAddress"].head(5).to_list()}))
    app.match.run()
    app.match._worker.join(60)
    # The worker is done, but its result waits for the kernel's thread.
    assert app.match.resolution is None
    assert app.match.busy
    assert loop.n_callbacks >= 1
    assert app.wait(60)  # the kernel's thread applies it (and plans in turn)
    assert app.match.resolution is not None
    assert not app.match.busy
    assert app.diff.plan is not None

    _flow(session, registered, sandbox)
    main = threading.main_thread().name
    assert {thread for thread, _ in recorder.built} == {main}
    off = {(kind, name) for thread, kind, name in recorder.changed if thread != main}
    assert off  # the workers did show progress ...
    assert not {(kind, name) for kind, name in off if name in _KERNEL_ONLY}  # ... nothing more


@pytest.fixture
def kernel_loop(monkeypatch) -> _FakeLoop:
    """Workers see a running kernel: what they hand back waits for a drain."""
    loop = _FakeLoop()
    monkeypatch.setattr(_kernel_thread, "kernel_loop", lambda: loop)
    return loop


def _plan(session, code, ids, **options):
    return sww._planview.for_review(session.plan(code, ids, allow_mass_removal=True, **options))


def test_in_a_kernel_a_refused_push_shows_its_error(session, registered, kernel_loop, output_of):
    push = sww.PushPanel(session)
    push.plan = _plan(session, "vip", registered["id"].head(3).to_list(), mode="add")
    session.client.add_members("vip", registered["id"].slice(100, 1).to_list())  # someone else
    push.push(wait=True)
    assert isinstance(push.last_error, sw.StalePlanError)
    assert "Plan again" in output_of(push)
    assert not push.busy
    assert push.progress_box.layout.display == "none"


def test_in_a_kernel_an_incomplete_push_shows_its_result_then_why(
    session, registered, kernel_loop, monkeypatch, output_of
):
    push = sww.PushPanel(session)
    push.plan = _plan(session, "vip", registered["id"].head(3).to_list(), mode="add")
    stopped = ApplyResult(
        run_id="r-stopped",
        status="cancelled",
        segment_code="vip",
        outcomes=pl.DataFrame(
            {"customer_id": ["a"], "action": ["add"], "outcome": ["pending"], "error": [None]},
            schema={"customer_id": pl.String, "action": pl.String, "outcome": pl.String,
                    "error": pl.String},
        ),
        n_requests=1,
        seconds=0.1,
    )  # fmt: skip

    def apply(*args, **kwargs):
        raise sw.ApplyIncompleteError("The push stopped early.", result=stopped)

    monkeypatch.setattr(session, "apply", apply)
    push.push(wait=True)
    assert push.result is stopped
    assert isinstance(push.last_error, sw.ApplyIncompleteError)
    assert "stopped early" in output_of(push)
    assert push.resume_run_id == "r-stopped"
    assert not push.busy


def test_hand_back_runs_in_order_on_the_main_thread_only(kernel_loop, caplog):
    ran: list[tuple[str, str]] = []

    def worker() -> None:
        for name in ("first", "broken", "second"):

            def call(name: str = name) -> None:
                ran.append((name, threading.current_thread().name))
                if name == "broken":
                    raise RuntimeError("boom")

            _kernel_thread.on_kernel_thread(call)
        _kernel_thread.drain()  # off the main thread: runs nothing

    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    thread.join()
    assert ran == []
    assert kernel_loop.n_callbacks == 3
    _kernel_thread.drain()
    main = threading.main_thread().name
    assert ran == [("first", main), ("broken", main), ("second", main)]  # an error stops none
    assert "handed back" in caplog.text
    _kernel_thread.on_kernel_thread(lambda: ran.append(("inline", threading.current_thread().name)))
    assert ran[-1] == ("inline", main)  # already on the kernel's thread: at once
