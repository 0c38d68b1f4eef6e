"""The customer table: seeded customers computed on demand, plus explicit records on top.

A customer is either *seeded* (its fields are arithmetic on the seed and its index, see
``_seed``) or *explicit*: added later, or a seeded customer whose fields were changed. An
explicit record replaces the seeded one entirely. Indices only grow, so the order of
``GET customers`` is the order of creation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ._seed import CODE_STATUS, SeedCustomers, code_of, iso_time
from ._service_error import ServiceError

__all__ = ["CUSTOMER_FIELDS", "MAX_KNOWN_IDS", "CustomerTable"]

#: Fields of a customer, in the order the service returns them.
CUSTOMER_FIELDS: tuple[str, ...] = (
    "id",
    "externalCustomerNumber",
    "firstName",
    "middleName",
    "lastName",
    "emailAddress",
    "status",
    "isAnonymous",
    "contacts",
    "attributes",
    "settings",
    "createDate",
    "updateDate",
)

_EDITABLE = frozenset(CUSTOMER_FIELDS) - {"id", "createDate"}
#: Ids the table remembers in each of its two generations of known ids.
MAX_KNOWN_IDS = 1 << 16
_OPTIONAL_STRINGS = ("externalCustomerNumber", "firstName", "middleName", "lastName")


class CustomerTable:
    """Every customer of the merchant, by index; lookups by id, email and external number."""

    def __init__(self, seeded: SeedCustomers, *, clock: Callable[[], float]) -> None:
        self.seeded = seeded
        self._clock = clock
        self._count = seeded.count
        #: Explicit records by index (added customers and changed seeded ones).
        self.explicit: dict[int, dict[str, Any]] = {}
        self._codes = bytearray(seeded.codes)
        self._by_email: dict[str, set[int]] = {}
        self._by_external: dict[str, set[int]] = {}
        self._code_cache: dict[frozenset[int], list[int]] = {}
        #: Grows with every change; caches derived from customers compare it.
        self.version = 0
        #: ``(index, member key)`` of ids looked up lately. An id that names a customer
        #: names it for good (ids never change and indices only grow), so an entry stays
        #: true as long as this table lives; ids that name no customer are not kept (an
        #: added customer may take one). When ``_known`` is full it becomes
        #: ``_known_before`` (the generation before it is forgotten), so the ids of the last
        #: ``MAX_KNOWN_IDS`` lookups at least are remembered.
        self._known: dict[str, tuple[int, int]] = {}
        self._known_before: dict[str, tuple[int, int]] = {}

    def __len__(self) -> int:
        return self._count

    # lookups -----------------------------------------------------------------------------
    def locate(self, customer_id: object) -> tuple[int, int] | None:
        """``(index, member key)`` of an existing customer id, or ``None``.

        Member writes and lookups name the same ids again and again (a push looks its ids
        up, writes them, then looks them up again), so the answers are remembered.
        """
        if not isinstance(customer_id, str):
            return None  # no id (and a list, say, is no dict key)
        found = self._known.get(customer_id)
        if found is None:
            found = self._known_before.get(customer_id)
            if found is None:
                found = self.seeded.locate_id(customer_id, limit=self._count)
                if found is None:
                    return None
            if len(self._known) >= MAX_KNOWN_IDS:
                self._known_before, self._known = self._known, {}
            self._known[customer_id] = found
        return found

    def index_of(self, customer_id: str) -> int | None:
        """The index of an existing customer id, or ``None``."""
        found = self.locate(customer_id)
        return None if found is None else found[0]

    def member_key_of(self, customer_id: str) -> int | None:
        """The member key of an existing customer id, or ``None`` (what ``key_of`` says of
        its index)."""
        found = self.locate(customer_id)
        return None if found is None else found[1]

    def key_of(self, index: int) -> int:
        """The member sort key of customer ``index``."""
        return self.seeded.key_of(index)

    def index_of_key(self, key: int) -> int:
        """The index of the customer with member key ``key``."""
        return self.seeded.index_of_key(key)

    def id_of_key(self, key: int) -> str:
        """The id of the customer with member key ``key``."""
        return self.seeded.id_of_key(key)

    def keys_of(self, indices: Sequence[int]) -> list[int]:
        """The member keys of many customers at once."""
        return self.seeded.keys_of(indices)

    def ids_of_keys(self, keys: Sequence[int]) -> list[str]:
        """The ids of many member keys at once."""
        return self.seeded.ids_of_keys(keys)

    def status(self, index: int) -> str:
        """``active``, ``inactive`` or ``deleted``."""
        return CODE_STATUS[self._codes[index] % 3]

    def is_deleted(self, index: int) -> bool:
        """True for a customer whose status is ``deleted``."""
        return self._codes[index] % 3 == 2

    def record(self, index: int) -> dict[str, Any]:
        """A copy of customer ``index`` as the customer service returns it."""
        explicit = self.explicit.get(index)
        if explicit is not None:
            return {name: _copy(explicit[name]) for name in CUSTOMER_FIELDS}
        return self.seeded.record(index)

    def field(self, index: int, name: str) -> Any:
        """One field of customer ``index`` (cheaper than ``record`` for ids and emails)."""
        explicit = self.explicit.get(index)
        if explicit is not None:
            return explicit[name]
        if name == "id":
            return self.seeded.id_of(index)
        if name == "emailAddress":
            return self.seeded.email(index)
        if name == "status":
            return self.status(index)
        if name == "isAnonymous":
            return self._codes[index] >= 3
        if name == "externalCustomerNumber":
            return self.seeded.external_number(index)
        return self.seeded.record(index)[name]

    def find_by_email(self, email: str) -> list[int]:
        """Indices of customers with this email, compared case-insensitively."""
        wanted = email.lower()
        found = {
            i
            for i in self.seeded.email_candidates(wanted)
            if i not in self.explicit and self.seeded.email(i).lower() == wanted
        }
        found |= self._by_email.get(wanted, set())
        return sorted(found)

    def find_by_external(self, number: str) -> list[int]:
        """Indices of customers with this external customer number (exact match)."""
        found = {
            i
            for i in self.seeded.external_candidates(number)
            if i not in self.explicit and self.seeded.external_number(i) == number
        }
        found |= self._by_external.get(number, set())
        return sorted(found)

    def with_codes(self, codes: frozenset[int]) -> list[int] | range:
        """Indices whose status/guest code is in ``codes``, in order (cached per version)."""
        if codes >= frozenset(range(6)):
            return range(self._count)
        cached = self._code_cache.get(codes)
        if cached is None:
            table = bytes(1 if b in codes else 0 for b in range(256))
            mask = self._codes.translate(table)
            cached = [i for i, hit in enumerate(mask) if hit]
            self._code_cache[codes] = cached
        return cached

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every customer, in order."""
        for index in range(self._count):
            yield self.record(index)

    # changes -----------------------------------------------------------------------------
    def add(self, fields: Mapping[str, Any]) -> int:
        """Add a customer; missing fields get defaults. Returns its index."""
        index = self._count
        now = iso_time(self._clock())
        record: dict[str, Any] = {
            "id": self.seeded.id_of(index),
            "externalCustomerNumber": None,
            "firstName": None,
            "middleName": None,
            "lastName": None,
            "emailAddress": None,
            "status": "active",
            "isAnonymous": False,
            "contacts": [],
            "attributes": [],
            "settings": {},
            "createDate": now,
            "updateDate": now,
        }
        _check_fields(fields, allow_dates=True)
        record.update({k: _copy(v) for k, v in fields.items()})
        self._count += 1
        self._codes.append(code_of(record["status"], record["isAnonymous"]))
        self._store(index, record)
        return index

    def update(self, index: int, fields: Mapping[str, Any]) -> None:
        """Change fields of customer ``index``; ``updateDate`` moves to now unless given."""
        _check_fields(fields, allow_dates=False)
        record = self.record(index)
        self._unindex(index)
        record.update({k: _copy(v) for k, v in fields.items()})
        if "updateDate" not in fields:
            record["updateDate"] = iso_time(self._clock())
        self._codes[index] = code_of(record["status"], record["isAnonymous"])
        self._store(index, record)

    def restore(self, index: int, record: Mapping[str, Any]) -> None:
        """Put back an explicit record read from storage (index may be past the end)."""
        while self._count <= index:
            self._codes.append(0)
            self._count += 1
        self._unindex(index)
        self._codes[index] = code_of(record["status"], record["isAnonymous"])
        self._store(index, dict(record))

    def _store(self, index: int, record: dict[str, Any]) -> None:
        self.explicit[index] = record
        if record["emailAddress"] is not None:
            self._by_email.setdefault(record["emailAddress"].lower(), set()).add(index)
        if record["externalCustomerNumber"] is not None:
            self._by_external.setdefault(record["externalCustomerNumber"], set()).add(index)
        self._code_cache.clear()
        self.version += 1

    def _unindex(self, index: int) -> None:
        old = self.explicit.get(index)
        if old is None:
            return
        for table, value in (
            (self._by_email, (old["emailAddress"] or "").lower()),
            (self._by_external, old["externalCustomerNumber"]),
        ):
            holders = table.get(value)
            if holders is not None:
                holders.discard(index)
                if not holders:
                    del table[value]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _check_fields(fields: Mapping[str, Any], *, allow_dates: bool) -> None:
    allowed = _EDITABLE | ({"createDate"} if allow_dates else set())
    unknown = sorted(set(fields) - allowed)
    if unknown:
        msg = f"Unknown or read-only customer field(s): {', '.join(unknown)}."
        raise ServiceError(400, "invalidField", msg)
    for name in _OPTIONAL_STRINGS:
        if name in fields and not (fields[name] is None or isinstance(fields[name], str)):
            raise ServiceError(400, "invalidField", f"Customer field {name} must be a string.")
    if "emailAddress" in fields and not (
        fields["emailAddress"] is None or isinstance(fields["emailAddress"], str)
    ):
        raise ServiceError(400, "invalidField", "Customer field emailAddress must be a string.")
    if "status" in fields and fields["status"] not in CODE_STATUS:
        raise ServiceError(
            400, "invalidField", "Customer status must be active, inactive or deleted."
        )
    if "isAnonymous" in fields and not isinstance(fields["isAnonymous"], bool):
        raise ServiceError(400, "invalidField", "Customer field isAnonymous must be true or false.")
    for name in ("createDate", "updateDate"):
        if name in fields and not isinstance(fields[name], str):
            raise ServiceError(400, "invalidField", f"Customer field {name} must be an ISO string.")
