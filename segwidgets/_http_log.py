"""What the HTTP layer may say about a call: method and path, masked, never a query or a header.

URLs of customer lookups carry email addresses in their query string, and requests carry
tokens in their headers, so log lines and error messages name a call by ``call_name()`` only.
httpx itself logs each request's full URL at INFO; a filter on its logger drops the query
and masks emails in the path.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

import httpx

from ._privacy import mask_emails_in

__all__ = ["call_name", "install_httpx_log_filter", "log_attempt", "logger"]

#: The logger of every request segwidgets sends (DEBUG only).
logger = logging.getLogger("segwidgets.http")

_QUERY_RE = re.compile(r"\?[^\s\"']*")


def call_name(method: str, url: httpx.URL | str) -> str:
    """``GET /v1/merchants/M/segments/abc``: method and path, emails masked, no query."""
    path = httpx.URL(url).path if isinstance(url, str) else url.path
    return f"{method.upper()} {mask_emails_in(unquote(path))}"


def log_attempt(name: str, outcome: int | BaseException, attempt: int, *, next_step: str) -> None:
    """One DEBUG line per attempt: which call, what came back, what happens next."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    result = (
        f"HTTP {outcome}" if isinstance(outcome, int) else f"{type(outcome).__name__} (no answer)"
    )
    logger.debug("%s attempt %d: %s; %s", name, attempt, result, next_step)


class _DropQueryFilter(logging.Filter):
    """Rewrites httpx's request lines without query strings, emails in paths masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _QUERY_RE.sub("?[query hidden]", record.getMessage())
        record.msg = mask_emails_in(unquote(message))
        record.args = ()
        return True


_FILTER = _DropQueryFilter()


def install_httpx_log_filter() -> None:
    """Attach the query-dropping filter to httpx's logger (once; harmless to repeat)."""
    httpx_logger = logging.getLogger("httpx")
    if _FILTER not in httpx_logger.filters:
        httpx_logger.addFilter(_FILTER)
