"""The small rule language of dynamic segments, ``membersSearch`` and ``addByFilter``.

Shopgate's rule syntax is not public; the sandbox accepts this subset and documents it::

    {"customer.emailAddress": {"$ct": "@gmail.com"}, "customer.status": {"$eq": "active"}}

- keys are ``customer.<field>`` for ``id``, ``externalCustomerNumber``, ``firstName``,
  ``middleName``, ``lastName``, ``emailAddress``, ``status`` and ``isAnonymous``;
- a condition is ``{"$eq": value}`` (a bare value means the same), or ``{"$ct": text}``
  (contains, case-insensitive), or ``{"$ct": [values]}`` (equals one of the values);
- all conditions must hold (AND); email comparisons ignore case;
- deleted customers never match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._customers import CustomerTable
from ._service_error import ServiceError

__all__ = ["RULE_FIELDS", "Rule", "parse_rule"]

#: Fields a rule can test, by rule key.
RULE_FIELDS: dict[str, str] = {
    "customer.id": "id",
    "customer.externalCustomerNumber": "externalCustomerNumber",
    "customer.firstName": "firstName",
    "customer.middleName": "middleName",
    "customer.lastName": "lastName",
    "customer.emailAddress": "emailAddress",
    "customer.status": "status",
    "customer.isAnonymous": "isAnonymous",
}

_MAX_VALUES = 100_000


@dataclass(frozen=True)
class _Condition:
    field: str
    op: str  # "eq", "contains", "one_of"
    value: Any

    def holds(self, actual: Any) -> bool:
        if self.op == "eq":
            if self.field == "emailAddress" and isinstance(actual, str):
                return actual.lower() == str(self.value).lower()
            return bool(actual == self.value)
        if not isinstance(actual, str):
            return False
        if self.op == "contains":
            return str(self.value).lower() in actual.lower()
        if self.field == "emailAddress":
            return actual.lower() in self.value
        return actual in self.value


@dataclass(frozen=True)
class Rule:
    """A parsed rule set; ``source`` is the JSON it came from."""

    conditions: tuple[_Condition, ...]
    source: dict[str, Any]

    def matches(self, table: CustomerTable, index: int) -> bool:
        """True when customer ``index`` satisfies every condition (deleted never do)."""
        if table.is_deleted(index):
            return False
        return all(c.holds(table.field(index, c.field)) for c in self.conditions)

    def candidates(self, table: CustomerTable) -> Iterable[int]:
        """Indices worth testing: a lookup when the rule pins an email or id, else all."""
        for c in self.conditions:
            if c.field == "emailAddress" and c.op in {"eq", "one_of"}:
                values = [c.value] if c.op == "eq" else sorted(c.value)
                return sorted({i for v in values for i in table.find_by_email(v)})
            if c.field == "id" and c.op == "eq":
                index = table.index_of(c.value)
                return [] if index is None else [index]
        return range(len(table))

    def select(self, table: CustomerTable) -> list[int]:
        """Indices of every matching customer, in order."""
        return [i for i in self.candidates(table) if self.matches(table, i)]

    @property
    def size(self) -> int:
        """How many values the rule lists (``$ct`` lists count each value)."""
        return sum(len(c.value) if c.op == "one_of" else 1 for c in self.conditions)


def _bad(what: str, detail: str) -> ServiceError:
    return ServiceError(400, "invalidRules", f"Invalid {what}: {detail}")


def parse_rule(data: object, *, what: str = "rules") -> Rule:
    """Parse and check a rule set; a problem raises ``ServiceError`` 400 ``invalidRules``."""
    if not isinstance(data, Mapping) or not data:
        raise _bad(what, "expected a non-empty JSON object of customer.<field> conditions.")
    conditions: list[_Condition] = []
    for key, condition in data.items():
        field = RULE_FIELDS.get(key)
        if field is None:
            raise _bad(what, f"unknown field {key!r}; use one of {', '.join(RULE_FIELDS)}.")
        spec = condition if isinstance(condition, Mapping) else {"$eq": condition}
        if not spec:
            raise _bad(what, f"{key} has no operator; use $eq or $ct.")
        for op, value in spec.items():
            conditions.append(_parse_condition(what, key, field, op, value))
    return Rule(conditions=tuple(conditions), source=dict(data))


def _parse_condition(what: str, key: str, field: str, op: str, value: Any) -> _Condition:
    boolean = field == "isAnonymous"
    if op == "$eq":
        if boolean and not isinstance(value, bool):
            raise _bad(what, f"{key} $eq needs true or false.")
        if not boolean and not isinstance(value, str):
            raise _bad(what, f"{key} $eq needs a string.")
        return _Condition(field, "eq", value)
    if op == "$ct":
        if boolean:
            raise _bad(what, f"{key} supports only $eq.")
        if isinstance(value, str):
            return _Condition(field, "contains", value)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            if len(value) > _MAX_VALUES:
                raise _bad(what, f"{key} $ct lists more than {_MAX_VALUES} values.")
            normal = {v.lower() for v in value} if field == "emailAddress" else set(value)
            return _Condition(field, "one_of", frozenset(normal))
        raise _bad(what, f"{key} $ct needs a string or a non-empty list of strings.")
    raise _bad(what, f"unknown operator {op!r} for {key}; use $eq or $ct.")
