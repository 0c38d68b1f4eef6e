"""``PhaseBar``: a labelled progress bar for matching and planning, and the words under it.

Matching reports phase ``resolve`` (requests sent of those planned, emails looked up as
members); planning first matches the emails or checks the ids (phase ``resolve`` too),
then reads the segment (phase ``read``, in pages), then ``done``. The bar follows the phase
that runs; the label says what it is in words, with counts and the time left.

Progress events come from the thread that sent the request: the bar only sets traits of
its own widgets (the value, the label), never adds or removes widgets.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import ipywidgets as widgets

from .._progress import ProgressEvent
from . import _html

__all__ = ["REDRAW_EVERY", "PhaseBar", "Resolving", "eta_text", "progress_text"]

#: Seconds between two redraws of a bar (the last step of a phase is always drawn).
REDRAW_EVERY = 0.1

#: What a ``resolve`` phase does: match emails, or check customer ids.
Resolving = Literal["emails", "ids"]

_RESOLVE_WORDS: dict[Resolving, tuple[str, str]] = {
    "emails": ("Matching", "emails looked up"),
    "ids": ("Checking the ids", "ids checked"),
}


def eta_text(seconds: float) -> str:
    """A time left in words: ``a second``, ``40 s``, ``2.5 min``."""
    if seconds < 1:
        return "a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def progress_text(
    event: ProgressEvent, *, resolving: Resolving = "emails", done: str = "Matched"
) -> str:
    """The words under a bar: what runs, its counts and the time left, e.g.
    ``Reading the segment: 120/10,000 pages · about 40 s left``."""
    if event.phase == "done":
        return f"{done}: {event.message}" if event.message else f"{done}."
    if event.phase == "resolve":
        doing, unit = _RESOLVE_WORDS[resolving]
        parts = [f"{doing}: {event.members_done:,}/{event.members_total:,} {unit}"]
        if event.phase_total:
            parts.append(f"{event.phase_done:,}/{event.phase_total:,} requests")
    elif event.phase == "read":
        parts = [f"Reading the segment: {event.phase_done:,}/{event.phase_total:,} pages"]
    else:
        parts = [event.label.split(", about")[0]]
    if event.eta is not None and event.phase_done:
        parts.append(f"about {eta_text(event.eta)} left")
    return " · ".join(parts)


class PhaseBar(widgets.HBox):  # type: ignore[misc]
    """A progress bar with its label, hidden until ``start``.

    ``bar.start("Matching: 0/300 emails looked up")`` shows it; ``bar.draw(event, text)``
    follows an event (at most every ``REDRAW_EVERY`` seconds, always the last step of a
    phase and ``done``); ``bar.hide()`` hides it again.
    """

    def __init__(self, *, width: str = "320px", **kwargs: Any) -> None:
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width=width))
        self.label = widgets.HTML()
        self._drawn_at = 0.0
        super().__init__(
            [self.bar, self.label],
            layout=widgets.Layout(align_items="center", display="none", flex_flow="row wrap"),
            **kwargs,
        )

    @property
    def shown(self) -> bool:
        """True while the bar is visible."""
        return bool(self.layout.display != "none")

    def start(self, text: str) -> None:
        """Show an empty bar labelled ``text``."""
        self.bar.max = 1
        self.bar.value = 0
        self.bar.bar_style = ""
        self.label.value = _html.note(text, level="muted")
        self.layout.display = "flex"
        self._drawn_at = 0.0

    def draw(self, event: ProgressEvent, text: str) -> None:
        """Follow ``event``: the bar counts its phase, the label says ``text``."""
        now = time.monotonic()
        last = event.phase == "done" or (
            event.phase_total > 0 and event.phase_done >= event.phase_total
        )
        if not last and now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        self.label.value = _html.note(text, level="muted")
        if event.phase == "done":
            self.bar.max = max(self.bar.max, 1)
            self.bar.value = self.bar.max
            self.bar.bar_style = "success"
            return
        self.bar.max = max(event.phase_total, 1)
        self.bar.value = min(event.phase_done, self.bar.max)

    def hide(self) -> None:
        """Hide the bar (a finished or cancelled run)."""
        self.layout.display = "none"
