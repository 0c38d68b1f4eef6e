"""What a push did: ``ApplyResult``, its per-member outcomes, its text and its HTML.

The journal records each member change with a journal status (``_journal.MemberStatus``);
``journal_outcomes`` turns those into the outcomes a result shows (``_types.MemberOutcome``).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ._export import write_private_csv
from ._types import ApplyStatus

__all__ = ["ApplyResult", "journal_outcomes", "outcome_frame"]

#: Journal status of a member change -> its outcome in an ``ApplyResult``.
_OUTCOME_OF_STATUS = {
    "pending": "pending",
    "sending": "unknown",
    "applied": "applied",
    "accepted": "applied",
    "verified": "verified",
    "unverified": "accepted_unverified",
    "failed": "failed",
}


@dataclass(frozen=True, repr=False)
class ApplyResult:
    """What a push did. ``outcomes`` has one row per member change:
    ``customer_id``, ``action`` (add/remove), ``outcome``, ``error``.

    Outcomes: ``verified`` (a read showed it), ``applied`` (confirmed, not read back),
    ``accepted_unverified`` (a remove Shopgate accepted but had not applied in time),
    ``failed`` (refused; ``error`` says why), ``pending`` (not sent: cancelled or stopped),
    ``unknown`` (sent, but the run stopped before an answer or a read settled it; ``resume``
    reads the segment and settles it).
    """

    run_id: str | None
    status: ApplyStatus
    segment_code: str
    outcomes: pl.DataFrame
    n_requests: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""
    requests: pl.DataFrame | None = None
    batch_size: int = 0
    #: how verification read the changes back: ``in-filter`` (member reads filtered by
    #: ``$in``, 100 ids a request), ``full-read``, ``per-customer`` or ``none``
    verify_method: str = "none"
    #: how the stale check saw the plan current: ``full`` (every page read), ``changes``
    #: (the total and the planned ids by ``$in``) or ``none`` (no check, as in a resume)
    stale_method: str = "none"

    def _n(self, action: str | None, *outcomes: str) -> int:
        frame = self.outcomes
        if action is not None:
            frame = frame.filter(pl.col("action") == action)
        return frame.filter(pl.col("outcome").is_in(list(outcomes))).height

    @property
    def n_added(self) -> int:
        """Adds confirmed by the server."""
        return self._n("add", "applied", "verified")

    @property
    def n_removed(self) -> int:
        """Removes confirmed by the server (verified or still applying)."""
        return self._n("remove", "applied", "verified", "accepted_unverified")

    @property
    def n_verified(self) -> int:
        """Changes a read-back showed."""
        return self._n(None, "verified")

    @property
    def n_unverified(self) -> int:
        """Removes accepted but not seen applied before the verification gave up."""
        return self._n(None, "accepted_unverified")

    @property
    def n_failed(self) -> int:
        """Changes the server refused."""
        return self._n(None, "failed")

    @property
    def n_pending(self) -> int:
        """Changes not sent (cancelled or stopped); ``resume`` sends them."""
        return self._n(None, "pending")

    @property
    def n_unknown(self) -> int:
        """Changes sent whose outcome the run could not learn before it stopped."""
        return self._n(None, "unknown")

    @property
    def failed(self) -> pl.DataFrame:
        """The refused changes with the server's reason."""
        return self.outcomes.filter(pl.col("outcome") == "failed")

    def failure_reasons(self) -> pl.DataFrame:
        """One row per reason Shopgate (or the run) gave for refused changes: ``error``,
        ``action``, ``n`` and the ``customer_ids`` it names, most frequent first."""
        return (
            self.failed.group_by("error", "action")
            .agg(pl.len().alias("n"), pl.col("customer_id").sort().alias("customer_ids"))
            .sort(["n", "error", "action"], descending=[True, False, False])
        )

    def failure_lines(self, *, max_reasons: int = 10, max_ids: int = 5) -> list[str]:
        """The refusals as text: per reason a line with its count, then a line of ids."""
        lines: list[str] = []
        reasons = self.failure_reasons()
        for error, action, n, ids in reasons.head(max_reasons).iter_rows():
            shown = ", ".join(ids[:max_ids]) + (
                f", … ({n - max_ids:,} more)" if n > max_ids else ""
            )
            lines.append(f"{n:,} {action}(s) refused: {error or 'no reason given'}")
            lines.append(f"    {shown}")
        if reasons.height > max_reasons:
            lines.append(f"… and {reasons.height - max_reasons:,} other reasons (see .failed)")
        return lines

    @property
    def unverified(self) -> pl.DataFrame:
        """The removes accepted but not seen applied."""
        return self.outcomes.filter(pl.col("outcome") == "accepted_unverified")

    @property
    def is_success(self) -> bool:
        """True when every change was applied and verified (or there was nothing to do)."""
        return self.status in {"verified", "applied", "dry_run"}

    def to_polars(self) -> pl.DataFrame:
        """The per-member outcomes."""
        return self.outcomes

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the per-member outcomes to a CSV file readable by you only (mode 0600).

        Cells a spreadsheet would run as a formula are written as text (a leading ``'``).
        """
        return write_private_csv(self.outcomes, path)

    def __repr__(self) -> str:
        return (
            f"ApplyResult(run_id={self.run_id!r}, status={self.status!r}, "
            f"n_added={self.n_added:,}, n_removed={self.n_removed:,}, "
            f"n_failed={self.n_failed:,}, n_unverified={self.n_unverified:,}, "
            f"n_pending={self.n_pending:,}, n_unknown={self.n_unknown:,}, "
            f"n_requests={self.n_requests:,})"
        ) + "".join("\n  " + line for line in self.failure_lines())

    def _repr_html_(self) -> str:
        color = (
            "var(--jp-success-color1,#15803d)"
            if self.is_success
            else "var(--jp-warn-color1,#b45309)"
        )
        return (
            f"<div><b>Push {html.escape(self.status)}</b> "
            f"<span style='color:{color}'>●</span> segment {html.escape(self.segment_code)}: "
            f"{self.n_added:,} added, {self.n_removed:,} removed, {self.n_failed:,} failed, "
            f"{self.n_unverified:,} unverified, {self.n_pending:,} not sent, "
            f"{self.n_unknown:,} unknown — "
            f"{self.n_requests:,} requests in {self.seconds:.1f} s"
            f"{'<br>' + html.escape(self.message) if self.message else ''}"
            f"{self._reasons_html()}</div>"
        )

    def _reasons_html(self) -> str:
        lines = self.failure_lines()
        if not lines:
            return ""
        items = []
        for head, ids in zip(lines[::2], lines[1::2], strict=False):
            items.append(f"<li>{html.escape(head)}<br><code>{html.escape(ids.strip())}</code></li>")
        if len(lines) % 2:
            items.append(f"<li>{html.escape(lines[-1])}</li>")
        return f"<ul style='margin:4px 0'>{''.join(items)}</ul>"


def outcome_frame(rows: list[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    """The outcomes frame of ``(action, customer_id, outcome, error)`` rows."""
    return pl.DataFrame(
        rows,
        schema={
            "action": pl.String,
            "customer_id": pl.String,
            "outcome": pl.String,
            "error": pl.String,
        },
        orient="row",
    ).select("customer_id", "action", "outcome", "error")


def journal_outcomes(members: pl.DataFrame) -> pl.DataFrame:
    """The outcomes frame of a run from its journal rows (``Journal.member_frame``)."""
    return members.select(
        "customer_id",
        "action",
        pl.col("status").replace_strict(_OUTCOME_OF_STATUS, default="pending").alias("outcome"),
        "error",
    )
