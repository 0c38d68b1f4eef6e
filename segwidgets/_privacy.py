"""Masking of personal data (email addresses) before anything is logged or shown."""

from __future__ import annotations

import re

__all__ = ["mask_email", "mask_emails_in"]

_EMAIL_RE = re.compile(
    r"[^\s\"'<>(),;:@\[\]\\/?&=]+(?:@|%40)[^\s\"'<>(),;:@\[\]\\/?&=]+", re.IGNORECASE
)


def mask_email(email: str) -> str:
    """``jane.doe@example.com`` → ``j***@e***.com``: enough to tell rows apart, not to read.

    A value without ``@`` is masked whole but for its first character.
    """
    local, sep, domain = email.partition("@")
    if not sep:
        return (email[:1] + "***") if email else ""
    head, dot, tld = domain.rpartition(".")
    masked_domain = f"{head[:1]}***.{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


def mask_emails_in(text: str) -> str:
    """Mask every email-like token inside free text (log lines, error messages, URLs),
    URL-encoded ones (``%40``) included."""
    return _EMAIL_RE.sub(lambda m: mask_email(re.sub("%40", "@", m.group(0), flags=re.I)), text)
