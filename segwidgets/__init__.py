"""segwidgets: keep fixed Shopgate customer segments in sync with lists built in Jupyter."""

from __future__ import annotations

from ._apply import ApplyResult
from ._config import Credentials
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ApplyError,
    ApplyIncompleteError,
    ApplyInProgressError,
    AuthenticationError,
    BadRequestError,
    ColumnError,
    ConfigurationError,
    ConflictError,
    DuplicateHeaderError,
    EmptyFileError,
    HeaderOnlyError,
    InputFileError,
    InsecureURLError,
    JournalError,
    MassRemovalError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PlanError,
    PlanTargetError,
    RateLimitError,
    RunNotFoundError,
    SegmentNotEditableError,
    SegwidgetsError,
    ServerError,
    StalePlanError,
    TornReadError,
    UnknownEncodingError,
    UnprocessableEntityError,
    UnreadableFileError,
)
from ._members import MemberList, read_members
from ._plan import Estimate, SegmentPlan
from ._progress import CancelToken, ProgressEvent
from ._resolve import Resolution
from ._secrets import Secret
from ._session import SegmentSession

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ApplyError",
    "ApplyInProgressError",
    "ApplyIncompleteError",
    "ApplyResult",
    "AuthenticationError",
    "BadRequestError",
    "CancelToken",
    "ColumnError",
    "ConfigurationError",
    "ConflictError",
    "Credentials",
    "DuplicateHeaderError",
    "EmptyFileError",
    "Estimate",
    "HeaderOnlyError",
    "InputFileError",
    "InsecureURLError",
    "JournalError",
    "MassRemovalError",
    "MemberList",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlanError",
    "PlanTargetError",
    "ProgressEvent",
    "RateLimitError",
    "Resolution",
    "RunNotFoundError",
    "Secret",
    "SegmentNotEditableError",
    "SegmentPlan",
    "SegmentSession",
    "SegwidgetsError",
    "ServerError",
    "StalePlanError",
    "TornReadError",
    "UnknownEncodingError",
    "UnprocessableEntityError",
    "UnreadableFileError",
    "__version__",
    "read_members",
]
