"""segwidgets: keep fixed Shopgate customer segments in sync with lists built in Jupyter.

The public names are imported on first use (PEP 562), so ``import segwidgets`` and the
``segwidgets`` command start without loading polars, httpx or the panels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        InputTooLargeError,
        InsecureURLError,
        InvalidSegmentCodeError,
        JournalError,
        MassRemovalError,
        NotFoundError,
        OperationCancelledError,
        PagingError,
        PayloadTooLargeError,
        PermissionDeniedError,
        PlanError,
        PlanTargetError,
        RateLimitError,
        RunNotFoundError,
        RunNotSettledError,
        SegmentBusyError,
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
    from ._result import ApplyResult
    from ._secrets import Secret
    from ._session import SegmentSession

# The one place the version is written: the packaging reads it from here (pyproject.toml,
# [tool.hatch.version]).
__version__ = "0.1.0"

# Public name -> the private module that defines it.
_PUBLIC_MODULES: dict[str, str] = {
    "SegmentBusyError": "_errors",
    "RunNotSettledError": "_errors",
    "PagingError": "_errors",
    "InvalidSegmentCodeError": "_errors",
    "InputTooLargeError": "_errors",
    "APIConnectionError": "_errors",
    "APIError": "_errors",
    "APIStatusError": "_errors",
    "APITimeoutError": "_errors",
    "ApplyError": "_errors",
    "ApplyInProgressError": "_errors",
    "ApplyIncompleteError": "_errors",
    "ApplyResult": "_result",
    "AuthenticationError": "_errors",
    "BadRequestError": "_errors",
    "CancelToken": "_progress",
    "ColumnError": "_errors",
    "ConfigurationError": "_errors",
    "ConflictError": "_errors",
    "Credentials": "_config",
    "DuplicateHeaderError": "_errors",
    "EmptyFileError": "_errors",
    "Estimate": "_plan",
    "HeaderOnlyError": "_errors",
    "InputFileError": "_errors",
    "InsecureURLError": "_errors",
    "JournalError": "_errors",
    "MassRemovalError": "_errors",
    "MemberList": "_members",
    "NotFoundError": "_errors",
    "OperationCancelledError": "_errors",
    "PayloadTooLargeError": "_errors",
    "PermissionDeniedError": "_errors",
    "PlanError": "_errors",
    "PlanTargetError": "_errors",
    "ProgressEvent": "_progress",
    "RateLimitError": "_errors",
    "Resolution": "_resolve",
    "RunNotFoundError": "_errors",
    "Secret": "_secrets",
    "SegmentNotEditableError": "_errors",
    "SegmentPlan": "_plan",
    "SegmentSession": "_session",
    "SegwidgetsError": "_errors",
    "ServerError": "_errors",
    "StalePlanError": "_errors",
    "TornReadError": "_errors",
    "UnknownEncodingError": "_errors",
    "UnprocessableEntityError": "_errors",
    "UnreadableFileError": "_errors",
    "read_members": "_members",
}

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
    "InputTooLargeError",
    "InsecureURLError",
    "InvalidSegmentCodeError",
    "JournalError",
    "MassRemovalError",
    "MemberList",
    "NotFoundError",
    "OperationCancelledError",
    "PagingError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlanError",
    "PlanTargetError",
    "ProgressEvent",
    "RateLimitError",
    "Resolution",
    "RunNotFoundError",
    "RunNotSettledError",
    "Secret",
    "SegmentBusyError",
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


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used."""
    module = _PUBLIC_MODULES.get(name)
    if module is None:
        msg = f"module 'segwidgets' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
