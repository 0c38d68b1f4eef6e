"""Email match keys: one address, one key; the vectorised routes agree with the library."""

from __future__ import annotations

import re
import unicodedata

import email_validator
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from segwidgets._email import (
    FAST_PATH_PATTERN,
    STRIP_CHARS,
    InvalidEmailError,
    fast_path_key,
    normalize_email,
    normalize_emails,
)


def library_key(value: str) -> str | None:
    """The key straight from email-validator: strip, validate, lowercase (one round)."""
    try:
        result = email_validator.validate_email(
            unicodedata.normalize("NFC", value.strip(STRIP_CHARS)), check_deliverability=False
        )
    except email_validator.EmailNotValidError:
        return None
    return unicodedata.normalize("NFC", result.normalized.lower())


def key_or_reason(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, "The value is empty."
    try:
        return normalize_email(value), None
    except InvalidEmailError as exc:
        return None, exc.reason


def fast(values: list[str]) -> list[str | None]:
    frame = pl.DataFrame({"v": pl.Series(values, dtype=pl.String)})
    return frame.select(k=fast_path_key(pl.col("v"))).get_column("k").to_list()


# -- normalize_email --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  jane.doe@example.com\t", "jane.doe@example.com"),
        ("\u00a0jane.doe@example.com\u00a0", "jane.doe@example.com"),
        ("\u200bjane.doe@example.com\ufeff", "jane.doe@example.com"),
        ("\u3000jane.doe@example.com\u2009", "jane.doe@example.com"),
        ("fritz@münchen.de", "fritz@münchen.de"),
        ("fritz@xn--mnchen-3ya.de", "fritz@münchen.de"),
        ("FRITZ@MÜNCHEN.DE", "fritz@münchen.de"),
        ("ju\u0308rgen@example.de", "jürgen@example.de"),
        ("JÜRGEN@example.de", "jürgen@example.de"),
        ("user+tag@example.com", "user+tag@example.com"),
        ("=cmd@example.com", "=cmd@example.com"),
        ("Info@Example.com", "info@example.com"),
    ],
)
def test_normalize_email_gives_the_key(value: str, key: str) -> None:
    assert normalize_email(value) == key
    assert normalize_email(key) == key


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("", "empty"),
        ("   \u00a0", "empty"),
        ("jane.example.com", "@-sign"),
        ("jane@", "after the @-sign"),
        ("@example.com", "before the @-sign"),
        ("jane..doe@example.com", "two periods"),
        ("jane@example", "period"),
        ("jane@localhost", "period"),
        ("jane@host.test", "special-use"),
        ("Jane <jane@example.com>", "display name"),
        ('"jane doe"@example.com', "Quoting"),
        ("jane@[192.0.2.1]", "bracketed"),
        ("ja ne@example.com", "invalid characters"),
        ("ja\u200bne@example.com", "unsafe"),
        ("jane@exam_ple.com", "invalid characters"),
        ("a" * 250 + "@example.com", "too long"),
    ],
)
def test_invalid_addresses_are_rejected_with_the_reason(value: str, reason_part: str) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        normalize_email(value)
    assert isinstance(caught.value, ValueError)
    assert reason_part in caught.value.reason
    assert str(caught.value) == caught.value.reason
    local = value.strip(STRIP_CHARS).partition("@")[0]
    if "@" in value and len(local) > 3:
        assert value.strip() not in caught.value.reason


# -- normalize_emails ------------------------------------------------------------------------------


MIXED = [
    "Jane.Doe@Example.COM",
    None,
    "",
    "  \u00a0 ",
    "fritz@xn--mnchen-3ya.de",
    "fritz@münchen.de",
    "jürgen@example.de",
    "ju\u0308rgen@EXAMPLE.de",
    "no-at-sign",
    "broken@",
    "broken@example",
    "x@b@c.de",
    "Jane <jane@example.com>",
    "a\uff20b.de",
    "jane.doe@example.com",
    "jane.doe@example.com",
]


def test_normalize_emails_matches_normalize_email_value_by_value() -> None:
    out = normalize_emails(pl.Series(MIXED, dtype=pl.String))
    assert out.columns == ["email", "reason"]
    assert out.schema == pl.Schema({"email": pl.String, "reason": pl.String})
    assert out.height == len(MIXED)
    expected = [key_or_reason(v) for v in MIXED]
    assert list(zip(out["email"].to_list(), out["reason"].to_list(), strict=True)) == expected


def test_normalize_emails_keeps_order_and_casts() -> None:
    out = normalize_emails(pl.Series(["b@example.com", "A@example.com"]))
    assert out["email"].to_list() == ["b@example.com", "a@example.com"]
    assert normalize_emails(pl.Series([None, None], dtype=pl.Null))["reason"].to_list() == [
        "The value is empty.",
        "The value is empty.",
    ]


def test_normalize_emails_calls_the_library_once_per_distinct_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import segwidgets._email as module

    calls: list[str] = []
    real = module.validate_email

    def counting(value: str, **kwargs: object) -> object:
        calls.append(value)
        return real(value, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "validate_email", counting)
    values = ["jürgen@example.de"] * 50 + ["Plain@Example.com"] * 50 + ["x@bücher.de"] * 20
    out = normalize_emails(pl.Series(values))
    assert out["email"].null_count() == 0
    # jürgen@example.de: one round (already a key). x@bücher.de: its domain once, behind
    # a one-letter local part. Plain ASCII addresses never reach the library.
    assert sorted(calls) == sorted(["jürgen@example.de", "a@bücher.de"])


# -- the fast path: a pattern that only accepts what the library keys the same way ---------------

ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"
local_parts = st.one_of(
    st.text(alphabet=ATEXT + ".", min_size=0, max_size=70),
    st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=12), min_size=1, max_size=4).map(
        ".".join
    ),
    st.text(alphabet=ATEXT + '.äé "(),:;<>@[\\]\t', min_size=0, max_size=20),
)
labels = st.one_of(
    st.text(alphabet="abzAZ09-", min_size=0, max_size=66),
    st.sampled_from(["xn--mnchen-3ya", "xn--", "ab--cd", "-a", "a-", "ex_ample", "exämple"]),
)
tlds = st.one_of(
    st.text(alphabet="abzAZ09-", min_size=0, max_size=8),
    st.sampled_from(
        ["com", "de", "COM", "test", "local", "localhost", "invalid", "onion", "arpa", "x1"]
    ),
)
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(labels, min_size=0, max_size=4),
    tlds,
)
random_addresses = st.builds(
    lambda local, sep, domain: f"{local}{sep}{domain}",
    local_parts,
    st.sampled_from(["@", "@", "@", "", "@@", "\uff20"]),
    domains,
)
plain_labels = st.one_of(
    st.text(alphabet="abcxyzABCXYZ0189", min_size=1, max_size=10),
    st.builds(
        lambda a, b: f"{a}-{b}",
        st.text(alphabet="abcXYZ09", min_size=1, max_size=5),
        st.text(alphabet="abcXYZ09", min_size=1, max_size=5),
    ),
    st.integers(min_value=60, max_value=65).map(lambda n: "l" * n),
)
plain_addresses = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.one_of(
        st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=12), min_size=1, max_size=4).map(
            ".".join
        ),
        st.integers(min_value=60, max_value=200).map(lambda n: "a" * n),
    ),
    st.lists(plain_labels, min_size=1, max_size=4),
    st.one_of(
        st.text(alphabet="abcxyzABCXYZ", min_size=2, max_size=6),
        st.sampled_from(["test", "local", "LOCALHOST", "invalid", "onion", "arpa", "Test"]),
    ),
)


def mutate(value: str, position: int, edit: str) -> str:
    """A near miss: insert a character (or delete one, for an empty edit) at ``position``."""
    position %= len(value) + 1
    if edit == "":
        return value[:position] + value[position + 1 :]
    return value[:position] + edit + value[position:]


near_misses = st.builds(
    mutate,
    plain_addresses,
    st.integers(min_value=0, max_value=300),
    st.sampled_from(["", ".", "..", "-", "--", "@", " ", "ä", "_", "xn--", "\u00a0", '"', "<"]),
)
addresses = st.one_of(plain_addresses, near_misses, random_addresses)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(addresses, min_size=1, max_size=20))
@example(["Jane.Doe@Example.COM", "a@b.co", "a" * 64 + "@" + "b" * 63 + ".com"])
@example(["x@" + ".".join(["a" * 63] * 3) + ".com", "x@host.test", "x@xn--mnchen-3ya.de"])
@example(["a@b.c", "a@b.c1", "a-@b.com", ".a@b.com", "a.@b.com", "a@-b.com", "a@b-.com"])
def test_fast_path_agrees_with_the_library(values: list[str]) -> None:
    for value, key in zip(values, fast(values), strict=True):
        if key is not None:
            assert library_key(value) == key, value


def test_fast_path_takes_the_common_shapes() -> None:
    common = ["jane.doe@example.com", "Jane.Doe+news@Mail.Example.CO.UK", "a_b-c@x-y.de"]
    assert fast(common) == [c.lower() for c in common]
    assert fast(["fritz@xn--mnchen-3ya.de", "x@host.test", "jürgen@example.de"]) == [None] * 3
    assert re.fullmatch(FAST_PATH_PATTERN, "Jane.Doe@Example.COM")


# -- the per-domain route and the no-@ rule agree with the library, reasons included ------------

unicode_domains = st.sampled_from(
    [
        "münchen.de",
        "MÜNCHEN.DE",
        "xn--mnchen-3ya.de",
        "XN--MNCHEN-3YA.DE",
        "bücher.example.com",
        "пример.рф",
        "例え.jp",
        "mu\u0308nchen.de",
        "xn--zz-.de",
        "xn--a.com",
        "exa mple.com",
        "example",
        "",
        "[192.0.2.1]",
        "host.test",
        "ex\u200bample.com",
        "münchen..de",
        "b" * 60 + "ü.de",
        "a." * 120 + "de",
        "Ⅻ.com",
        "ǅ.com",
    ]
)
long_locals = st.one_of(
    st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=10), min_size=1, max_size=3).map(
        ".".join
    ),
    st.integers(min_value=200, max_value=250).map(lambda n: "a" * n),
)
mixed_values = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", long_locals, unicode_domains),
    st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.sampled_from(["jürgen", "Σίσυφος", "ǅ", "ß"]),
        unicode_domains,
    ),
    st.text(alphabet='ab<"@ .\uff20\ufe6b\u0338', max_size=12),
    addresses,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mixed_values, min_size=1, max_size=15))
def test_vectorised_routes_agree_with_normalize_email(values: list[str]) -> None:
    out = normalize_emails(pl.Series(values, dtype=pl.String))
    got = list(zip(out["email"].to_list(), out["reason"].to_list(), strict=True))
    assert got == [key_or_reason(v) for v in values]
