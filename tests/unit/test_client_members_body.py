"""The member-write body: the fast join and json.dumps give the same JSON value."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segwidgets._client import _members_body


def decoded(ids: list[str], member_type: str = "customer") -> object:
    body = _members_body(ids, member_type)
    assert body is not None
    return json.loads(body)


@given(st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=20))
def test_any_ids_round_trip(ids: list[str]) -> None:
    assert decoded(ids) == {"members": [{"id": i, "type": "customer"} for i in ids]}


@given(
    st.lists(
        st.text(alphabet="abcdef0123456789-._:@+ AZ\n", min_size=0, max_size=40),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["customer", 'odd"type', "new\nline"]),
)
def test_plain_ids_round_trip(ids: list[str], member_type: str) -> None:
    assert decoded(ids, member_type) == {"members": [{"id": i, "type": member_type} for i in ids]}


@pytest.mark.parametrize(
    "ids", [['a"b'], ["a\\b"], ["é"], ["\u2028"], ["tab\there"], ["a\nb", "c"]]
)
def test_ids_that_need_escaping(ids: list[str]) -> None:
    assert decoded(ids)["members"][0]["id"] == ids[0]  # type: ignore[index]


def test_no_ids_no_body_and_a_string_is_refused() -> None:
    assert _members_body([], "customer") is None
    with pytest.raises(TypeError, match="not a single string"):
        _members_body("abc", "customer")
