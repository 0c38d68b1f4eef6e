"""What every panel shares: a heading, an ``Output`` for status and errors, and busy state.

A panel is a thin view over ``SegmentSession``: it calls the session, shows the answer, and
shows any error in its own ``Output`` with what to do next (the traceback is kept, folded,
with email addresses masked). Each action is a public method (the Python twin of a button),
and while it runs ``busy`` is True and the action controls are disabled; ``finally`` gives
them back.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from .._errors import ConfigurationError, InputFileError, PlanError, SegwidgetsError
from .._privacy import mask_emails_in
from .._progress import CancelToken
from . import _html
from ._kernel_thread import drain, on_kernel_thread

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["Panel", "check_keywords", "display_data", "labelled", "strip_paths"]

# ``File "/any/folder/segwidgets/widgets/_push.py"`` → ``File "segwidgets/widgets/_push.py"``;
# a file outside a package keeps only its name.
_TRACE_FILE = re.compile(
    r'File "(?:[^"]*?[\\/])?((?:segwidgets|polars|httpx|ipywidgets)[\\/][^"]*|[^"\\/]+)"'
)


# Errors about the user's input or settings: the message is the whole story.
_USER_ERRORS = (InputFileError, PlanError, ConfigurationError)


def strip_paths(trace: str) -> str:
    """A traceback without the folders of this machine (package-relative file names)."""
    return _TRACE_FILE.sub(lambda m: f'File "{m.group(1)}"', trace)


def display_data(html_text: str, plain: str) -> dict[str, Any]:
    """One ``display_data`` output (HTML with a plain-text twin) for ``Output.outputs``."""
    return {
        "output_type": "display_data",
        "data": {"text/html": html_text, "text/plain": plain},
        "metadata": {},
    }


def labelled(label: str, control: widgets.Widget, *, width: str = "70px") -> widgets.HBox:
    """``control`` with ``label`` on its left, vertically centred, never wrapped above it."""
    text = widgets.HTML(
        f"<span style='font-size:var(--jp-widgets-font-size,13px)'>{_html.esc(label)}</span>",
        layout=widgets.Layout(width=width, justify_content="flex-end", margin="0 8px 0 0"),
    )
    return widgets.HBox(
        [text, control], layout=widgets.Layout(align_items="center", flex_flow="row nowrap")
    )


def check_keywords(cls: type, kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` for a keyword that is neither a parameter nor a widget trait."""
    unknown = sorted(set(kwargs) - set(cls.class_trait_names()))  # type: ignore[attr-defined]
    if unknown:
        msg = f"{cls.__name__}() got unexpected keyword argument(s): {', '.join(unknown)}"
        raise TypeError(msg)


class Panel(widgets.VBox):  # type: ignore[misc]
    """Base class of the panels: heading, body, status ``Output``, busy handling."""

    #: The session this panel works with (None until connected).
    session = traitlets.Instance("segwidgets._session.SegmentSession", allow_none=True)
    #: True while an action runs; the action controls are disabled meanwhile.
    busy = traitlets.Bool(False)
    #: Run slow actions (matching, planning) in a worker thread (the app sets it in a kernel).
    background = traitlets.Bool(False)

    def __init__(self, session: SegmentSession | None = None, *, heading: str, **kwargs: Any):
        check_keywords(type(self), kwargs)
        self.heading = widgets.HTML(_html.title(heading))
        self.out = widgets.Output(layout=widgets.Layout(margin="2px 0 0 0"))
        #: The last error an action ran into (also shown in ``out``); None after a success.
        self.last_error: BaseException | None = None
        #: The plain text of the last status message (what ``out`` shows).
        self.status_text = ""
        self._worker: threading.Thread | None = None
        self._running = False  # a worker runs or is about to (guarded by _queue_lock)
        self._queued: tuple[Callable[[], None], str] | None = None
        self._queue_lock = threading.RLock()
        self._token: CancelToken | None = None  # the running action's, while it runs
        self._token_lock = threading.Lock()
        super().__init__(**kwargs)
        self.add_class("segwidgets-panel")
        self.layout.padding = "4px 8px"
        self.layout.border = "1px solid var(--jp-border-color2, #e0e0e0)"
        self.layout.margin = "0 0 6px 0"
        self.observe(self._on_busy_change, names="busy")
        self.observe(self._on_session_change, names="session")
        self.session = session
        self._update_controls()  # also when no session was given (no change event then)

    # -- cancelling ---------------------------------------------------------------------------------

    @contextmanager
    def cancellable(self) -> Iterator[CancelToken]:
        """A cancel token for the action running in this block, which ``cancel_running()``
        cancels; forgotten when the block ends."""
        token = CancelToken()
        with self._token_lock:
            self._token = token
        try:
            yield token
        finally:
            with self._token_lock:
                if self._token is token:
                    self._token = None

    def cancel_running(self) -> bool:
        """Cancel the running action's token (and drop an action queued behind it): the
        requests in flight finish and nothing new is asked. True when one was running."""
        with self._token_lock:
            token = self._token
        if token is None or not self.busy:
            return False
        with self._queue_lock:
            self._queued = None
        self.show(
            "Cancelling: the requests in flight finish, nothing new is asked …", level="warning"
        )
        token.cancel()
        return True

    # -- layout -----------------------------------------------------------------------------------

    def _set_body(self, *children: widgets.Widget) -> None:
        self.children = (self.heading, *children, self.out)

    # -- status -----------------------------------------------------------------------------------

    def show(self, text: str, *, level: _html.Level = "info", detail: str = "") -> None:
        """Replace the status line with ``text`` (plain text; ``detail`` under it)."""
        self.status_text = f"{text}\n{detail}" if detail else text
        self.out.outputs = (
            display_data(_html.note(text, level=level, detail=detail), self.status_text),
        )

    def clear_status(self) -> None:
        """Empty the status ``Output``."""
        self.status_text = ""
        self.out.outputs = ()

    def show_error(self, exc: BaseException, *, doing: str) -> None:
        """Show what went wrong while ``doing`` something, what to do, and the traceback."""
        self.last_error = exc
        message = mask_emails_in(str(exc)) or type(exc).__name__
        trace = strip_paths(mask_emails_in("".join(traceback.format_exception(exc))))
        if isinstance(exc, SegwidgetsError):
            headline = f"Could not finish {doing}: {message}"
            hint = self._hint(exc)
        else:
            headline = f"Unexpected error while {doing}: {type(exc).__name__}: {message}"
            hint = (
                "This is not a problem with your data. Try again; if it happens again, the "
                "traceback below helps to report it."
            )
        if isinstance(exc, _USER_ERRORS):
            # The message says what to change; a traceback would only distract.
            self.status_text = f"{headline}\n{hint}".strip()
            self.out.outputs = (
                display_data(_html.note(headline, level="error", detail=hint), self.status_text),
            )
            return
        folded = (
            "<details style='margin-top:2px'><summary style='cursor:pointer;opacity:.8'>"
            "Details for a bug report</summary><pre style='font-size:var(--jp-code-font-size,12px);"
            f"white-space:pre-wrap;margin:2px 0'>{_html.esc(trace)}</pre></details>"
        )
        self.status_text = f"{headline}\n{hint}".strip()
        self.out.outputs = (
            display_data(
                _html.note(headline, level="error", detail=hint, raw_html=folded),
                f"{self.status_text}\n\n{trace}",
            ),
        )

    def _hint(self, exc: SegwidgetsError) -> str:
        """What to do next after ``exc``, beyond its message (panels add their own)."""
        return ""

    # -- running actions --------------------------------------------------------------------------

    @contextmanager
    def action(self, doing: str) -> Iterator[None]:
        """Run the body as one user action: busy meanwhile; an error is shown, not raised."""
        self.busy = True
        try:
            self.last_error = None
            yield
        except Exception as exc:  # noqa: BLE001 - shown in the panel's Output, never lost
            self.show_error(exc, doing=doing)
        finally:
            self.busy = False

    def perform(self, work: Callable[[], None], *, doing: str) -> threading.Thread | None:
        """Run ``work`` as one user action: in a worker thread when ``background`` is set
        (the notebook stays usable; returns the thread), else right here (returns None)."""
        if self.background:
            with self._queue_lock:
                if self._running:
                    # The newest request runs once the current one ends (older ones drop).
                    self._queued = (work, doing)
                    return None
                return self.run_in_background(work, doing=doing)
        with self.action(doing):
            work()
        return None

    def hand_back(self, call: Callable[[], None], *, doing: str = "showing the result") -> None:
        """Apply what a worker produced on the kernel's thread (see ``_kernel_thread``): a
        worker sets traits of existing widgets only; plans, results and everything they
        redraw are applied there. An error is shown in the panel."""

        def run() -> None:
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - shown in the panel's Output, never lost
                self.show_error(exc, doing=doing)

        on_kernel_thread(run)

    def run_in_background(self, work: Callable[[], None], *, doing: str) -> threading.Thread:
        """Run ``work`` in a worker thread (the kernel stays responsive); busy until it ends.

        ``work`` hands its results back with ``hand_back``; an error it raises, and the end
        of the busy state, are handed back the same way, after them."""
        with self._queue_lock:
            if self._running:
                msg = f"Still {doing}: wait for it to finish."
                raise RuntimeError(msg)
            self._running = True
        self.busy = True
        self.last_error = None

        def run(current: Callable[[], None], current_doing: str) -> None:
            try:
                current()
            except Exception as exc:  # noqa: BLE001 - shown in the panel's Output, never lost
                error = exc  # ``exc`` is unbound once the except block ends
                on_kernel_thread(lambda: self.show_error(error, doing=current_doing))
            finally:
                with self._queue_lock:
                    queued, self._queued = self._queued, None
                    self._running = queued is not None
                if queued is None:
                    on_kernel_thread(self._idle)
                else:
                    on_kernel_thread(lambda: setattr(self, "last_error", None))
                    self._worker = threading.Thread(
                        target=run, args=queued, name=f"segwidgets {queued[1]}", daemon=True
                    )
                    self._worker.start()

        self._worker = threading.Thread(
            target=run, args=(work, doing), name=f"segwidgets {doing}", daemon=True
        )
        self._worker.start()
        return self._worker

    def _idle(self) -> None:
        with self._queue_lock:
            if self._running:
                return  # a new action started meanwhile: it ends the busy state itself
        self.busy = False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for background work (and work queued behind it) to end, and apply what it
        handed back to the kernel's thread; True when idle."""
        while True:
            worker = self._worker
            if worker is not None:
                worker.join(timeout)
                if worker.is_alive():
                    return False
            drain()
            with self._queue_lock:
                if self._worker is worker and not self._running:
                    return True

    # -- hooks for subclasses -----------------------------------------------------------------------

    def _update_controls(self) -> None:
        """Enable or disable the action controls from the current state (and ``busy``)."""

    def _on_busy_change(self, change: dict[str, Any]) -> None:
        self._update_controls()

    def _on_session_change(self, change: dict[str, Any]) -> None:
        self._update_controls()
