"""Member write bodies in the layout clients send, read without a JSON parser.

``POST``/``DELETE segments/{code}/members`` carry up to 1,000 items, and ``json.loads``
plus the per-item shape checks cost more than the rest of such a request. But clients
send one of two layouts, httpx's compact JSON (segwidgets' client, the tests) or
``json.dumps``' default spacing, with ids of 36 characters::

    {"members":[{"id":"<id>","type":"customer"},{"id":"<id>","type":"customer"}]}

Every item then has the same length, so the ids sit at fixed offsets: slicing them out
and comparing the body with the same layout rebuilt around them checks every other
character at C speed. If the ids are made of ASCII letters, digits and dashes (no quote,
backslash or control character can hide in them), the body is exactly ``{"members":
[{"id": id, "type": "customer"}, ...]}`` for those ids, as ``json.loads`` reads it. Any
other body (other spacing or key order, an escape, another member type or id length,
anything malformed) gets ``None`` and goes through ``json.loads`` and the model's
item-by-item checks, which name what is wrong. The model still checks that each id is a
customer's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemberIds", "read_member_ids"]

_JSON_SPACE = " \t\r\n"
_ID_LENGTH = 36


@dataclass(frozen=True)
class MemberIds:
    """A member write body known to be ``{"members": [{"id": i, "type": "customer"}, ...]}``
    for these ``ids``, in this order."""

    ids: list[str]

    def to_body(self) -> dict[str, list[dict[str, str]]]:
        """The body as ``json.loads`` reads it."""
        return {"members": [{"id": i, "type": "customer"} for i in self.ids]}


@dataclass(frozen=True)
class _Layout:
    """One spelling of the body: the text before, between and after the ids."""

    head: str
    between: str
    tail: str

    @classmethod
    def spelled(cls, *, colon: str, comma: str) -> _Layout:
        item_end = f'"{comma}"type"{colon}"customer"}}'
        item_start = f'{{"id"{colon}"'
        return cls(
            head=f'{{"members"{colon}[{item_start}',
            between=f"{item_end}{comma}{item_start}",
            tail=f"{item_end}]}}",
        )

    def read(self, body: str) -> list[str] | None:
        if not body.startswith(self.head):
            return None
        stride = _ID_LENGTH + len(self.between)
        n, rest = divmod(len(body) - len(self.head) - len(self.tail) + len(self.between), stride)
        if rest or n < 1:
            return None
        starts = range(len(self.head), len(self.head) + n * stride, stride)
        ids = [body[start : start + _ID_LENGTH] for start in starts]
        if self.head + self.between.join(ids) + self.tail != body:
            return None
        # Letters, digits and dashes only: then no id can hide a quote or an escape, so
        # these are exactly the ids json.loads would read.
        if not "".join(ids).encode("ascii").translate(None, b"-").isalnum():
            return None
        return ids


_LAYOUTS = (_Layout.spelled(colon=":", comma=","), _Layout.spelled(colon=": ", comma=", "))


def read_member_ids(raw: bytes) -> MemberIds | None:
    """The ids of a member write body in one of the known layouts, else ``None``."""
    try:
        body = raw.decode("ascii").strip(_JSON_SPACE)
    except UnicodeDecodeError:
        return None
    for layout in _LAYOUTS:
        ids = layout.read(body)
        if ids is not None:
            return MemberIds(ids)
    return None
