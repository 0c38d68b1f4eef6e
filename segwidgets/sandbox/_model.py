"""``SandboxModel``: the whole state of an emulated Shopgate merchant, in plain Python.

No HTTP here: every service call is a method that takes parsed arguments and returns the
JSON-ready answer body (or raises ``ServiceError``). The clock is injectable, so token expiry
and the delay of member DELETEs can be tested without sleeping. Every public method holds
one re-entrant lock, so the HTTP server thread and a test or notebook thread can share a
model.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._secrets import Secret
from ._answers import customers_json
from ._customers import CustomerTable
from ._faults import CallKind, Faults
from ._member_body import MemberIds
from ._member_keys import MemberKeys
from ._rules import parse_rule
from ._seed import CODE_STATUS, SeedCustomers, code_of, iso_time, seed_segments
from ._segments import (
    SEGMENT_STATUSES,
    SEGMENT_TYPES,
    Segment,
    check_code,
    parse_new_segment,
    parse_segment_update,
)
from ._service_error import ServiceError
from ._settings import EmailFilter, Settings
from ._store import Snapshot, SqliteStore
from ._tokens import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
    Account,
    TokenStore,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["DEFAULT_LIMIT", "MemberWindow", "SandboxModel"]

#: Page size of list calls that come without ``limit``.
DEFAULT_LIMIT = 100

_CUSTOMER_FILTERS = frozenset(
    {"id", "emailAddress", "externalCustomerNumber", "isAnonymous", "status"}
)
_SEGMENT_FILTERS = frozenset({"code", "name", "type", "status"})
_MEMBER_FILTERS = frozenset({"id", "type"})
_SEED_EPOCH = 1704067200.0  # 2024-01-01T00:00:00Z: create/update date of seed segments
#: Customer filter fields that take ``{"$in": [...]}`` in the model (the HTTP layer decides
#: which of them a server allows).
_IN_FIELDS = frozenset({"id", "emailAddress"})

#: A place in the member order: a customer's member key, or a device member's id
#: (device members come after every customer member).
MemberPosition = int | str


@dataclass(frozen=True)
class MemberWindow:
    """A run of a segment's members in member order, and what the whole list holds."""

    #: Customer member ids of the run, in order.
    customer_ids: list[str]
    #: Device member ids of the run, in order (after the customers).
    device_ids: list[str]
    #: Position of the run's last member, or ``None`` when it is empty.
    last: MemberPosition | None
    #: Whether members follow the run.
    more: bool
    #: Members listed (those matching the filter), pending deletes and devices included.
    total: int
    #: Of ``total``, the customer members whose DELETE is accepted but not applied yet.
    pending: int


def _invalid_param(name: str, message: str) -> ServiceError:
    return ServiceError(400, "invalidParameter", f"Query parameter {name}: {message}")


class SandboxModel:
    """An emulated merchant: customers, segments, members, tokens and the knobs.

    ``customers`` seeded customers are derived from ``seed`` (see ``segwidgets.sandbox._seed``),
    with the seed segments ``newsletter``, ``vip`` (fixed) and ``inactive-gmail`` (dynamic).
    With ``db`` the state lives in that SQLite file and survives a restart (an existing file
    is loaded as it is; ``customers`` and ``seed`` apply only when it is new).
    """

    def __init__(
        self,
        *,
        customers: int = 5000,
        seed: int = 1,
        merchant: str = "DEMO",
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str | Secret = SANDBOX_CLIENT_SECRET,
        username: str = SANDBOX_USERNAME,
        password: str | Secret = SANDBOX_PASSWORD,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        db: str | Path | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._settings = settings if settings is not None else Settings()
        self.merchant = merchant
        self.tokens = TokenStore(
            Account(
                merchant=merchant,
                client_id=client_id,
                client_secret=Secret(client_secret),
                username=username,
                password=Secret(password),
            ),
            clock=clock,
        )
        self.faults = Faults(clock=clock, seed=self._settings.fault_seed)
        self._store = SqliteStore(db) if db is not None else None
        self._segments: dict[str, Segment] = {}
        self._heap: list[tuple[float, int, Segment, tuple[int, ...]]] = []
        self._seq = itertools.count(1)
        self._table = CustomerTable(SeedCustomers(seed=seed, count=0), clock=clock)
        snapshot = self._store.load() if self._store is not None else None
        if snapshot is None:
            self._reseed(customers=customers, seed=seed)
        else:
            self._restore(snapshot)

    # -- settings and lifecycle -----------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """The current knobs."""
        return self._settings

    def configure(self, **changes: Any) -> Settings:
        """Change knobs (see ``Settings``); returns the new settings."""
        with self._lock:
            new = self._settings.updated(changes)
            self._settings = new
            if "fault_seed" in changes:
                self.faults.reseed(new.fault_seed)
            return new

    def now(self) -> float:
        """The model's clock."""
        return self._clock()

    @property
    def seed(self) -> int:
        """The seed of the seeded customers."""
        return self._table.seeded.seed

    def reset(self, *, customers: int | None = None, seed: int | None = None) -> None:
        """Back to freshly seeded data (same size and seed unless given).

        Knobs and issued tokens stay; pending deletes and fault counts are cleared and the
        fault draws restart from ``fault_seed``.
        """
        with self._lock:
            self._reseed(
                customers=self._table.seeded.count if customers is None else customers,
                seed=self.seed if seed is None else seed,
            )
            self.faults.reseed(self._settings.fault_seed)

    def close(self) -> None:
        """Close the database, if any."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _reseed(self, *, customers: int, seed: int) -> None:
        if not isinstance(customers, int) or isinstance(customers, bool) or customers < 0:
            msg = f"customers must be an integer >= 0, not {customers!r}"
            raise ValueError(msg)
        if not isinstance(seed, int) or isinstance(seed, bool):
            msg = f"seed must be an integer, not {seed!r}"
            raise ValueError(msg)
        seeded = SeedCustomers(seed=seed, count=customers)
        self._table = CustomerTable(seeded, clock=self._clock)
        self._segments.clear()
        self._heap.clear()
        if self._store is not None:
            self._store.replace_all(seed=seed, count=customers)
        for group in seeded.shared_email_groups():
            email = seeded.email(group[0])
            for position, index in enumerate(group[1:], start=1):
                # Distinct update dates, so "the most recently updated" is decidable.
                updated = iso_time(seeded.dates(index)[1] + 3600 * position)
                self._update_customer(index, {"emailAddress": email, "updateDate": updated})
        stamp = iso_time(_SEED_EPOCH)
        for spec in seed_segments(seeded):
            segment = Segment(
                code=spec.code,
                name=spec.name,
                description=spec.description,
                type=spec.type,
                status="active",
                rules=None if spec.rules is None else parse_rule(spec.rules),
                external_update_date=None,
                create_date=stamp,
                update_date=stamp,
                members=MemberKeys(seeded.keys_of(spec.members)),
            )
            self._segments[segment.code] = segment
            self._save_segment(segment)
            if self._store is not None and segment.members:
                self._store.add_members(segment.code, segment.members)

    def _restore(self, snapshot: Snapshot) -> None:
        self._table = CustomerTable(
            SeedCustomers(seed=snapshot.seed, count=snapshot.count), clock=self._clock
        )
        for index, record in snapshot.customers.items():
            self._table.restore(index, record)
        for data in snapshot.segments:
            segment = Segment(
                code=data["code"],
                name=data["name"],
                description=data["description"],
                type=data["type"],
                status=data["status"],
                rules=None if data["rules"] is None else parse_rule(data["rules"]),
                external_update_date=data["externalUpdateDate"],
                create_date=data["createDate"],
                update_date=data["updateDate"],
                members=MemberKeys(snapshot.members.get(data["code"], ())),
            )
            self._segments[segment.code] = segment
        self._seq = itertools.count(snapshot.next_seq + 1)
        for row in snapshot.pending:
            owner = self._segments.get(row.code)
            if owner is None or row.key not in owner.members:
                continue
            owner.pending[row.key] = row.seq
            if row.apply_at is not None:
                heapq.heappush(self._heap, (row.apply_at, row.seq, owner, (row.key,)))

    # -- faults ---------------------------------------------------------------------------
    def before_call(self, *, kind: CallKind, merchant: str | None) -> ServiceError | None:
        """The injected 429/5xx (or rate-limit 429) for this call, if any."""
        with self._lock:
            return self.faults.before_call(self._settings, kind=kind, merchant=merchant)

    def lose_response(self) -> bool:
        """Whether to drop the answer to a member write that was just applied."""
        with self._lock:
            return self.faults.lose_response(self._settings)

    # -- auth -----------------------------------------------------------------------------
    def issue_token(self, *, authorization: str | None, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /auth/oauth/token``."""
        with self._lock:
            return self.tokens.issue(
                authorization=authorization, form=form, ttl=self._settings.token_ttl
            )

    def authenticate(self, authorization: str | None, merchant: str) -> None:
        """Accept a bearer token for ``merchant`` or raise 401/403."""
        with self._lock:
            self.tokens.check(authorization, merchant)

    # -- customers ------------------------------------------------------------------------
    def _page(self, limit: int | None, offset: int | None) -> tuple[int, int]:
        if limit is None:
            limit = DEFAULT_LIMIT
        if limit < 1:
            raise _invalid_param("limit", "must be >= 1.")
        if offset is None:
            offset = 0
        if offset < 0:
            raise _invalid_param("offset", "must be >= 0.")
        return limit, offset

    def list_customers(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        filters: Mapping[str, Any] | None = None,
        email_match: EmailFilter = "exact",
    ) -> dict[str, Any]:
        """``GET customers``: equality and ``$in`` filters, offset pages, in creation order.

        ``email_match`` says how ``emailAddress`` compares (the HTTP layer passes its knob).
        """
        with self._lock:
            page, meta = self._customer_page(limit, offset, filters, email_match)
            return {"customers": [self._table.record(i) for i in page], "meta": meta}

    def list_customers_json(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        filters: Mapping[str, Any] | None = None,
        email_match: EmailFilter = "exact",
    ) -> bytes:
        """``list_customers`` as the JSON bytes of its HTTP answer (see ``_answers``)."""
        with self._lock:
            page, meta = self._customer_page(limit, offset, filters, email_match)
            return customers_json(self._table.records_json(page), meta)

    def _customer_page(
        self,
        limit: int | None,
        offset: int | None,
        filters: Mapping[str, Any] | None,
        email_match: EmailFilter,
    ) -> tuple[Sequence[int], dict[str, Any]]:
        limit, offset = self._page(limit, offset)
        matches = self._match_customers({} if filters is None else filters, email_match)
        meta = {"limit": limit, "offset": offset, "totalItemCount": len(matches)}
        return matches[offset : offset + limit], meta

    def _match_customers(
        self, filters: Mapping[str, Any], email_match: EmailFilter = "exact"
    ) -> list[int] | range:
        if not isinstance(filters, Mapping):
            raise _invalid_param("filters", "must be a JSON object.")
        unknown = sorted(set(filters) - _CUSTOMER_FILTERS)
        if unknown:
            raise _invalid_param(
                "filters",
                f"unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_CUSTOMER_FILTERS))}.",
            )
        for name, value in filters.items():
            if name == "isAnonymous":
                if not isinstance(value, bool):
                    raise _invalid_param("filters", "isAnonymous must be true or false.")
            elif name in _IN_FIELDS and isinstance(value, Mapping):
                _in_values(name, value)
            elif not isinstance(value, str):
                raise _invalid_param("filters", f"{name} must be a string.")
        if "status" in filters and filters["status"] not in CODE_STATUS:
            raise _invalid_param("filters", "status must be active, inactive or deleted.")
        table = self._table
        candidates: list[int] | None = None
        wanted = {name: _wanted(filters[name]) for name in _IN_FIELDS if name in filters}
        if email_match == "insensitive" and "emailAddress" in wanted:
            wanted["emailAddress"] = {e.lower() for e in wanted["emailAddress"]}
        if "id" in wanted:
            found = (table.index_of(i) for i in wanted["id"])
            candidates = sorted({i for i in found if i is not None})
        elif "emailAddress" in wanted:
            candidates = sorted({i for e in wanted["emailAddress"] for i in table.find_by_email(e)})
        elif "externalCustomerNumber" in filters:
            candidates = table.find_by_external(filters["externalCustomerNumber"])
        if candidates is None:
            statuses = [filters["status"]] if "status" in filters else list(CODE_STATUS)
            guests = [filters["isAnonymous"]] if "isAnonymous" in filters else [False, True]
            return table.with_codes(frozenset(code_of(s, g) for s in statuses for g in guests))
        fold = email_match == "insensitive"

        def value_of(index: int, name: str) -> Any:
            value = table.field(index, name)
            return (value or "").lower() if fold and name == "emailAddress" else value

        return [
            i
            for i in candidates
            if all(
                value_of(i, name) in wanted[name] if name in wanted else table.field(i, name) == v
                for name, v in filters.items()
            )
        ]

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        """``GET customers/{id}``: ``{"customer": {...}}``; 404 if unknown."""
        with self._lock:
            return {"customer": self._table.record(self._customer_index(customer_id))}

    def _customer_index(self, customer_id: str) -> int:
        index = self._table.index_of(customer_id)
        if index is None:
            raise ServiceError(404, "notFound", "There is no customer with this id.")
        return index

    def customers(self) -> Iterator[dict[str, Any]]:
        """Every customer as a dict, in creation order (a snapshot taken lazily: do not
        change the model while iterating)."""
        return self._table.iter_records()

    def customers_frame(self) -> pl.DataFrame:
        """Every customer as a polars DataFrame (scalar fields only)."""
        import polars as pl

        columns = (
            "id",
            "externalCustomerNumber",
            "firstName",
            "middleName",
            "lastName",
            "emailAddress",
            "status",
            "isAnonymous",
            "createDate",
            "updateDate",
        )
        with self._lock:
            rows = [tuple(r[c] for c in columns) for r in self._table.iter_records()]
        schema = {c: (pl.Boolean if c == "isAnonymous" else pl.String) for c in columns}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def add_customer(self, **fields: Any) -> dict[str, Any]:
        """Add a customer (tests and notebooks); returns the stored record."""
        with self._lock:
            index = self._table.add(fields)
            self._save_customer(index)
            return self._table.record(index)

    def update_customer(self, customer_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields of a customer (tests and notebooks); returns the new record."""
        with self._lock:
            index = self._customer_index(customer_id)
            self._update_customer(index, fields)
            return self._table.record(index)

    def _update_customer(self, index: int, fields: Mapping[str, Any]) -> None:
        self._table.update(index, fields)
        self._save_customer(index)

    def _save_customer(self, index: int) -> None:
        if self._store is not None:
            self._store.put_customer(index, self._table.explicit[index])

    # -- segments -------------------------------------------------------------------------
    def _segment(self, code: str) -> Segment:
        self._apply_due()
        segment = self._segments.get(code)
        if segment is None:
            raise ServiceError(404, "notFound", "There is no segment with this code.")
        return segment

    def _fixed_segment(self, code: str) -> Segment:
        segment = self._segment(code)
        if not segment.is_fixed:
            raise ServiceError(
                400,
                "segmentNotFixed",
                "This segment is dynamic: its members follow its rules and cannot be edited. "
                "Only fixed segments have an editable member list.",
            )
        return segment

    def _member_keys(self, segment: Segment) -> MemberKeys:
        if segment.rules is None:
            return segment.members
        version = self._table.version
        if segment.cache is None or segment.cache[0] != version:
            keys = MemberKeys(self._table.keys_of(segment.rules.select(self._table)))
            segment.cache = (version, keys)
        return segment.cache[1]

    def _segment_json(self, segment: Segment) -> dict[str, Any]:
        return segment.to_json(len(self._member_keys(segment)) + len(segment.devices))

    def list_segments(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``GET segments``: equality filters on code, name, type, status."""
        with self._lock:
            self._apply_due()
            limit, offset = self._page(limit, offset)
            filters = {} if filters is None else filters
            if not isinstance(filters, Mapping):
                raise _invalid_param("filters", "must be a JSON object.")
            unknown = sorted(set(filters) - _SEGMENT_FILTERS)
            if unknown:
                raise _invalid_param(
                    "filters",
                    f"unknown key(s) {', '.join(unknown)}; use code, name, type or status.",
                )
            if any(not isinstance(v, str) for v in filters.values()):
                raise _invalid_param("filters", "values must be strings.")
            if filters.get("type", "fixed") not in SEGMENT_TYPES:
                raise _invalid_param("filters", "type must be fixed or dynamic.")
            if filters.get("status", "active") not in SEGMENT_STATUSES:
                raise _invalid_param("filters", "status must be active or inactive.")
            matches = [
                s
                for s in self._segments.values()
                if all(getattr(s, k) == v for k, v in filters.items())
            ]
            return {
                "segments": [self._segment_json(s) for s in matches[offset : offset + limit]],
                "meta": {"limit": limit, "offset": offset, "totalItemCount": len(matches)},
            }

    def get_segment(self, code: str) -> dict[str, Any]:
        """``GET segments/{code}``: ``{"segment": {...}}``."""
        with self._lock:
            return {"segment": self._segment_json(self._segment(code))}

    def create_segments(self, body: Any) -> None:
        """``POST segments``: all or nothing; 409 if a code exists."""
        with self._lock:
            self._apply_due()
            if not isinstance(body, Mapping) or set(body) != {"segments"}:
                raise ServiceError(400, "invalidBody", 'The body must be {"segments": [...]}.')
            entries = body["segments"]
            if not isinstance(entries, list) or not entries:
                raise ServiceError(400, "invalidBody", "'segments' must be a non-empty list.")
            if len(entries) > 100:
                raise ServiceError(400, "invalidBody", "At most 100 segments per request.")
            parsed = [parse_new_segment(e) for e in entries]
            codes = [p["code"] for p in parsed]
            if len(set(codes)) != len(codes):
                raise ServiceError(400, "invalidBody", "The same segment code is given twice.")
            taken = [c for c in codes if c in self._segments]
            if taken:
                raise ServiceError(
                    409,
                    "segmentExists",
                    f"{len(taken)} segment code(s) already exist; nothing was created.",
                    errors=[
                        {"segmentCode": c, "code": "segmentExists", "message": "Code in use."}
                        for c in taken
                    ],
                )
            member_keys = [
                self._valid_member_keys({"members": p["members"]}) if p["has_members"] else []
                for p in parsed
            ]
            for p, keys in zip(parsed, member_keys, strict=True):
                stamp = iso_time(self._clock())
                segment = Segment(
                    code=p["code"],
                    name=p["name"],
                    description=p["description"],
                    type=p["type"],
                    status=p["status"],
                    rules=p["rules"],
                    external_update_date=p["externalUpdateDate"],
                    create_date=stamp,
                    update_date=stamp,
                    members=MemberKeys(keys),
                )
                self._segments[segment.code] = segment
                self._save_segment(segment)
                if self._store is not None and keys:
                    self._store.add_members(segment.code, keys)

    def update_segment(self, code: str, body: Any) -> None:
        """``POST segments/{code}``: partial update."""
        with self._lock:
            segment = self._segment(code)
            changes = parse_segment_update(segment, body)
            for name, value in changes.items():
                attribute = {"externalUpdateDate": "external_update_date"}.get(name, name)
                setattr(segment, attribute, value)
            if "rules" in changes:
                segment.cache = None
            segment.update_date = iso_time(self._clock())
            self._save_segment(segment)

    def delete_segment(self, code: str) -> None:
        """``DELETE segments/{code}``: accepted (202) and applied at once."""
        with self._lock:
            self._segment(code)
            del self._segments[code]
            if self._store is not None:
                self._store.delete_segment(code)

    def clone_segment(self, code: str, body: Any) -> None:
        """``POST segments/{code}/clone``: a copy under ``newSegmentCode`` (202, at once).

        The copy has the source's fields and its members minus those with a pending delete.
        """
        with self._lock:
            source = self._segment(code)
            if not isinstance(body, Mapping) or set(body) != {"newSegmentCode"}:
                raise ServiceError(
                    400, "invalidBody", 'The body must be {"newSegmentCode": "..."}.'
                )
            new_code = check_code(body["newSegmentCode"], name="newSegmentCode")
            if new_code in self._segments:
                raise ServiceError(409, "segmentExists", "A segment with that code already exists.")
            stamp = iso_time(self._clock())
            keys = [k for k in source.members if k not in source.pending]
            clone = Segment(
                code=new_code,
                name=source.name,
                description=source.description,
                type=source.type,
                status=source.status,
                rules=source.rules,
                external_update_date=source.external_update_date,
                create_date=stamp,
                update_date=stamp,
                members=MemberKeys(keys),
            )
            self._segments[new_code] = clone
            self._save_segment(clone)
            if self._store is not None and keys:
                self._store.add_members(new_code, keys)

    def _save_segment(self, segment: Segment) -> None:
        if self._store is not None:
            self._store.put_segment(segment.meta_json())

    # -- members --------------------------------------------------------------------------
    def member_window(
        self,
        code: str,
        *,
        limit: int | None = None,
        start: int | None = None,
        after: MemberPosition | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> MemberWindow:
        """Members of ``code`` in member order: customers by id, then devices by id.

        The run starts at position ``start`` (offset pages) or just after the member at
        ``after`` (cursor pages; a position need not be a member any more), and holds up
        to ``limit`` members. ``filters``: ``{"id": ...}`` (a string or ``{"$in": [...]}``)
        and ``{"type": "customer" | "device"}``.
        """
        with self._lock:
            segment = self._segment(code)
            limit, start = self._page(limit, start)
            keys, devices = self._member_keys(segment), segment.devices
            if filters is not None:
                keys, devices = self._filter_members(keys, devices, filters)
            if after is None or isinstance(after, int):
                if after is None:
                    first, more_keys = keys.window(start, limit), start + limit < len(keys)
                else:
                    first, more_keys = keys.page(after, limit)
                device_start = 0 if after is not None else max(0, start - len(keys))
            else:
                first, more_keys = [], False
                device_start = bisect.bisect_right(devices, after)
            room = limit - len(first)
            run = devices[device_start : device_start + room] if not more_keys else []
            more = more_keys or device_start + len(run) < len(devices)
            last: MemberPosition | None = run[-1] if run else (first[-1] if first else None)
            pending = segment.pending
            if filters is None:
                n_pending = len(pending)
            elif len(keys) < len(pending):
                # a filtered page names a few members: looked up in the pending deletes
                # (a push's removals pending would otherwise be walked on every lookup)
                n_pending = sum(1 for k in keys if k in pending)
            else:
                n_pending = sum(1 for k in pending if k in keys)
            return MemberWindow(
                customer_ids=self._table.ids_of_keys(first),
                device_ids=list(run),
                last=last,
                more=more,
                total=len(keys) + len(devices),
                pending=n_pending,
            )

    def _filter_members(
        self, keys: MemberKeys, devices: list[str], filters: Mapping[str, Any]
    ) -> tuple[MemberKeys, list[str]]:
        if not isinstance(filters, Mapping):
            raise _invalid_param("filters", "must be a JSON object.")
        unknown = sorted(set(filters) - _MEMBER_FILTERS)
        if unknown:
            raise _invalid_param("filters", f"unknown key(s) {', '.join(unknown)}; use id or type.")
        if "type" in filters:
            kind = filters["type"]
            if kind not in ("customer", "device"):
                raise _invalid_param("filters", "type must be customer or device.")
            if kind == "customer":
                devices = []
            else:
                keys = MemberKeys()
        if "id" in filters:
            value = filters["id"]
            if isinstance(value, Mapping):
                _in_values("id", value)
            elif not isinstance(value, str):
                raise _invalid_param("filters", "id must be a string.")
            wanted = _wanted(value)
            found = (self._table.index_of(i) for i in wanted)
            named = {self._table.key_of(i) for i in found if i is not None}
            keys = MemberKeys(keys.present(named))
            devices = [d for d in devices if d in wanted]
        return keys, devices

    def add_device_members(self, code: str, device_ids: Iterable[str]) -> int:
        """Make devices members of a fixed segment (tests only: no API call adds them).

        Device members are listed after the customer members and counted in
        ``totalItemCount``; they are not kept in the database. Returns the device count.
        """
        with self._lock:
            segment = self._fixed_segment(code)
            ids = list(device_ids)
            if not all(isinstance(i, str) and i for i in ids):
                msg = "device ids must be non-empty strings"
                raise ValueError(msg)
            segment.devices = sorted(set(segment.devices) | set(ids))
            return len(segment.devices)

    def _member_ids(self, body: Any, *, verb: str) -> list[str] | None:
        """After the body and size checks of a write (400, 413): the ids of its items if
        every item is exactly ``{"id": <str>, "type": "customer"}``, else ``None`` (then
        ``_member_items`` gives the items to check one by one).

        ``body`` is the parsed JSON, or ``MemberIds`` when the HTTP layer could read it
        without a parser (see ``_member_body``).
        """
        if isinstance(body, MemberIds):
            self._check_batch_size(len(body.ids), verb=verb)
            return body.ids
        items = self._member_items(body)
        self._check_batch_size(len(items), verb=verb)
        return _well_formed_ids(items)

    @staticmethod
    def _member_items(body: Any) -> list[Any]:
        """The ``members`` list of a write (400 unless a non-empty list)."""
        if isinstance(body, MemberIds):
            return body.to_body()["members"]
        if not isinstance(body, Mapping) or set(body) != {"members"}:
            raise ServiceError(
                400,
                "invalidBody",
                'The body must be {"members": [{"id": "<customer id>", "type": "customer"}]}.',
            )
        items = body["members"]
        if not isinstance(items, list) or not items:
            raise ServiceError(400, "invalidBody", "'members' must be a non-empty list.")
        return items

    def _check_batch_size(self, size: int, *, verb: str) -> None:
        limit = self._settings.max_members_per_request
        if size > limit:
            raise ServiceError(
                413,
                "payloadTooLarge",
                f"A request may {verb} at most {limit} members; this one has {size}. "
                "Split it into smaller batches.",
            )

    def _reject(self, items: list[Any], errors: list[dict[str, Any]]) -> ServiceError:
        errors.sort(key=lambda e: e["entityIndex"])
        return ServiceError(
            400,
            "invalidMembers",
            f"{len(errors)} of {len(items)} members were rejected; nothing was applied.",
            errors=errors if self._settings.item_errors else None,
        )

    def _valid_member_keys(self, body: Any) -> list[int]:
        """Keys of a batch to add; any bad item rejects the whole batch (400)."""
        keys, refused, items = self._split_member_keys(body)
        if refused:
            raise self._reject(items, refused)
        return keys

    def _split_member_keys(self, body: Any) -> tuple[list[int], list[dict[str, Any]], list[Any]]:
        """Keys of a batch to add, the items refused (unknown or deleted customers), and
        the items (empty on the fast path). A malformed item rejects the batch (400)."""
        ids = self._member_ids(body, verb="add")
        keys = None if ids is None else self._table.keys_of_ids(ids)
        if keys is not None and self._table.deleted_keys().isdisjoint(keys):
            return keys, [], []
        items = self._member_items(body)
        errors = _shape_errors(items)
        if errors:
            raise self._reject(items, list(errors.values()))
        keys = []
        refused: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            index = self._table.index_of(item["id"])
            if index is None or self._table.is_deleted(index):
                refused.append(
                    _item_error(
                        position,
                        item["id"],
                        "unknownCustomer",
                        "There is no customer with this id."
                        if index is None
                        else "This customer is deleted.",
                    )
                )
            else:
                keys.append(self._table.key_of(index))
        return keys, refused, items

    def add_members(
        self, code: str, body: Any, *, all_or_nothing: bool = False
    ) -> list[dict[str, Any]]:
        """``POST segments/{code}/members`` (201).

        Unknown and deleted customers are refused: returned as Shopgate's per-item errors
        (``{code, entity, entityId, entityIndex, reason, subentityPath}``) while the other
        items are applied, or with ``all_or_nothing`` a 400 that applies nothing.
        """
        with self._lock:
            segment = self._fixed_segment(code)
            keys, refused, items = self._split_member_keys(body)
            if refused and all_or_nothing:
                raise self._reject(items, refused)
            if self._settings.duplicate_add == "conflict":
                present = sorted(
                    {k for k in segment.members.present(keys) if k not in segment.pending}
                )
                if present:
                    raise ServiceError(
                        409,
                        "alreadyMember",
                        f"{len(present)} of the members are already in the segment; "
                        "nothing was applied.",
                        errors=[
                            {"id": i, "code": "alreadyMember", "message": "Already a member."}
                            for i in self._table.ids_of_keys(present)
                        ]
                        if self._settings.item_errors
                        else None,
                    )
            self._add_keys(segment, keys)
            return refused

    def _add_keys(self, segment: Segment, keys: list[int]) -> None:
        pending = segment.pending
        revived = [key for key in set(keys) if key in pending] if pending else []
        for key in revived:
            del pending[key]
        segment.members.add(keys)
        if self._store is not None:
            self._store.add_members(segment.code, keys)  # keys that are members already: ignored
            self._store.drop_pending(segment.code, revived)

    def remove_members(
        self, code: str, body: Any, *, all_or_nothing: bool = False
    ) -> list[dict[str, Any]]:
        """``DELETE segments/{code}/members`` (202): applied after ``delete_delay``.

        Ids that are customers but not members are ignored. Ids that are no customer's
        are refused (returned as per-item errors, or with ``all_or_nothing`` a 400 that
        applies nothing).
        """
        with self._lock:
            segment = self._fixed_segment(code)
            keys, refused, items = self._keys_to_remove(segment, body)
            if refused and all_or_nothing:
                raise self._reject(items, refused)
            if not keys:
                return refused
            seq = next(self._seq)
            delay = self._settings.delete_delay
            apply_at = None if delay is None else self._clock() + delay
            if self._store is not None:
                self._store.put_pending(code, keys, seq=seq, apply_at=apply_at)
            if delay == 0:
                # Due at once: what scheduling it and applying everything due would do
                # (after the older due deletes, whose keys are not these), minus the round
                # trip through ``pending``.
                self._apply_due()
                self._drop_members(segment, keys)
                return refused
            segment.pending.update(dict.fromkeys(keys, seq))
            if apply_at is not None:
                heapq.heappush(self._heap, (apply_at, seq, segment, keys))
            self._apply_due()
            return refused

    def _keys_to_remove(
        self, segment: Segment, body: Any
    ) -> tuple[tuple[int, ...], list[dict[str, Any]], list[Any]]:
        """The distinct members a DELETE names that have no pending delete yet, the items
        refused (ids of no customer) and the items (empty on the fast path)."""
        ids = self._member_ids(body, verb="remove")
        found = None if ids is None else self._table.keys_of_ids(ids)
        refused: list[dict[str, Any]] = []
        items: list[Any] = []
        if found is None:
            items = self._member_items(body)
            named, refused = self._customer_keys(items)
        else:
            named = found
        targets = segment.members.present(named)
        if segment.pending:
            # Filtered by lookups in ``pending``: ``targets -= pending.keys()`` would walk
            # every pending delete (up to a whole push's removals) on each request.
            return (
                tuple(itertools.filterfalse(segment.pending.__contains__, targets)),
                refused,
                items,
            )
        return tuple(targets), refused, items

    def _customer_keys(self, items: list[Any]) -> tuple[list[int], list[dict[str, Any]]]:
        """Keys of the items that name a customer, and the items that name none (400 if
        any item is malformed)."""
        errors = _shape_errors(items)
        if errors:
            raise self._reject(items, list(errors.values()))
        keys: list[int] = []
        refused: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            index = self._table.index_of(item["id"])
            if index is not None:
                keys.append(self._table.key_of(index))
            else:
                refused.append(
                    _item_error(
                        position,
                        item["id"],
                        "unknownCustomer",
                        "There is no customer with this id.",
                    )
                )
        return keys, refused

    def _apply_due(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            _, seq, segment, keys = heapq.heappop(self._heap)
            if self._segments.get(segment.code) is not segment:
                continue
            pending = segment.pending
            gone = [k for k in keys if pending.get(k) == seq]
            if len(gone) == len(pending):
                pending.clear()  # the usual case, at a tenth of the cost of deleting one by one
            else:
                for key in gone:
                    del pending[key]
            self._drop_members(segment, gone)

    def _drop_members(self, segment: Segment, keys: Sequence[int]) -> None:
        """Apply an accepted DELETE of ``keys`` (distinct, none of them pending any more)."""
        segment.members.remove(keys)
        if self._store is not None and keys:
            self._store.remove_members(segment.code, keys)

    def add_members_by_filter(self, code: str, body: Any) -> None:
        """``POST segments/{code}/members/addByFilter`` (202, applied at once).

        Adds every non-deleted customer the filter matches (guests too, unless the filter
        says ``"customer.isAnonymous": false``); existing members are skipped.
        """
        with self._lock:
            segment = self._fixed_segment(code)
            if not isinstance(body, Mapping) or set(body) != {"filter"}:
                raise ServiceError(400, "invalidBody", 'The body must be {"filter": {...}}.')
            rule = parse_rule(body["filter"], what="filter")
            limit = self._settings.max_members_per_request
            if rule.size > limit:
                raise ServiceError(
                    413,
                    "payloadTooLarge",
                    f"A filter may list at most {limit} values; this one has {rule.size}. "
                    "Split it into smaller batches.",
                )
            indices = rule.select(self._table)
            self._add_keys(segment, self._table.keys_of(indices))

    def customer_segments(self, customer_id: str) -> dict[str, Any]:
        """``GET customers/{id}/segments`` (segmentation service): the segments that
        currently count the customer as a member."""
        with self._lock:
            self._apply_due()
            index = self._customer_index(customer_id)
            key = self._table.key_of(index)
            found = [
                self._segment_json(s)
                for s in self._segments.values()
                if key in self._member_keys(s)
            ]
            return {"segments": found}

    def members_search(
        self, *, rules: Any, limit: int | None = None, offset: int | None = None
    ) -> dict[str, Any]:
        """``GET membersSearch``: who a rule set would select (a preview, nothing stored)."""
        with self._lock:
            limit, offset = self._page(limit, offset)
            rule = parse_rule(rules)
            indices = rule.select(self._table)
            return {
                "members": [
                    {"id": self._table.field(i, "id"), "type": "customer"}
                    for i in indices[offset : offset + limit]
                ],
                "meta": {"limit": limit, "offset": offset, "totalItemCount": len(indices)},
            }

    # -- direct access for tests and notebooks --------------------------------------------
    def member_ids(self, code: str) -> set[str]:
        """Customer ids ``GET members`` shows now (members with a pending delete included;
        device members left out)."""
        with self._lock:
            segment = self._segment(code)
            return set(self._table.ids_of_keys(list(self._member_keys(segment))))

    def pending_delete_ids(self, code: str) -> set[str]:
        """Ids whose DELETE was accepted but not applied yet."""
        with self._lock:
            segment = self._segment(code)
            return set(self._table.ids_of_keys(list(segment.pending)))

    def segment_codes(self) -> list[str]:
        """Codes of every segment, in creation order."""
        with self._lock:
            return list(self._segments)

    def fill_segment(self, code: str, customer_ids: Iterable[str] | None = None) -> int:
        """Make existing customers members of a fixed segment at once (tests, benchmarks).

        ``None`` adds every non-deleted customer. Returns the number of members after.
        """
        with self._lock:
            segment = self._fixed_segment(code)
            if customer_ids is None:
                live = self._table.with_codes(frozenset({0, 1, 3, 4}))
                keys = self._table.keys_of(live)
            else:
                keys = self._valid_member_keys(
                    {"members": [{"id": c, "type": "customer"} for c in customer_ids]}
                )
            if not segment.members and not segment.pending:
                segment.members = MemberKeys(keys)
                if self._store is not None:
                    self._store.add_members(code, segment.members)
            else:
                self._add_keys(segment, keys)
            return len(segment.members)

    def seed_records(
        self,
        *,
        customers: Iterable[Mapping[str, Any]] = (),
        segments: Iterable[Mapping[str, Any]] = (),
    ) -> dict[str, list[str]]:
        """Add explicit customers, then segments (``POST segments`` entries, whose
        ``members`` may be a list of customer ids). Returns the new ids and codes."""
        with self._lock:
            ids = [self.add_customer(**dict(c))["id"] for c in customers]
            entries = []
            for entry in segments:
                data = dict(entry)
                members = data.get("members")
                if isinstance(members, list):
                    data["members"] = [
                        {"id": m, "type": "customer"} if isinstance(m, str) else m for m in members
                    ]
                entries.append(data)
            if entries:
                self.create_segments({"segments": entries})
            return {"customers": ids, "segments": [str(e.get("code")) for e in entries]}

    def state(self) -> dict[str, Any]:
        """Counts per segment, pending deletes, knobs, tokens and injected faults."""
        with self._lock:
            self._apply_due()
            segments = {
                code: {
                    "type": s.type,
                    "status": s.status,
                    "memberCount": len(self._member_keys(s)) + len(s.devices),
                    "pendingDeletes": len(s.pending),
                }
                for code, s in self._segments.items()
            }
            return {
                "merchant": self.merchant,
                "seed": self.seed,
                "customers": len(self._table),
                "segments": segments,
                "pendingDeletes": sum(len(s.pending) for s in self._segments.values()),
                "settings": self._settings.to_dict(),
                "tokens": {"issued": self.tokens.issued, "live": self.tokens.live},
                "faults": dict(self.faults.counts),
                "clock": self._clock(),
            }


def _item_error(position: int, member_id: Any, code: str, reason: str) -> dict[str, Any]:
    """One per-item error in the platform's batch-route shape."""
    return {
        "code": code,
        "entity": "member",
        "entityId": member_id,
        "entityIndex": position,
        "reason": reason,
        "subentityPath": "",
    }


def _in_values(name: str, value: Mapping[str, Any]) -> list[str]:
    """The values of ``{"$in": [...]}`` (strings only), or a 400."""
    values = value.get("$in")
    if set(value) != {"$in"} or not isinstance(values, list):
        raise _invalid_param("filters", f'{name} takes a string or {{"$in": [strings]}}.')
    if not all(isinstance(v, str) for v in values):
        raise _invalid_param("filters", f"the $in list of {name} must hold strings.")
    return values


def _wanted(value: Any) -> set[str]:
    """The values a filter field accepts: one string, or those of its ``$in``."""
    return set(value["$in"]) if isinstance(value, Mapping) else {value}


def _well_formed_ids(items: list[Any]) -> list[str] | None:
    """The ids of a batch whose items are all exactly ``{"id": <str>, "type": "customer"}``,
    or ``None`` (then ``_shape_errors`` names the items that are not).

    The fast path of every member write: exact type tests (JSON gives plain ``dict`` and
    ``str``) cost a third of ``_shape_errors``'s ``isinstance``/``Mapping`` checks.
    """
    for item in items:
        if type(item) is not dict or len(item) != 2 or item.get("type") != "customer":
            return None
    ids = [item.get("id") for item in items]
    if set(map(type, ids)) != {str}:
        return None
    return ids


def _shape_errors(items: list[Any]) -> dict[int, dict[str, Any]]:
    """Per-position errors of malformed items and of member types other than customer."""
    errors: dict[int, dict[str, Any]] = {}
    for position, item in enumerate(items):
        if (
            not isinstance(item, Mapping)
            or set(item) - {"id", "type"}
            or not isinstance(item.get("id"), str)
            or not isinstance(item.get("type"), str)
        ):
            member_id = item.get("id") if isinstance(item, Mapping) else None
            errors[position] = _item_error(
                position,
                member_id if isinstance(member_id, str) else None,
                "invalidMember",
                'A member is {"id": "<customer id>", "type": "customer"}.',
            )
        elif item["type"] != "customer":
            errors[position] = _item_error(
                position, item["id"], "invalidMemberType", "Member type must be 'customer'."
            )
    return errors
