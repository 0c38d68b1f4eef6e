"""R15: one match key per address, stable, with reasons for invalid classes and no DNS.

And the spellings a lookup sends: the key and the spelling as typed, stripped.

Variants of one address (domain case, whitespace incl. NBSP, Punycode vs Unicode domain,
NFC vs NFD) must give one key; normalising a key changes nothing; each class of invalid
address is rejected with a reason; and no DNS lookup happens at any point.
"""

from __future__ import annotations

import contextlib
import socket
import unicodedata

import dns.resolver
import email_validator
import idna
import polars as pl
import pytest
from email_validator import deliverability
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from segwidgets._email import STRIP_CHARS, InvalidEmailError, normalize_email, normalize_emails
from segwidgets._members import read_members
from segwidgets._resolve import lookup_spellings

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ascii_locals = st.lists(
    st.text(alphabet="abcdefxyzABCXYZ0123456789_+-", min_size=1, max_size=10),
    min_size=1,
    max_size=3,
).map(".".join)
unicode_locals = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["jürgen", "åsa", "zoë", "иван", "θεος", "josé", "小林"]),
    st.text(alphabet="0123456789", max_size=3),
)
unicode_labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéñçå", min_size=1, max_size=12)
domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(unicode_labels, min_size=1, max_size=3),
    st.sampled_from(["de", "com", "org", "at", "ch"]),
)
spaces = st.text(alphabet=" \t\u00a0\u200b\u2009\u3000\ufeff", max_size=3)


def punycode(domain: str) -> str:
    return idna.encode(domain, uts46=True).decode("ascii")


def valid_base(local: str, domain: str) -> str:
    address = f"{local}@{domain}"
    try:
        normalize_email(address)
    except InvalidEmailError:
        assume(False)
    return address


@SETTINGS
@given(
    st.one_of(ascii_locals, unicode_locals),
    domains,
    spaces,
    spaces,
    st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_R15_variants_of_one_address_share_one_key(
    local: str, domain: str, before: str, after: str, flips: list[bool]
) -> None:
    base = valid_base(local, domain)
    key = normalize_email(base)
    ascii_domain = punycode(domain)
    flipped_local = "".join(
        c.swapcase() if c.isascii() and flips[i % len(flips)] else c for i, c in enumerate(local)
    )
    variants = [
        f"{local}@{domain.upper()}",
        f"{local}@{ascii_domain}",
        f"{local}@{ascii_domain.upper()}",
        f"{before}{local}@{domain}{after}",
        unicodedata.normalize("NFD", base),
        unicodedata.normalize("NFC", base),
        f"{unicodedata.normalize('NFD', local)}@{ascii_domain}",
        f"{flipped_local}@{domain}",
    ]
    assert {normalize_email(v) for v in variants} == {key}
    vectorised = normalize_emails(pl.Series([base, *variants]))
    assert vectorised["email"].to_list() == [key] * (len(variants) + 1)
    assert vectorised["reason"].null_count() == len(variants) + 1


@SETTINGS
@given(
    st.one_of(
        st.builds(valid_base, st.one_of(ascii_locals, unicode_locals), domains),
        st.text(max_size=40),
        st.text(alphabet="aB@.-_ \u00a0äÄ\u0308", max_size=30),
    )
)
def test_R15_normalising_twice_changes_nothing(value: str) -> None:
    try:
        key = normalize_email(value)
    except InvalidEmailError:
        return
    assert normalize_email(key) == key
    assert key == key.strip(STRIP_CHARS)
    assert unicodedata.is_normalized("NFC", key)
    assert normalize_emails(pl.Series([value, key]))["email"].to_list() == [key, key]


INVALID_CLASSES = {
    "no at-sign": "jane.example.com",
    "two at-signs": "jane@doe@example.com",
    "empty local part": "@example.com",
    "empty domain": "jane@",
    "domain without a dot": "jane@example",
    "two dots in a row": "jane..doe@example.com",
    "leading dot": ".jane@example.com",
    "trailing dot": "jane.@example.com",
    "space inside": "jane doe@example.com",
    "zero-width space inside": "jane\u200bdoe@example.com",
    "comma": "jane,doe@example.com",
    "display name": "Jane Doe <jane@example.com>",
    "quoted local part": '"jane doe"@example.com',
    "IP literal": "jane@[192.0.2.1]",
    "special-use domain": "jane@printer.local",
    "reserved test domain": "jane@host.test",
    "localhost": "jane@localhost",
    "hyphen at label start": "jane@-example.com",
    "label too long": "jane@" + "a" * 64 + ".com",
    "address too long": "j" * 250 + "@example.com",
    "numeric top-level domain": "jane@example.123",
    "full-width at-sign": "jane\uff20example.com",
    "invalid punycode": "jane@xn--zz-.com",
    "empty": " \u00a0 ",
}


@pytest.mark.parametrize(
    "value", list(INVALID_CLASSES.values()), ids=[f"R15-{k}" for k in INVALID_CLASSES]
)
def test_R15_invalid_classes_are_rejected_with_a_reason(value: str) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        normalize_email(value)
    reason = caught.value.reason
    assert reason
    assert reason.endswith(".")
    stripped = value.strip(STRIP_CHARS)
    if "@" in stripped:
        assert stripped not in reason
    out = normalize_emails(pl.Series([value]))
    assert out.row(0) == (None, reason)


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every name lookup fail loudly and record it."""
    lookups: list[str] = []

    def refuse(*args: object, **kwargs: object) -> object:
        lookups.append(repr(args[:1]))
        raise AssertionError("DNS lookup attempted")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(dns.resolver.Resolver, "resolve", refuse)
    monkeypatch.setattr(dns.resolver, "resolve", refuse)
    monkeypatch.setattr(deliverability, "validate_email_deliverability", refuse)
    return lookups


def test_R15_zero_dns_lookups(no_dns: list[str]) -> None:
    values = [
        "jane@example.com",
        "fritz@münchen.de",
        "fritz@xn--mnchen-3ya.de",
        "jürgen@bücher.example",
        "nobody@this-domain-does-not-exist.invalid",
        "x@gmail.com",
        *INVALID_CLASSES.values(),
    ]
    for value in values:
        with contextlib.suppress(InvalidEmailError):
            normalize_email(value)
    normalize_emails(pl.Series(values))
    members = read_members(values, kind="email")
    # jane, fritz (twice: Unicode and Punycode), jürgen, x; the rest are invalid classes.
    assert (members.n_valid, members.n_duplicates) == (4, 1)
    assert no_dns == []


def test_R15_the_dns_guard_would_notice_a_lookup(no_dns: list[str]) -> None:
    with pytest.raises(AssertionError, match="DNS lookup attempted"):
        email_validator.validate_email("jane@example.com", check_deliverability=True)
    assert no_dns


# -- the spellings a lookup asks Shopgate for ------------------------------------------------


@pytest.mark.parametrize("email_filter", [None, "exact", "insensitive"])
def test_R15_a_lookup_asks_for_the_key_and_the_spelling_as_typed(email_filter) -> None:
    """The key always; the typed spelling (without the spaces around it) where the filter,
    as far as known, would not find the one through the other: never a raw, unstripped
    value."""
    members = read_members(
        [
            "\u00a0Anna.Schmidt@GMX.de ",
            "bob@example.com",
            "fritz@xn--mnchen-3ya.de",
            "BOB@example.com",  # the same key as bob: one member
        ],
        kind="email",
    )
    spellings = lookup_spellings(members, email_filter)
    case_only = [] if email_filter == "insensitive" else ["Anna.Schmidt@GMX.de"]
    assert spellings == [
        "anna.schmidt@gmx.de",
        *case_only,
        "bob@example.com",
        "fritz@münchen.de",
        "fritz@xn--mnchen-3ya.de",  # not a letter-case difference: asked for in every mode
    ]
    assert all(s == s.strip(STRIP_CHARS) for s in spellings)
