"""``PushPanel``: send a reviewed plan to Shopgate, with progress, cancel and the result."""

from __future__ import annotations

import base64
import html
import re
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from .._consent import PushConsent, push_consent
from .._cost import duration_text
from .._destination import Destination, destination_of
from .._errors import ApplyIncompleteError, SegwidgetsError, StalePlanError
from .._plan import SegmentPlan
from .._progress import CancelToken, ProgressEvent
from .._result import ApplyResult
from . import _html
from ._base import Panel
from ._people_columns import session_email_finder, session_lookup
from ._people_table import PeopleTable
from ._state import cancel_sentence

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from .._session import SegmentSession

__all__ = ["PushPanel"]

_STATUS_LEVEL: dict[str, _html.Level] = {
    "verified": "success",
    "applied": "success",
    "dry_run": "info",
    "accepted_unverified": "warning",
    "partial": "warning",
    "cancelled": "warning",
    "failed": "error",
}


#: How each phase of a push is named on the progress bar (other phases show as they come).
_PHASE_LABELS = {
    "read": "reading the segment",
    "check": "checking the segment did not change",
    "push": "sending",
    "reconcile": "reconciling",
    "verify": "verifying",
    "resolve": "finding customers",
    "done": "done",
}


def destination_badge(destination: Destination | None) -> str:
    """The badge naming where a push goes; production in a warning colour."""
    if destination is None:
        return _html.note("Not connected: nothing can be pushed.", level="muted")
    colour = "#b45309" if destination.is_production else "#2563eb"
    if destination.environment == "SANDBOX":
        colour = "#15803d"
    return (
        "<span class='segwidgets-destination' style='display:inline-block;padding:2px 8px;"
        f"border-radius:10px;border:1px solid {colour};color:{colour};font-weight:600;"
        f"font-size:var(--jp-ui-font-size1,13px)'>{_html.esc(destination.environment)}</span>"
        f"<span style='margin-left:6px'>merchant <b>{_html.esc(destination.merchant_code)}"
        "</b></span>"
    )


class PushPanel(Panel):
    """Push ``panel.plan``: a dry run, or the real thing with progress, Cancel and a result.

    Over the mass-removal limit the segment code must be typed into the confirmation box.
    The push runs in a worker thread, so the notebook stays responsive and Cancel works
    (it stops between batches; what was sent is recorded, and ``session.resume(run_id)``
    finishes it later). A plan whose segment changed since planning is refused with
    nothing written: plan again.

    Python twins: ``panel.dry_run = True``, ``panel.confirmation = "newsletter"``,
    ``panel.push(wait=True)``, ``panel.cancel()``.
    """

    #: The plan to push (from the diff preview, or an undo plan).
    plan = traitlets.Instance(SegmentPlan, allow_none=True)
    #: Only show what would be sent.
    dry_run = traitlets.Bool(False)
    #: The typed confirmation: must equal the segment code for a mass removal.
    confirmation = traitlets.Unicode("")
    #: The result of the last push (None before the first).
    result = traitlets.Instance(ApplyResult, allow_none=True)

    def __init__(
        self,
        session: SegmentSession | None = None,
        *,
        replan: Callable[[], object] | None = None,
        heading: str = "Push",
        **kwargs: Any,
    ) -> None:
        self._replan = replan
        self._token: CancelToken | None = None
        self._pushed: set[str] = set()
        self.summary = widgets.HTML()
        self.dry_run_box = widgets.Checkbox(
            value=False, description="dry run (send nothing)", indent=False
        )
        self.confirm_text = widgets.Text(
            description="Confirm",
            placeholder="type the segment code",
            style={"description_width": "60px"},
            layout=widgets.Layout(width="300px"),
        )
        self.push_button = widgets.Button(description="Push", icon="upload", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop")
        self.replan_button = widgets.Button(description="Plan again", icon="refresh")
        self.resume_button = widgets.Button(
            description="Resume",
            icon="redo",
            button_style="warning",
            tooltip="Send the changes the stopped run did not send (nothing is sent twice)",
            layout=widgets.Layout(width="auto"),
        )
        self.resume_button.on_click(lambda _: self.resume())
        #: The run the Resume button finishes (a stopped push, or one found in the journal).
        self.resume_run_id: str | None = None
        #: Where the push goes: environment badge and merchant.
        self.badge = widgets.HTML()
        self.push_button.on_click(lambda _: self.push())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.replan_button.on_click(lambda _: self.replan())
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="420px")
        )
        self.progress_label = widgets.HTML()
        self.progress_box = widgets.HBox(
            [self.progress, self.progress_label], layout=widgets.Layout(align_items="center")
        )
        self.result_html = widgets.HTML()
        #: the refused changes, with who each customer is: search, sort, "Look up all"
        self.failures = PeopleTable(
            lookup=lambda: session_lookup(self.session),
            find_email=lambda: session_email_finder(self.session),
            who="refused changes",
            page_size=10,
            empty="Nothing failed.",
            name="failed",
            downloads=False,
        )
        self.failed_table = self.failures.table
        self.download_button = widgets.Button(description="Download failed ids", icon="download")
        self.download_button.on_click(lambda _: self.prepare_download())
        self.download_link = widgets.HTML()
        #: Shopgate's reasons for refused changes: one line per reason, with its count and ids
        self.reasons_html = widgets.HTML()
        self.failed_box = widgets.VBox(
            [
                self.reasons_html,
                self.failures,
                widgets.HBox([self.download_button, self.download_link]),
            ]
        )
        super().__init__(session, heading=heading, **kwargs)
        self.dry_run_box.observe(self._on_dry_run_box_change, names="value")
        self.confirm_text.observe(self._on_confirm_text_change, names="value")
        self.observe(self._on_dry_run_change, names="dry_run")
        self.observe(self._on_confirmation_change, names="confirmation")
        self.observe(self._on_plan_change, names="plan")
        self.observe(self._on_result_change, names="result")
        self._set_body(
            self.badge,
            self.summary,
            widgets.HBox([self.dry_run_box, self.confirm_text]),
            widgets.HBox(
                [self.push_button, self.cancel_button, self.replan_button, self.resume_button]
            ),
            self.progress_box,
            self.result_html,
            self.failed_box,
        )
        self._show_badge()
        self._show_plan()
        self._show_result()

    # -- state ------------------------------------------------------------------------------------

    @property
    def destination(self) -> Destination | None:
        """Where a push goes (None: not connected)."""
        if self.session is None:
            return None
        return destination_of(self.session.client.credentials)

    @property
    def consent(self) -> PushConsent | None:
        """What the plan needs before a push (the segment code typed, and why)."""
        if self.plan is None:
            return None
        return push_consent(self.plan, self.destination)

    @property
    def needs_confirmation(self) -> bool:
        """True when the segment code must be typed: a mass removal, or any production push."""
        consent = self.consent
        return consent is not None and consent.required

    @property
    def confirmed(self) -> bool:
        """True when no confirmation is needed or the segment code was typed."""
        consent = self.consent
        return consent is not None and consent.accepts(self.confirmation)

    @property
    def pushed(self) -> bool:
        """True when the plan shown was pushed already (plan again to push more)."""
        plan = self.plan
        return plan is not None and plan.plan_id in self._pushed

    # -- actions ----------------------------------------------------------------------------------

    def push(self, *, wait: bool = False) -> threading.Thread | None:
        """Start the push (or the dry run) in a worker thread; ``wait=True`` blocks until done.

        Returns the worker thread, or None when nothing was started (the reason is shown).
        """
        plan = self.plan
        if self.busy:
            self.show("A push is running: wait for it, or press Cancel.", level="warning")
            return None
        if self.session is None or plan is None:
            self.show("Nothing to push yet: review a plan first.", level="muted")
            return None
        if plan.plan_id in self._pushed and not self.dry_run:
            self.show("This plan was pushed already. Plan again to push more.", level="muted")
            return None
        if plan.is_empty() and not self.dry_run:
            self.show("Nothing to change: the segment already matches the list.", level="info")
            return None
        consent = push_consent(plan, self.destination)
        if not self.dry_run and not consent.accepts(self.confirmation):
            self.show(consent.reason, level="warning")
            return None
        session = self.session
        dry_run = self.dry_run
        to_send = plan.with_consent() if plan.needs_mass_removal_consent else plan
        token = CancelToken()
        self._token = token
        self.result = None  # the previous result never stays under a running push
        self._start_progress(plan)
        self.show(
            "Dry run: checking the plan …"
            if dry_run
            else f"Pushing to {plan.segment_code} ({self.destination}) …"
        )

        def work() -> None:
            try:
                result = session.apply(
                    to_send, dry_run=dry_run, progress=self._on_progress, cancel=token
                )
            except StalePlanError:
                self.hand_back(lambda: setattr(self.progress_box.layout, "display", "none"))
                raise
            except ApplyIncompleteError as exc:
                partial = exc.result  # ``exc`` is unbound once the except block ends
                if isinstance(partial, ApplyResult):
                    self.hand_back(lambda: self._take(partial, plan, pushed=True, clear=False))
                raise
            self.hand_back(lambda: self._take(result, plan, pushed=not dry_run))

        worker = self.run_in_background(work, doing="pushing" if not dry_run else "the dry run")
        if wait:
            self.wait()
        return worker

    def _take(
        self, result: ApplyResult, plan: SegmentPlan | None, *, pushed: bool, clear: bool = True
    ) -> None:
        """Show a run's result (on the kernel's thread); ``clear`` empties the status line
        first (an incomplete run's error follows its result instead)."""
        if pushed and plan is not None:
            self._pushed.add(plan.plan_id)
            self.confirmation = ""
        if clear:
            self.clear_status()  # before the result: no "Pushing…" or "Cancelling…" under it
        self.result = result

    def resume(self, run_id: str | None = None, *, wait: bool = False) -> threading.Thread | None:
        """Finish a stopped run (default: the one the Resume button offers) in a worker
        thread: only what the server did not confirm is sent."""
        run = run_id or self.resume_run_id
        if self.busy:
            self.show("A push is running: wait for it, or press Cancel.", level="warning")
            return None
        if self.session is None or run is None:
            self.show("Nothing to resume.", level="muted")
            return None
        session = self.session
        token = CancelToken()
        self._token = token
        self.result = None
        self.progress.value = 0
        self.progress.bar_style = ""
        self.progress_label.value = ""
        self.progress_box.layout.display = "flex"
        self.show(f"Resuming run {run} ({self.destination}) …")

        def work() -> None:
            try:
                result = session.resume(run, progress=self._on_progress, cancel=token)
            except ApplyIncompleteError as exc:
                stopped = exc.result  # ``exc`` is unbound once the except block ends
                if isinstance(stopped, ApplyResult):
                    self.hand_back(lambda: setattr(self, "result", stopped))
                raise
            self.hand_back(lambda: self._take_resumed(result))

        worker = self.run_in_background(work, doing="resuming the run")
        if wait:
            self.wait()
        return worker

    def _take_resumed(self, result: ApplyResult) -> None:
        if self.plan is not None:
            self._pushed.add(self.plan.plan_id)
        self.resume_run_id = None
        self.clear_status()
        self.result = result

    def cancel(self) -> None:
        """Stop the running push after the batches in flight (nothing new is sent)."""
        token = self._token
        if token is not None and self.busy:
            # Said before the token is set: the worker clears it when the result is in, so
            # the note can never outlive the result.
            self.show(
                "Cancelling: the batches in flight finish, nothing new is sent …", level="warning"
            )
            token.cancel()

    def replan(self) -> None:
        """Ask the diff preview to plan again (after a stale plan, or to push more)."""
        if self._replan is not None:
            self._replan()

    def prepare_download(self) -> str:
        """Offer the failed ids of the last push as a CSV download link; returns the CSV."""
        if self.result is None or self.result.n_failed == 0:
            self.download_link.value = ""
            return ""
        failed = self.result.failed.select("customer_id", "action", "error")
        text = failed.write_csv()
        payload = base64.b64encode(text.encode()).decode()
        name = f"failed-{self.result.segment_code}-{self.result.run_id or 'dry-run'}.csv"
        self.download_link.value = (
            f"<a download='{_html.esc(name)}' href='data:text/csv;base64,{payload}' "
            f"style='margin-left:8px'>Save {_html.esc(name)}</a>"
        )
        return text

    # -- drawing ----------------------------------------------------------------------------------

    def _start_progress(self, plan: SegmentPlan) -> None:
        self.progress.max = max(plan.n_add + plan.n_remove, 1)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.progress_label.value = ""
        self.progress_box.layout.display = "flex"

    def _on_progress(self, event: ProgressEvent) -> None:
        # The bar follows the whole run's requests (check, push, verify) where the run
        # estimated them, so it is neither empty while the segment is read nor full while
        # the verification still runs; each phase names its own count.
        if event.requests_total:
            self.progress.max = event.requests_total
            self.progress.value = min(event.requests_done, event.requests_total)
        else:
            self.progress.max = max(event.members_total, 1)
            self.progress.value = min(event.members_done, self.progress.max)
        if event.phase == "push" and event.batches_total:
            count = (
                f"batch {event.batches_done:,}/{event.batches_total:,} · "
                f"{event.members_done:,}/{event.members_total:,} members"
            )
            rate = f"{event.rate:,.0f} members/s" if event.rate else ""
        else:
            count = (
                f"{event.phase_done:,}/{event.phase_total:,} {event.unit}".strip()
                if event.phase_total
                else ""
            )
            rate = ""
        parts = [
            _PHASE_LABELS.get(event.phase, str(event.phase)),
            event.message,
            count,
            rate,
            f"ETA {duration_text(event.eta)}"
            if event.eta is not None and event.phase != "done"
            else "",
        ]
        self.progress_label.value = (
            "<span style='padding-left:8px;font-size:var(--jp-ui-font-size1,13px)'>"
            + _html.esc(" · ".join(p for p in parts if p))
            + "</span>"
        )

    def _show_plan(self) -> None:
        plan = self.plan
        if plan is None:
            self.summary.value = _html.note("Review a plan first.", level="muted")
        elif plan.is_empty():
            self.summary.value = _html.note(
                f"Segment {plan.segment_code} already matches: nothing to push.", level="success"
            )
        elif self.pushed and self.resume_run_id is not None:
            self.summary.value = _html.note(
                f"The push of this plan to {plan.segment_code} stopped before the end: "
                "Resume sends the rest.",
                level="warning",
            )
        elif self.pushed:
            more = " Plan again to push more." if self._replan is not None else ""
            self.summary.value = _html.note(
                f"This plan for {plan.segment_code} was pushed: see the result below.{more}",
                level="muted",
            )
        else:
            consent = self.consent
            self.summary.value = _html.note(
                f"Ready: add {plan.n_add:,} and remove {plan.n_remove:,} members of segment "
                f"{plan.segment_code} ({plan.n_live:,} → {plan.n_after:,}).",
                level="warning" if consent is not None and consent.required else "info",
                detail=consent.reason if consent is not None else "",
            )
        show_confirm = self.needs_confirmation and not self.pushed and not plan_is_empty(plan)
        self.confirm_text.layout.display = "flex" if show_confirm else "none"

    def _show_badge(self) -> None:
        self.badge.value = destination_badge(self.destination)

    def _show_result(self) -> None:
        result = self.result
        self.download_link.value = ""
        self._show_resume()
        if result is None:
            self.result_html.value = ""
            self.failed_box.layout.display = "none"
            if not self.busy:
                self.progress_box.layout.display = "none"
            return
        self.progress.bar_style = "success" if result.is_success else "warning"
        if not result.is_success:
            # The bar stays where the run stopped; its label says so.
            self.progress_label.value = (
                "<span style='padding-left:8px;font-size:var(--jp-ui-font-size1,13px)'>"
                f"stopped: {result.n_pending:,} not sent</span>"
                if result.n_pending
                else ""
            )
        if result.status == "dry_run":
            actions = result.outcomes.get_column("action")
            items = [
                ("write requests", 0 if result.requests is None else result.requests.height),
                ("would add", int((actions == "add").sum())),
                ("would remove", int((actions == "remove").sum())),
            ]
        else:
            items = [
                ("added", result.n_added),
                ("removed", result.n_removed),
                ("verified", result.n_verified),
                ("unverified", result.n_unverified),
                ("failed", result.n_failed),
                ("not sent", result.n_pending),
            ]
            if result.n_unknown:
                # sent, but the run stopped before an answer or a read settled them
                items.append(("unknown", result.n_unknown))
        level = _STATUS_LEVEL.get(result.status, "info")
        head, message = result_sentences(result)
        self.result_html.value = _html.note(head, level=level, detail=message) + _html.counts(
            items, level=level
        )
        self.failures.frame = result.failed.select("customer_id", "action", "error")
        self.reasons_html.value = _reasons_html(result)
        self.failed_box.layout.display = "flex" if result.n_failed else "none"

    def _show_resume(self) -> None:
        result = self.result
        if (
            result is not None
            and result.run_id is not None
            and (result.n_pending or result.n_unknown)
            and result.status in {"cancelled", "partial", "failed", "interrupted"}
        ):
            self.resume_run_id = result.run_id
        offered = self.resume_run_id is not None
        self.resume_button.layout.display = "flex" if offered else "none"
        if offered:
            self.resume_button.tooltip = f"Finish run {self.resume_run_id}: send what it did not"
        self._update_controls()

    def offer_resume(self, run_id: str | None) -> None:
        """Offer ``run_id`` (an interrupted run found in the journal) on the Resume button."""
        self.resume_run_id = run_id
        self._show_resume()
        if run_id is not None and self.result is None:
            self.show(
                f"Run {run_id} of this segment stopped before it finished. Resume sends what "
                "it did not send; nothing is sent twice.",
                level="warning",
            )

    def _update_controls(self) -> None:
        idle = not self.busy
        nothing = self.plan is None or (self.plan.is_empty() and not self.dry_run)
        pushed = self.pushed and not self.dry_run
        self.push_button.disabled = not idle or self.session is None or nothing or pushed
        self.resume_button.disabled = not idle or self.session is None
        self.cancel_button.disabled = idle
        self.dry_run_box.disabled = not idle
        self.confirm_text.disabled = not idle
        self.replan_button.disabled = not idle or self._replan is None
        self.replan_button.layout.display = "none" if self._replan is None else "flex"
        self.push_button.description = "Dry run" if self.dry_run else "Push"
        self.push_button.button_style = "" if self.dry_run else "danger"

    # -- observers --------------------------------------------------------------------------------

    def _on_dry_run_box_change(self, change: dict[str, Any]) -> None:
        self.dry_run = change["new"]

    def _on_dry_run_change(self, change: dict[str, Any]) -> None:
        self.dry_run_box.value = change["new"]
        self._update_controls()

    def _on_confirm_text_change(self, change: dict[str, Any]) -> None:
        self.confirmation = change["new"]

    def _on_confirmation_change(self, change: dict[str, Any]) -> None:
        self.confirm_text.value = change["new"]

    def _on_plan_change(self, change: dict[str, Any]) -> None:
        self.confirmation = ""
        if not self.busy:
            # A new plan: the old result, its warnings and its status line go.
            self.result = None
            self.clear_status()
        self._show_plan()
        self._update_controls()

    def _on_result_change(self, change: dict[str, Any]) -> None:
        self._show_result()
        self._show_plan()

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        if change["old"] is not None:
            self.plan = None
            self.result = None
            self.resume_run_id = None
            self._show_resume()
        self._show_badge()

    def _hint(self, exc: SegwidgetsError) -> str:
        if isinstance(exc, StalePlanError):
            return "Nothing was written. Press 'Plan again', review the new plan, then push."
        if isinstance(exc, ApplyIncompleteError):
            return (
                "What Shopgate confirmed is recorded in the history. Fix the cause, then press "
                "Resume (or Plan again and push)."
            )
        return ""


def plan_is_empty(plan: SegmentPlan | None) -> bool:
    """True when there is no plan or it changes nothing."""
    return plan is None or plan.is_empty()


_ERROR_CLASS = re.compile(r"^[A-Z][A-Za-z]*Error:\s*")
_VERB = {"add": ("add", "adds"), "remove": ("removal", "removals")}


def result_sentences(result: ApplyResult) -> tuple[str, str]:
    """The result's headline and a sentence on what to do next (no Python in either)."""
    took = f"{result.n_requests:,} requests in {result.seconds:.1f} s"
    run = f" (run {result.run_id})" if result.run_id else ""
    status = result.status
    if status == "cancelled":
        return cancel_sentence(
            result
        ) + run, "Press Resume to send the rest; nothing is sent twice."
    if status == "dry_run":
        return f"Dry run: nothing was sent ({took}).", ""
    if status == "verified":
        return f"Done and verified: {took}{run}.", ""
    if status == "applied":
        return f"Done: {took}{run} (not read back).", ""
    if status == "accepted_unverified":
        head = (
            f"Sent{run}, but {result.n_unverified:,} removals were accepted and not yet "
            "applied by Shopgate."
        )
        return head, "They usually apply within minutes; check the segment later."
    applied = result.n_added + result.n_removed
    if status == "failed" or applied == 0:
        head = f"Nothing was applied{run}: Shopgate refused every change."
    else:
        head = f"Partly applied{run}: {applied:,} changes made, {result.n_failed:,} refused."
    if result.n_pending:
        return head, f"{result.n_pending:,} changes were not sent. Fix the cause, then Resume."
    return head, "The reasons are listed below, with the ids."


def _reasons_html(result: ApplyResult) -> str:
    """Why changes were refused: one sentence per reason with its count, the ids under it."""
    if not result.n_failed:
        return ""
    items = []
    for error, action, n, ids in result.failure_reasons().head(10).iter_rows():
        shown = ", ".join(ids[:5]) + (f", … ({n - 5:,} more)" if n > 5 else "")
        singular, plural = _VERB.get(action, (action, f"{action}s"))
        items.append(
            f"<li><b>{n:,}</b> {html.escape(singular if n == 1 else plural)} refused: "
            f"{html.escape(_plain_reason(error))}<br>"
            f"<code>{html.escape(shown)}</code></li>"
        )
    return f"<ul class='segwidgets-reasons' style='margin:4px 0'>{''.join(items)}</ul>"


def _plain_reason(error: str | None) -> str:
    """Shopgate's reason as a sentence: a leading exception class name is dropped."""
    if not error:
        return "no reason given"
    return _ERROR_CLASS.sub("", str(error)).strip() or "no reason given"
