"""Email addresses as match keys: one key per mailbox, whatever the spelling.

The key of an address is what `email-validator`_ calls its normalised form (NFC local part,
Unicode domain, so ``xn--mnchen-3ya.de`` and ``münchen.de`` agree), lowercased. Spaces,
no-break spaces and zero-width characters around the value are removed first. No DNS query
is ever made: deliverability is not checked.

:func:`normalize_emails` does the same for a whole polars Series, giving the same keys and
reasons. Most addresses are plain ASCII (``jane.doe@example.com``); for those a conservative
pattern gives the key directly (lowercasing is all the library would do to them). An
address with a plain ASCII local part and any other domain asks the library once per
distinct domain; everything else goes to the library once per distinct value.

.. _email-validator: https://github.com/JoshData/python-email-validator
"""

from __future__ import annotations

import unicodedata

import email_validator
import polars as pl
from email_validator import EmailNotValidError, validate_email

from ._privacy import mask_emails_in

__all__ = [
    "BLANK_PATTERN",
    "FAST_PATH_PATTERN",
    "STRIP_CHARS",
    "InvalidEmailError",
    "fast_path_key",
    "normalize_email",
    "normalize_emails",
    "strip_values",
]

#: Characters removed from both ends of a value: ASCII whitespace, the Unicode spaces
#: (no-break, thin, ideographic, ...), line separators and the zero-width characters
#: (zero-width space/joiners, word joiner, byte-order mark) that copy and paste brings along.
STRIP_CHARS = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u180e"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)

_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in STRIP_CHARS) + "]"
_EDGE_SPACE = f"^{_SPACE_CLASS}|{_SPACE_CLASS}$"
#: A regex for a value that is empty once stripped of :data:`STRIP_CHARS` (no copy made).
BLANK_PATTERN = f"^{_SPACE_CLASS}*$"

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

#: Plain ASCII addresses whose key is simply their lowercase form: a dot-atom local part,
#: a domain of letter-digit-hyphen labels (each at most 63 long) ending in an alphabetic
#: top-level label. Further conditions (see :func:`fast_path_key`) exclude what the library
#: treats specially: ``--`` in the domain (Punycode and reserved label forms), special-use
#: domains, and addresses longer than 254 characters. Valid in Python ``re`` (with
#: ``fullmatch``) and in polars (Rust regex).
FAST_PATH_PATTERN = rf"^[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"

_MAX_LENGTH = 254
_SPECIAL_USE = "|".join(
    name.replace(".", r"\.") for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
)
_SPECIAL_USE_PATTERN = rf"[@.](?:{_SPECIAL_USE})$"
_DOUBLE_HYPHEN_IN_DOMAIN = r"@.*--"

_EMPTY_REASON = "The value is empty."
_MAX_ROUNDS = 3


class InvalidEmailError(ValueError):
    """The value is not a usable email address; ``reason`` says why (no address in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_email(value: str) -> str:
    """The match key of one address, or :class:`InvalidEmailError` with the reason.

    >>> normalize_email("  Jane.Doe@Example.COM\\u00a0")
    'jane.doe@example.com'

    Normalising a key again returns it unchanged.
    """
    stripped = value.strip(STRIP_CHARS)
    if not stripped:
        raise InvalidEmailError(_EMPTY_REASON)
    return _library_key(stripped)


def normalize_emails(values: pl.Series) -> pl.DataFrame:
    """Keys for a whole Series of strings, in order.

    Returns a DataFrame of the same length with ``email`` (the key, or null) and ``reason``
    (null, or why the value was rejected; an empty or null value gives "The value is empty.").

    Three routes give the same keys and reasons as :func:`normalize_email` (property tests
    hold them to it): plain ASCII addresses are lowercased in polars; values without an
    at-sign, and addresses with a plain ASCII local part and any other domain (Unicode,
    Punycode, invalid), ask the library once per distinct domain; everything else asks the
    library once per distinct value.
    """
    if values.dtype != pl.String:
        values = values.cast(pl.String)
    frame = pl.DataFrame({"value": strip_values(values)}).with_columns(
        fast=fast_path_key(pl.col("value"))
    )
    del values
    pending = (
        frame.filter(pl.col("fast").is_null() & (pl.col("value").str.len_bytes() > 0))
        .select("value")
        .unique(maintain_order=True)
    )
    pending = _domain_route(pending)
    known = pl.col("slow_key").is_not_null() | pl.col("slow_reason").is_not_null()
    slow_values = pending.filter(~known).get_column("value")
    keys: list[str | None] = []
    reasons: list[str | None] = []
    for value in slow_values:
        try:
            keys.append(_library_key(value))
            reasons.append(None)
        except InvalidEmailError as exc:
            keys.append(None)
            reasons.append(exc.reason)
    slow = pl.concat(
        [
            pending.filter(known),
            pl.DataFrame(
                {"value": slow_values, "slow_key": keys, "slow_reason": reasons},
                schema={"value": pl.String, "slow_key": pl.String, "slow_reason": pl.String},
            ),
        ]
    )
    del pending, slow_values, keys, reasons
    empty = pl.col("value").is_null() | (pl.col("value").str.len_bytes() == 0)
    if slow.is_empty():  # every address took the fast route: no join, no copy of the frame
        return frame.select(email="fast", reason=pl.when(empty).then(pl.lit(_EMPTY_REASON)))
    joined = frame.join(slow, on="value", how="left", maintain_order="left")
    del frame
    return joined.select(
        email=pl.coalesce("fast", "slow_key"),
        reason=pl.when(empty)
        .then(pl.lit(_EMPTY_REASON))
        .when(pl.col("fast").is_null())
        .then(pl.col("slow_reason")),
    )


def strip_values(values: pl.Series) -> pl.Series:
    """``values.str.strip_chars(STRIP_CHARS)``; the Series itself when nothing is to strip,
    so a clean column is not copied."""
    if values.str.contains(_EDGE_SPACE).any():
        return values.str.strip_chars(STRIP_CHARS)
    return values


def fast_path_key(stripped: pl.Expr) -> pl.Expr:
    """The key of a plain ASCII address (its lowercase form), or null to ask the library.

    ``stripped`` must already be stripped of :data:`STRIP_CHARS`. Only addresses for which
    `email-validator` provably returns the same key are accepted (a property test compares
    the two on generated addresses and near misses).
    """
    lower = stripped.str.to_lowercase()
    accepted = (
        stripped.str.contains(FAST_PATH_PATTERN)
        & (stripped.str.len_bytes() <= _MAX_LENGTH)
        & ~lower.str.contains(_DOUBLE_HYPHEN_IN_DOMAIN)
        & ~lower.str.contains(_SPECIAL_USE_PATTERN)
    )
    return pl.when(accepted).then(lower)


def _domain_route(pending: pl.DataFrame) -> pl.DataFrame:
    """``value``, ``slow_key``, ``slow_reason`` for values the library need not see one by one.

    A value without an at-sign (or anything the library could read as one) gets the
    library's own reason for that. For a plain ASCII local part, the library checks the
    local part the same whatever the domain and the domain the same whatever the local part,
    except for the length limit on the whole address. So each distinct domain is validated
    once behind a one-letter local part: an invalid domain gives its reason to every address
    with it, a valid one gives the key when the local part plus the longest form the domain
    took stays within the limit. Both columns stay null for what the library must decide.
    """
    parts = pending.with_columns(
        parts=pl.col("value").str.extract_groups(_LOCAL_AND_DOMAIN)
    ).unnest("parts")
    parts = parts.with_columns(info=_domain_info_batch(parts.get_column("domain"))).unnest("info")
    local = pl.col("local")
    fits = local.str.len_bytes() + 1 + pl.col("longest") <= _MAX_LENGTH
    return parts.select(
        "value",
        slow_key=pl.when(pl.col("key").is_not_null() & fits).then(
            pl.concat_str([local.str.to_lowercase(), pl.lit("@"), pl.col("key")])
        ),
        slow_reason=pl.when(~pl.col("value").str.contains(_AT_LIKE))
        .then(pl.lit(_NO_AT_REASON))
        .otherwise(pl.col("reason")),
    )


# The library splits at the first "@" or "<" and names the full-width and small at-signs.
_AT_LIKE = "[@<\uff20\ufe6b]"
_NO_AT_REASON = "An email address must have an @-sign."
_LOCAL_AND_DOMAIN = rf"^(?<local>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@(?<domain>.*)$"
_DOMAIN_INFO = pl.Struct({"key": pl.String, "longest": pl.Int64, "reason": pl.String})


def _domain_info_batch(domains: pl.Series) -> pl.Series:
    """:func:`_domain_info` for each distinct domain, mapped back onto ``domains``."""
    distinct = domains.drop_nulls().unique(maintain_order=True)
    infos = [_domain_info(d) for d in distinct]
    table = pl.DataFrame(
        {
            "domain": distinct,
            "info": pl.Series(
                [{"key": k, "longest": n, "reason": r} for k, n, r in infos],
                dtype=_DOMAIN_INFO,
            ),
        },
        schema={"domain": pl.String, "info": _DOMAIN_INFO},
    )
    return (
        domains.rename("domain")
        .to_frame()
        .join(table, on="domain", how="left", maintain_order="left")
        .get_column("info")
    )


def _domain_info(domain: str) -> tuple[str | None, int, str | None]:
    """:func:`_library_key` for ``a@domain``: the domain's key, longest form, or reason.

    The reason is only given when the first validation fails (then it is the same for any
    plain ASCII local part); a later failure gives neither key nor reason.
    """
    current = unicodedata.normalize("NFC", "a@" + domain)
    longest = len(domain.encode("utf-8"))
    for round_ in range(_MAX_ROUNDS + 1):
        try:
            result = validate_email(current, check_deliverability=False)
        except EmailNotValidError as exc:
            return None, 0, (mask_emails_in(str(exc)) if round_ == 0 else None)
        forms = (current[2:].encode("utf-8"), result.domain.encode("utf-8"), result.ascii_domain)
        longest = max(longest, *(len(form) for form in forms))
        following = unicodedata.normalize("NFC", result.normalized.lower())
        if following == current:
            return current[2:], longest, None
        current = following
    return None, 0, None


def _library_key(stripped: str) -> str:
    """NFC, validate, lowercase; repeated until stable so that a key maps to itself."""
    current = unicodedata.normalize("NFC", stripped)
    for _ in range(_MAX_ROUNDS + 1):
        following = _one_round(current)
        if following == current:
            return current
        current = following
    raise InvalidEmailError("The address has no stable normal form after lowercasing.")


def _one_round(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError(mask_emails_in(str(exc))) from None
    return unicodedata.normalize("NFC", result.normalized.lower())
