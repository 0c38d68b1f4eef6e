"""``MatchReport``: which input emails are Shopgate customers, as a funnel and a problem list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import ipywidgets as widgets
import polars as pl
import traitlets

from .._errors import OperationCancelledError
from .._members import MemberList
from .._progress import ProgressEvent
from .._resolve import Resolution
from .._types import AmbiguityPolicy
from . import _html
from ._base import Panel, labelled
from ._builder import masked_values
from ._candidates import CANDIDATES, CandidateColumn, explain_problems
from ._charts import funnel_svg
from ._phase_bar import PhaseBar
from ._phase_bar import progress_text as _phase_text
from ._table import PagedTable, offer_download, tool_button

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["TERMS", "MatchReport", "progress_text"]

# How each stage of ``Resolution.funnel()`` is labelled and coloured, in funnel order.
_STAGES: dict[str, tuple[str, _html.Level]] = {
    "input rows": ("data lines", "info"),
    "valid emails": ("valid emails", "info"),
    "matched": ("matched", "success"),
    "ambiguous": ("ambiguous", "warning"),
    "guest_only": ("guest only", "warning"),
    "unmatched": ("unmatched", "error"),
    "customer ids": ("customer ids", "success"),
}
#: What each outcome means, in the words the panel uses (shown under the funnel).
TERMS: dict[str, str] = {
    "matched": "exactly one registered customer has this email: it becomes a member",
    "ambiguous": (
        "several registered customers share this email; the Ambiguous setting says "
        "whether none, all or the most recently updated of them becomes a member"
    ),
    "guest only": (
        "only guest checkouts (orders without an account) used this email; guests "
        "cannot be segment members"
    ),
    "unmatched": "no customer of this merchant has this email",
    "rejected": "the value is not a usable email address (the reason says why)",
}
_PROBLEM_WORDS = {
    "guest_only": "guest only",
    "unmatched": "unmatched",
    "ambiguous": "ambiguous",
    "rejected": "rejected",
}
_HEADERS = {
    "row": "list row",
    "value": "as in the list",
    "problem": "problem",
    "rule": "why",
    CANDIDATES: "customers with it",
}
_RUN_LABEL = "Find customers"
_RERUN_LABEL = "Match again"
_CANCELLED = "Matching cancelled: nothing was changed. Press Match again to start over."

_POLICY_HELP = {
    "skip": "skip: an email that several customers share is left out",
    "all": "all: every customer with that email becomes a member",
    "latest": "latest: the most recently updated of them becomes a member",
}


def _terms_html() -> str:
    items = "".join(
        f"<li><b>{_html.esc(term)}</b>: {_html.esc(text)}</li>" for term, text in TERMS.items()
    )
    return (
        "<details style='font-size:var(--jp-ui-font-size1,13px);margin:2px 0'>"
        "<summary style='cursor:pointer'>What do matched, ambiguous, guest only and unmatched "
        f"mean?</summary><ul style='margin:4px 0 4px 18px;padding:0'>{items}</ul></details>"
    )


class MatchReport(Panel):
    """Find the Shopgate customer behind each email, and show how the list narrowed down.

    The funnel runs input → valid → matched / ambiguous / guest only / unmatched →
    customer ids. Problem rows are listed with their reason (values masked unless "show
    values" is ticked). ``policy`` says what to do with an email that several registered
    customers share; changing it matches again.

    While it matches, a labelled bar counts the emails looked up and the requests sent, and
    Cancel stops it before the next request (nothing is changed in Shopgate); the panel then
    says "Matching cancelled" and offers to match again.

    Python twins: ``report.members = member_list``, ``report.run()``, ``report.cancel()``,
    ``report.policy = "latest"``.
    """

    #: The list to match (from the member list builder).
    members = traitlets.Instance(MemberList, allow_none=True)
    #: ``"skip"``, ``"all"`` or ``"latest"``: what an ambiguous email becomes.
    policy = traitlets.Unicode("skip")
    #: The result (None until matched).
    resolution = traitlets.Instance(Resolution, allow_none=True)
    #: True when the last match was cancelled (the panel offers to match again).
    cancelled = traitlets.Bool(False)

    def __init__(self, session: SegmentSession | None = None, **kwargs: Any) -> None:
        self.policy_buttons = widgets.ToggleButtons(
            options=[("skip", "skip"), ("all", "all"), ("latest", "latest")],
            value="skip",
            tooltips=[_POLICY_HELP[p] for p in ("skip", "all", "latest")],
            style={"button_width": "70px"},
        )
        self.run_button = widgets.Button(
            description=_RUN_LABEL, icon="search", button_style="primary"
        )
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            tooltip="Stop matching before the next request (nothing is changed)",
            layout=widgets.Layout(width="auto"),
        )
        self.cancel_button.on_click(lambda _: self.cancel())
        #: the labelled bar shown while matching (``progress``: its bar, ``progress_label``)
        self.progress_box = PhaseBar()
        self.progress = self.progress_box.bar
        self.progress_label = self.progress_box.label
        #: The cancel token of the match that runs (None when none does).
        self.intro = widgets.HTML()
        self.funnel = widgets.HTML()
        self.reveal = widgets.Checkbox(
            value=False, description="show values", indent=False,
            layout=widgets.Layout(width="auto", margin="0 12px 0 0"),
        )  # fmt: skip
        #: the customers sharing an ambiguous email, for the rows shown
        self.candidates = CandidateColumn(lambda: self.session, lambda: bool(self.reveal.value))
        #: a sentence for each problem term that appears (ambiguous, guest only)
        self.explain = widgets.HTML()
        self.problems_table = PagedTable(
            page_size=10,
            formatter=self._mask,
            enrich=self.candidates,
            empty="No problem rows: every email matched.",
            name="match-problems",
            downloads=True,
            headers=_HEADERS,
        )
        self.terms = widgets.HTML(_terms_html())
        self.csv_button = tool_button(
            "Match report as CSV", "download", "Every email with its outcome, as CSV"
        )
        self.parquet_button = tool_button(
            "as parquet", "download", "Every email with its outcome, as parquet"
        )
        self.download_link = widgets.HTML()
        self.csv_button.on_click(lambda _: self.download("csv"))
        self.parquet_button.on_click(lambda _: self.download("parquet"))
        self.problems_box = widgets.VBox(
            [self.terms,
             widgets.HBox([self.reveal, self.csv_button, self.parquet_button],
                          layout=widgets.Layout(align_items="center",
                                                flex_flow="row wrap")),
             self.download_link,
             widgets.HTML(_html.note("Lines that do not become exactly one member",
                                     level="muted")),
             self.explain,
             self.problems_table]
        )  # fmt: skip
        super().__init__(session, heading="Match customers", **kwargs)
        self.policy_buttons.observe(self._on_policy_buttons_change, names="value")
        self.reveal.observe(self._on_reveal_change, names="value")
        self.observe(self._on_members_change, names="members")
        self.observe(self._on_policy_change, names="policy")
        self.observe(self._on_resolution_change, names="resolution")
        self._set_body(
            widgets.HBox(
                [
                    self.run_button,
                    self.cancel_button,
                    labelled("Ambiguous", self.policy_buttons, width="80px"),
                ],
                layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
            ),
            self.progress_box,
            self.intro,
            self.funnel,
            self.problems_box,
        )
        self._show_intro()
        self._show_resolution()

    # -- actions ----------------------------------------------------------------------------------

    def run(self) -> Resolution | None:
        """Match the list's emails to customers (a few requests per hundred emails).

        With ``background`` set it runs in a worker thread and returns None at once."""
        if self.session is None or self.members is None:
            self.show("Connect and load a member list first.", level="muted")
            return None
        if self.members.kind != "email":
            self.show("This list holds customer ids: nothing to match.", level="muted")
            return None
        session, members, policy = self.session, self.members, self.policy

        def work() -> None:
            self._start_progress(members.n_valid)
            self.show(f"Matching {members.n_valid:,} emails …")
            try:
                with self.cancellable() as token:
                    resolution = session.resolve(
                        members, policy=policy, progress=self._on_progress, cancel=token
                    )
            except OperationCancelledError:
                self.hand_back(self._take_cancel)
                return
            self.hand_back(lambda: self._take(resolution, members, session))

        self.cancelled = False
        self.perform(work, doing="matching the emails")
        return self.resolution

    def cancel(self) -> bool:
        """Stop the running match before its next request (and drop a match queued behind
        it); nothing is changed in Shopgate. True when a match was running."""
        return self.cancel_running()

    def _take(self, resolution: Resolution, members: MemberList, session: object) -> None:
        self.progress_box.hide()
        self.clear_status()  # first, so "Matching …" never stands under the new summary
        if self.members is members and self.session is session:  # not stale
            self.resolution = resolution

    def _take_cancel(self) -> None:
        self.progress_box.hide()
        self.cancelled = True
        self.show(_CANCELLED, level="warning")

    def download(self, fmt: str = "csv") -> str:
        """Offer the whole match report (one row per email: outcome, chosen ids, why) as a
        file; returns the file name ("" before a match)."""
        if self.resolution is None:
            self.download_link.value = ""
            return ""
        name = "match-report." + ("parquet" if fmt == "parquet" else "csv")
        report = self.resolution.report.with_columns(
            pl.col("customer_ids").cast(pl.List(pl.String)).list.join(";")
        )
        self.download_link.value = offer_download(report, name)
        return name

    # -- drawing ----------------------------------------------------------------------------------

    def _start_progress(self, n_emails: int) -> None:
        self.progress_box.start(f"Matching: 0/{n_emails:,} emails looked up")

    def _on_progress(self, event: ProgressEvent) -> None:
        """Draw a progress event (from the thread that sent the request)."""
        self.progress_box.draw(event, progress_text(event))

    def _mask(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame if self.reveal.value else masked_values(frame)

    def _show_intro(self) -> None:
        members = self.members
        level: _html.Level = "info"
        if members is None:
            text, level = "Load a member list first.", "muted"
        elif members.kind == "customer_id":
            text = f"The list holds {members.n_valid:,} customer ids: no matching needed."
        elif self.resolution is None and self.cancelled:
            text = f"{members.n_valid:,} valid emails are ready: press {_RERUN_LABEL}."
        elif self.resolution is None:
            text = f"{members.n_valid:,} valid emails are ready: press Find customers."
        else:
            text, level = _POLICY_HELP[self.policy] + ".", "muted"
        self.intro.value = _html.note(text, level=level)

    def _show_resolution(self) -> None:
        resolution = self.resolution
        if resolution is None:
            self.funnel.value = ""
            self.problems_table.frame = None
            self.problems_box.layout.display = "none"
            return
        counts = dict(resolution.funnel().iter_rows())
        rows = [
            (label, int(counts[stage]), level)
            for stage, (label, level) in _STAGES.items()
            if stage in counts
        ]
        summary = (
            f"{resolution.n_ids:,} customer ids from {resolution.n_valid:,} valid emails; "
            f"Shopgate was asked {resolution.n_requests:,} "
            f"time{'s' if resolution.n_requests != 1 else ''}."
        )
        self.funnel.value = funnel_svg(rows, title="From the list to members") + _html.note(
            summary, level="muted"
        )
        self.download_link.value = ""
        self.candidates.clear()
        problems = resolution.problems().with_columns(pl.col("problem").replace(_PROBLEM_WORDS))
        self.explain.value = "".join(
            _html.note(text, level="muted") for text in explain_problems(problems["problem"])
        )
        self.problems_table.frame = problems
        self.problems_box.layout.display = "flex"

    def _update_controls(self) -> None:
        ready = (
            self.session is not None and self.members is not None and self.members.kind == "email"
        )
        self.run_button.disabled = self.busy or not ready
        self.run_button.description = _RERUN_LABEL if self.cancelled else _RUN_LABEL
        self.cancel_button.disabled = not self.busy
        self.policy_buttons.disabled = self.busy

    # -- observers --------------------------------------------------------------------------------

    @traitlets.validate("policy")
    def _validate_policy(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in get_args(AmbiguityPolicy):
            msg = f"policy must be 'skip', 'all' or 'latest', not {value!r}"
            raise traitlets.TraitError(msg)
        return str(value)

    def _on_policy_buttons_change(self, change: dict[str, Any]) -> None:
        self.policy = change["new"]

    def _on_policy_change(self, change: dict[str, Any]) -> None:
        self.policy_buttons.value = change["new"]
        if self.resolution is not None:
            self.run()
        else:
            self._show_intro()

    def _on_members_change(self, change: dict[str, Any]) -> None:
        self.resolution = None
        self.cancelled = False
        self._update_controls()
        self._show_intro()

    @traitlets.observe("cancelled")
    def _on_cancelled_change(self, change: dict[str, Any]) -> None:
        self._update_controls()
        self._show_intro()

    def _on_resolution_change(self, change: dict[str, Any]) -> None:
        self._show_intro()
        self._show_resolution()

    def _on_reveal_change(self, change: dict[str, Any]) -> None:
        self.problems_table.render()

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        if change["old"] is not None:
            self.resolution = None


def progress_text(event: ProgressEvent) -> str:
    """The words under the matching bar: emails looked up, requests sent, time left."""
    return _phase_text(event, resolving="emails", done="Matched")
