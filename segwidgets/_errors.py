"""Every exception segwidgets raises.

One small tree, so callers can catch as broadly or as narrowly as they need::

    SegwidgetsError
    ├── ConfigurationError                bad or unsafe settings (checked before connecting)
    │   ├── InsecureURLError              http:// to a non-loopback host, or a cross-origin redirect
    │   └── InvalidSegmentCodeError       empty, "/", "." or "..", control characters
    ├── APIError                          anything that went wrong talking to Shopgate
    │   ├── APIConnectionError            no answer: connection refused, dropped, reset
    │   │   └── APITimeoutError           no answer in time
    │   ├── PagingError                   member pages that cannot be walked (paging not understood)
    │   └── APIStatusError                an answer with a 4xx/5xx status (typed by status)
    │       ├── BadRequestError           400
    │       ├── AuthenticationError       401 (after the one re-authentication)
    │       ├── PermissionDeniedError     403
    │       ├── NotFoundError             404
    │       ├── ConflictError             409
    │       ├── PayloadTooLargeError      413
    │       ├── UnprocessableEntityError  422
    │       ├── RateLimitError            429 (after the retry budget)
    │       └── ServerError               5xx (after the retry budget)
    ├── InputFileError                    an input list that cannot be read as members
    │   ├── EmptyFileError                no bytes, or nothing but blank lines
    │   ├── HeaderOnlyError               a header and no data lines
    │   ├── UnknownEncodingError          not UTF-8/UTF-16/cp1252 without loss
    │   ├── DuplicateHeaderError          two columns with the same name
    │   ├── UnreadableFileError           missing, a directory, a pipe or device, not a table
    │   ├── InputTooLargeError            over the size limit (max_bytes, --max-input-mb)
    │   └── ColumnError                   the member column is missing or ambiguous
    ├── PlanError                         a plan that must not be applied
    │   ├── StalePlanError                the segment changed since planning (drift stated)
    │   ├── PlanTargetError               the plan is for another merchant or segment
    │   ├── MassRemovalError              removes too much without allow_mass_removal=True
    │   ├── SegmentNotEditableError       dynamic segments have no editable member list
    │   └── RunNotSettledError            undo of a run whose writes are not settled yet
    ├── TornReadError                     the segment changed while its members were read
    ├── OperationCancelledError           matching or planning stopped by its CancelToken
    ├── ApplyError                        a push that could not run or finish
    │   ├── ApplyInProgressError          another push of the same session is running
    │   │   └── SegmentBusyError          another process holds the segment (who, since when)
    │   └── ApplyIncompleteError          stopped early; ``.result`` says what was applied
    └── JournalError                      the local audit trail cannot serve the request
        └── RunNotFoundError              no run with that id

Every ``APIError`` carries an ``outcome``: what the failed call means for its request, sorted
once by the client from the table in ``segwidgets._retry``:

- ``"refused"`` — Shopgate certainly did not act on it (no connection was made, 429,
  502-504, after the client's own retries): sending it again is safe;
- ``"lost"`` — the answer never came, or the server failed while handling it (500): a write
  may have been applied (``may_have_applied``), so re-read before sending it again;
- ``"rejected"`` — Shopgate answered and decided against it (a 4xx, a redirect): the same
  request gets the same answer.

An ``APIError`` raised without an outcome counts as ``"lost"``, the safe reading.

Messages say what happened and what to do next. They never contain a secret, a token or
a raw email address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._item_errors import ItemError
    from ._types import CallOutcome

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ApplyError",
    "ApplyInProgressError",
    "ApplyIncompleteError",
    "AuthenticationError",
    "BadRequestError",
    "ColumnError",
    "ConfigurationError",
    "ConflictError",
    "DuplicateHeaderError",
    "EmptyFileError",
    "HeaderOnlyError",
    "InputFileError",
    "InputTooLargeError",
    "InsecureURLError",
    "InvalidSegmentCodeError",
    "JournalError",
    "MassRemovalError",
    "NotFoundError",
    "OperationCancelledError",
    "PagingError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlanError",
    "PlanTargetError",
    "RateLimitError",
    "RunNotFoundError",
    "RunNotSettledError",
    "SegmentBusyError",
    "SegmentNotEditableError",
    "SegwidgetsError",
    "ServerError",
    "StalePlanError",
    "TornReadError",
    "UnknownEncodingError",
    "UnprocessableEntityError",
    "UnreadableFileError",
    "error_class_for_status",
]


class SegwidgetsError(Exception):
    """Base class of every error segwidgets raises."""


# -- configuration -------------------------------------------------------------------------


class ConfigurationError(SegwidgetsError):
    """Settings that cannot work (missing credentials, unknown environment, bad URL)."""


class InsecureURLError(ConfigurationError):
    """A plain-http URL to a non-loopback host, or a redirect to another origin."""


class InvalidSegmentCodeError(ConfigurationError):
    """A segment code that cannot name a segment in a request path. Nothing was sent."""


# -- HTTP ------------------------------------------------------------------------------------

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class APIError(SegwidgetsError):
    """Talking to Shopgate (or the sandbox) failed.

    ``method`` and ``path`` name the call (the path never carries a query string, so no
    email address from a lookup filter ends up here). ``outcome`` is ``"refused"``,
    ``"lost"`` or ``"rejected"`` (see the module docstring).
    """

    def __init__(
        self, message: str, *, method: str = "", path: str = "", outcome: CallOutcome = "lost"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.outcome: CallOutcome = outcome

    @property
    def may_have_applied(self) -> bool:
        """True for a write whose answer was lost: Shopgate may have applied it, so read
        before sending it again."""
        return self.outcome == "lost" and self.method.upper() not in _READS


class APIConnectionError(APIError):
    """No answer came back. For a write, the server may or may not have applied it."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class PagingError(APIError):
    """A list's pages could not be walked: the server gave no cursor, and the next offset
    page repeated an earlier one (or a cursor came back twice), while its total said there
    was more. segwidgets stops rather than return part of the list."""


class APIStatusError(APIError):
    """The server answered with an error status.

    ``item_errors`` holds the per-item errors of a rejected batch when the server sent
    them (``ItemError`` values naming the id, its index, Shopgate's code and reason).
    ``param_name`` is the parameter a validation error names (``error.paramName``), and
    ``details`` the nested validation messages (``error.results.errors[].message``,
    ``additionalInfo.validationErrors``), both scrubbed of emails and secrets.
    """

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str = "",
        path: str = "",
        outcome: CallOutcome = "lost",
        item_errors: Sequence[ItemError] = (),
        retry_after: float | None = None,
        param_name: str | None = None,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(message, method=method, path=path, outcome=outcome)
        self.status_code = status_code
        self.item_errors: list[ItemError] = list(item_errors)
        self.retry_after = retry_after
        self.param_name = param_name
        self.details: list[str] = list(details)


class BadRequestError(APIStatusError):
    """400: the request was malformed or a field was invalid."""


class AuthenticationError(APIStatusError):
    """401: credentials or token refused, also after one fresh sign-in."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not for this merchant or action."""


class NotFoundError(APIStatusError):
    """404: no such segment, customer or merchant."""


class ConflictError(APIStatusError):
    """409: the object exists already (segment code, or a member on a strict server)."""


class PayloadTooLargeError(APIStatusError):
    """413: the batch is larger than the server takes; segwidgets splits and goes on."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was understood but its content was rejected."""


class RateLimitError(APIStatusError):
    """429: too many requests, still refused after the retry budget."""


class ServerError(APIStatusError):
    """5xx: the server failed, still failing after the retry budget."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status (``APIStatusError`` if no subclass fits)."""
    if status_code >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


# -- input ------------------------------------------------------------------------------------


class InputFileError(SegwidgetsError):
    """An input list cannot be read as members. ``source`` names the file, if any."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class EmptyFileError(InputFileError):
    """The input holds no bytes, or only blank lines."""


class HeaderOnlyError(InputFileError):
    """The input has a header row and no data rows."""


class UnknownEncodingError(InputFileError):
    """The bytes are not UTF-8, UTF-16 (with BOM) or cp1252 without loss."""


class DuplicateHeaderError(InputFileError):
    """Two columns share one name, so the member column is not well defined."""


class UnreadableFileError(InputFileError):
    """The file is missing, is a directory, a pipe or a device, cannot be opened, or is not
    a table."""


class InputTooLargeError(InputFileError):
    """The input (or an Excel workbook once unpacked) is larger than the size limit.

    ``size`` and ``limit`` are in bytes (``size`` is None when it is only known to be over).
    """

    def __init__(
        self, message: str, *, size: int | None = None, limit: int = 0, source: str | None = None
    ) -> None:
        super().__init__(message, source=source)
        self.size = size
        self.limit = limit


class ColumnError(InputFileError):
    """No column, or more than one, could hold the members. ``columns`` lists them all."""

    def __init__(
        self, message: str, *, columns: Sequence[str] = (), source: str | None = None
    ) -> None:
        super().__init__(message, source=source)
        self.columns = list(columns)


# -- planning and applying ----------------------------------------------------------------------


class PlanError(SegwidgetsError):
    """A plan that must not be applied as it is."""


class StalePlanError(PlanError):
    """The segment's live members changed since the plan was made.

    ``n_added_since`` / ``n_removed_since`` state the drift. Nothing was written.
    """

    def __init__(self, message: str, *, n_added_since: int = 0, n_removed_since: int = 0) -> None:
        super().__init__(message)
        self.n_added_since = n_added_since
        self.n_removed_since = n_removed_since


class PlanTargetError(PlanError):
    """The plan was made for another merchant or another segment. Nothing was written."""


class MassRemovalError(PlanError):
    """The plan removes more than the guard allows without ``allow_mass_removal=True``."""

    def __init__(self, message: str, *, n_remove: int = 0, n_live: int = 0) -> None:
        super().__init__(message)
        self.n_remove = n_remove
        self.n_live = n_live


class SegmentNotEditableError(PlanError):
    """Only fixed segments have a member list that can be edited."""


class RunNotSettledError(PlanError):
    """An undo refused: the run still has writes whose outcome is not settled.

    Writes whose answer never arrived, or removals Shopgate accepted but has not applied
    yet. ``run resume(run_id)`` (or wait for the removals) and undo again. Nothing was sent.
    """

    def __init__(self, message: str, *, n_unsettled: int = 0) -> None:
        super().__init__(message)
        self.n_unsettled = n_unsettled


class TornReadError(SegwidgetsError):
    """The segment kept changing while its members were read page by page."""


class OperationCancelledError(SegwidgetsError):
    """Matching emails, checking ids or reading a segment for a plan was cancelled
    (``CancelToken.cancel()``) between two requests.

    Nothing was written: these steps only read from Shopgate, and no half-made result is
    returned. Start the step again to finish it.
    """


class ApplyError(SegwidgetsError):
    """A push that could not start or could not finish."""


class ApplyInProgressError(ApplyError):
    """A push is already running in this session; the second one sent nothing."""


class SegmentBusyError(ApplyInProgressError):
    """Another push, resume or undo holds this segment; this one sent nothing.

    ``holder`` says who: ``run_id``, ``pid``, ``host`` and ``since`` (ISO time), as far as
    the journal knows them.
    """

    def __init__(self, message: str, *, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = dict(holder or {})


class ApplyIncompleteError(ApplyError):
    """The push stopped early (outage, retry budget, cancel). ``result`` has the details.

    Run ``session.resume(run_id)`` later to finish it; nothing confirmed is sent twice.
    """

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class JournalError(SegwidgetsError):
    """The local journal cannot serve the request."""


class RunNotFoundError(JournalError):
    """No run with that id in the journal."""
