"""``SandboxModel``: the whole state of an emulated Shopgate merchant, in plain Python.

The model owns Shopgate's rules: which ids are customers, who is a member, what a filter
matches, that a member DELETE is accepted now and applied later, what an unknown or deleted
customer does to a member write. It takes typed input from the request layer
(``_requests``: ``Page``, ``CustomerFilter``, ``MemberFilter``, member ids, ``NewSegment``,
``SegmentUpdate``, a ``Rule``) and returns the JSON-ready answer body, or raises
``ServiceError``; it parses no request and reads none of the behaviour switches of
``_wire`` (a choice among them comes in as an argument, e.g. ``all_or_nothing``).

The clock is injectable, so token expiry and the delay of member DELETEs can be tested
without sleeping. Every public method holds one re-entrant lock, so the HTTP server thread
and a test or notebook thread can share a model. Every change is written through to a
``Store`` (``MemoryStore`` when there is no database).
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
from ._customers import CustomerTable
from ._faults import CallKind, Faults
from ._member_keys import MemberKeys
from ._requests import (
    CustomerFilter,
    MemberFilter,
    NewSegment,
    Page,
    SegmentUpdate,
    new_segments,
)
from ._rules import Rule, parse_rule
from ._seed import CODE_STATUS, SeedCustomers, code_of, iso_time, seed_segments
from ._segments import Segment
from ._service_error import ServiceError, item_error, members_rejected
from ._settings import EmailFilter, Settings
from ._store import MemoryStore, Snapshot, SqliteStore, Store
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

__all__ = ["MemberWindow", "SandboxModel"]

_SEED_EPOCH = 1704067200.0  # 2024-01-01T00:00:00Z: create/update date of seed segments
#: Status/guest codes of customers that are not deleted.
_LIVE_CODES = frozenset({0, 1, 3, 4})

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
        self._store: Store = SqliteStore(db) if db is not None else MemoryStore()
        self._segments: dict[str, Segment] = {}
        self._heap: list[tuple[float, int, Segment, tuple[int, ...]]] = []
        self._seq = itertools.count(1)
        self._table = CustomerTable(SeedCustomers(seed=seed, count=0), clock=clock)
        snapshot = self._store.load()
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
            self._store.close()
            self._store = MemoryStore()

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
    def list_customers(
        self,
        *,
        page: Page = Page(),  # noqa: B008 (frozen)
        filter: CustomerFilter = CustomerFilter(),  # noqa: B008 (the API's name; frozen)
        email_match: EmailFilter = "exact",
    ) -> dict[str, Any]:
        """``GET customers``: equality and ``$in`` filters, offset pages, in creation order.

        ``email_match`` says how ``emailAddress`` compares (``_wire`` passes its switch).
        """
        with self._lock:
            matches = self._match_customers(filter, email_match)
            chosen = matches[page.offset : page.offset + page.limit]
            return {
                "customers": [self._table.record(i) for i in chosen],
                "meta": {
                    "limit": page.limit,
                    "offset": page.offset,
                    "totalItemCount": len(matches),
                },
            }

    def _match_customers(
        self, wanted: CustomerFilter, email_match: EmailFilter = "exact"
    ) -> list[int] | range:
        table = self._table
        fold = email_match == "insensitive"
        emails = wanted.emails
        if fold and emails is not None:
            emails = frozenset(e.lower() for e in emails)
        candidates: list[int] | None = None
        if wanted.ids is not None:
            found = (table.index_of(i) for i in wanted.ids)
            candidates = sorted({i for i in found if i is not None})
        elif emails is not None:
            candidates = sorted({i for e in emails for i in table.find_by_email(e)})
        elif wanted.external_number is not None:
            candidates = table.find_by_external(wanted.external_number)
        if candidates is None:
            statuses = [wanted.status] if wanted.status is not None else list(CODE_STATUS)
            guests = [wanted.is_anonymous] if wanted.is_anonymous is not None else [False, True]
            return table.with_codes(frozenset(code_of(s, g) for s in statuses for g in guests))

        def matches(index: int) -> bool:
            if wanted.ids is not None and table.field(index, "id") not in wanted.ids:
                return False
            if emails is not None:
                email = table.field(index, "emailAddress")
                if (email or "").lower() not in emails if fold else email not in emails:
                    return False
            return all(
                expected is None or table.field(index, name) == expected
                for name, expected in (
                    ("externalCustomerNumber", wanted.external_number),
                    ("status", wanted.status),
                    ("isAnonymous", wanted.is_anonymous),
                )
            )

        return [i for i in candidates if matches(i)]

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
        page: Page = Page(),  # noqa: B008 (frozen)
        filters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``GET segments``: equality filters on code, name, type, status."""
        with self._lock:
            self._apply_due()
            wanted = {} if filters is None else filters
            matches = [
                s
                for s in self._segments.values()
                if all(getattr(s, k) == v for k, v in wanted.items())
            ]
            chosen = matches[page.offset : page.offset + page.limit]
            return {
                "segments": [self._segment_json(s) for s in chosen],
                "meta": {
                    "limit": page.limit,
                    "offset": page.offset,
                    "totalItemCount": len(matches),
                },
            }

    def get_segment(self, code: str) -> dict[str, Any]:
        """``GET segments/{code}``: ``{"segment": {...}}``."""
        with self._lock:
            return {"segment": self._segment_json(self._segment(code))}

    def create_segments(self, entries: Sequence[NewSegment]) -> None:
        """``POST segments``: all or nothing; 409 if a code exists, 400 if a member given
        is no customer's (or a deleted one's)."""
        with self._lock:
            self._apply_due()
            taken = [e.code for e in entries if e.code in self._segments]
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
                [] if e.members is None else self._keys_or_reject(e.members.customer_ids)
                for e in entries
            ]
            for entry, keys in zip(entries, member_keys, strict=True):
                stamp = iso_time(self._clock())
                segment = Segment(
                    code=entry.code,
                    name=entry.name,
                    description=entry.description,
                    type=entry.type,
                    status=entry.status,
                    rules=entry.rules,
                    external_update_date=entry.external_update_date,
                    create_date=stamp,
                    update_date=stamp,
                    members=MemberKeys(keys),
                )
                self._segments[segment.code] = segment
                self._save_segment(segment)
                self._store.add_members(segment.code, keys)

    def update_segment(self, code: str, update: SegmentUpdate) -> None:
        """``POST segments/{code}``: partial update (a fixed segment takes no rules)."""
        with self._lock:
            segment = self._segment(code)
            changes = dict(update.changes)
            if "rules" in changes:
                if segment.is_fixed:
                    if changes["rules"] is not None:
                        raise ServiceError(400, "invalidField", "A fixed segment has no 'rules'.")
                else:
                    changes["rules"] = parse_rule(changes["rules"])
                segment.cache = None
            for name, value in changes.items():
                attribute = {"externalUpdateDate": "external_update_date"}.get(name, name)
                setattr(segment, attribute, value)
            segment.update_date = iso_time(self._clock())
            self._save_segment(segment)

    def delete_segment(self, code: str) -> None:
        """``DELETE segments/{code}``: accepted (202) and applied at once."""
        with self._lock:
            self._segment(code)
            del self._segments[code]
            self._store.delete_segment(code)

    def clone_segment(self, code: str, new_code: str) -> None:
        """``POST segments/{code}/clone``: a copy under ``new_code`` (202, at once).

        The copy has the source's fields and its members minus those with a pending delete.
        """
        with self._lock:
            source = self._segment(code)
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
            self._store.add_members(new_code, keys)

    def _save_segment(self, segment: Segment) -> None:
        self._store.put_segment(segment.meta_json())

    # -- members --------------------------------------------------------------------------
    def member_window(
        self,
        code: str,
        *,
        limit: int,
        start: int = 0,
        after: MemberPosition | None = None,
        filter: MemberFilter | None = None,
    ) -> MemberWindow:
        """Members of ``code`` in member order: customers by id, then devices by id.

        The run starts at position ``start`` (offset pages) or just after the member at
        ``after`` (cursor pages; a position need not be a member any more), and holds up
        to ``limit`` members.
        """
        with self._lock:
            segment = self._segment(code)
            keys, devices = self._member_keys(segment), segment.devices
            # The ids an id filter names, by member key: those listed are written as asked.
            asked: dict[int, str] | None = None
            if filter is not None:
                keys, devices, asked = self._filter_members(keys, devices, filter)
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
            if filter is None:
                n_pending = len(pending)
            elif len(keys) < len(pending):
                # a filtered page names a few members: looked up in the pending deletes
                # (a push's removals pending would otherwise be walked on every lookup)
                n_pending = sum(1 for k in keys if k in pending)
            else:
                n_pending = sum(1 for k in pending if k in keys)
            return MemberWindow(
                customer_ids=(
                    self._table.ids_of_keys(first) if asked is None else [asked[k] for k in first]
                ),
                device_ids=list(run),
                last=last,
                more=more,
                total=len(keys) + len(devices),
                pending=n_pending,
            )

    def _filter_members(
        self, keys: MemberKeys, devices: list[str], wanted: MemberFilter
    ) -> tuple[MemberKeys, list[str], dict[int, str] | None]:
        """The members the filter keeps, and with an id filter the customer ids it names by
        member key (a customer's id is the one id of its key)."""
        if wanted.type == "customer":
            devices = []
        elif wanted.type == "device":
            keys = MemberKeys()
        named: dict[int, str] | None = None
        if wanted.ids is not None:
            named = {}
            for customer_id in wanted.ids:
                key = self._table.member_key_of(customer_id)
                if key is not None:
                    named[key] = customer_id
            keys = MemberKeys(keys.present(named))
            devices = [d for d in devices if d in wanted.ids]
        return keys, devices, named

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

    def _keys_to_add(self, ids: Sequence[str]) -> tuple[list[int], list[dict[str, Any]]]:
        """The keys of the ids that name a live customer, and per-item errors for the rest
        (no customer with that id, or a deleted one)."""
        keys: list[int] = []
        refused: list[dict[str, Any]] = []
        for position, customer_id in enumerate(ids):
            found = self._table.locate(customer_id)
            if found is None or self._table.is_deleted(found[0]):
                reason = (
                    "There is no customer with this id."
                    if found is None
                    else "This customer is deleted."
                )
                refused.append(item_error(position, customer_id, "unknownCustomer", reason))
            else:
                keys.append(found[1])
        return keys, refused

    def _keys_or_reject(self, ids: Sequence[str]) -> list[int]:
        """The keys of ids that must all name live customers (400 ``invalidMembers`` else)."""
        keys, refused = self._keys_to_add(ids)
        if refused:
            raise members_rejected(refused, len(ids))
        return keys

    def add_members(
        self,
        code: str,
        ids: Sequence[str],
        *,
        all_or_nothing: bool = False,
        refuse_present: bool = False,
    ) -> list[dict[str, Any]]:
        """``POST segments/{code}/members`` (201): returns the refused items.

        Unknown and deleted customers are refused: returned as Shopgate's per-item errors
        (``{code, entity, entityId, entityIndex, reason, subentityPath}``) while the other
        items are applied, or with ``all_or_nothing`` a 400 that applies nothing. Adding a
        member again is a no-op, or with ``refuse_present`` a 409 that applies nothing.
        """
        with self._lock:
            segment = self._fixed_segment(code)
            keys, refused = self._keys_to_add(ids)
            if refused and all_or_nothing:
                raise members_rejected(refused, len(ids))
            if refuse_present:
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
                        ],
                    )
            self._add_keys(segment, keys)
            return refused

    def _add_keys(self, segment: Segment, keys: list[int]) -> None:
        revived = [key for key in set(keys) if key in segment.pending]
        for key in revived:
            del segment.pending[key]
        segment.members.add(keys)
        self._store.add_members(segment.code, keys)  # keys that are members already: ignored
        self._store.drop_pending(segment.code, revived)

    def remove_members(
        self,
        code: str,
        ids: Sequence[str],
        *,
        all_or_nothing: bool = False,
        refuse_absent: bool = False,
    ) -> list[dict[str, Any]]:
        """``DELETE segments/{code}/members`` (202): returns the refused items; applied
        after ``delete_delay``.

        Ids that are no customer's are refused (returned as per-item errors, or with
        ``all_or_nothing`` a 400 that applies nothing). Customers that are not members are
        ignored, or with ``refuse_absent`` refused the same way (``notMember``). A member
        whose DELETE is pending already is left as it is.
        """
        with self._lock:
            segment = self._fixed_segment(code)
            named: list[int] = []
            refused: list[dict[str, Any]] = []
            for position, customer_id in enumerate(ids):
                key = self._table.member_key_of(customer_id)
                if key is None:
                    refused.append(
                        item_error(
                            position,
                            customer_id,
                            "unknownCustomer",
                            "There is no customer with this id.",
                        )
                    )
                    continue
                if refuse_absent and key not in segment.members:
                    refused.append(
                        item_error(
                            position,
                            customer_id,
                            "notMember",
                            "This customer is not a member of the segment.",
                        )
                    )
                    continue
                named.append(key)
            if refused and all_or_nothing:
                raise members_rejected(refused, len(ids))
            keys = [k for k in segment.members.present(named) if k not in segment.pending]
            if keys:
                self._schedule_delete(segment, keys)
            return refused

    def _schedule_delete(self, segment: Segment, keys: list[int]) -> None:
        """Accept a DELETE of ``keys`` (members, none pending): it shows after
        ``delete_delay`` (never, for ``None``)."""
        seq = next(self._seq)
        delay = self._settings.delete_delay
        apply_at = None if delay is None else self._clock() + delay
        self._store.put_pending(segment.code, keys, seq=seq, apply_at=apply_at)
        segment.pending.update(dict.fromkeys(keys, seq))
        if apply_at is not None:
            heapq.heappush(self._heap, (apply_at, seq, segment, tuple(keys)))
        self._apply_due()

    def _apply_due(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            _, seq, segment, keys = heapq.heappop(self._heap)
            if self._segments.get(segment.code) is not segment:
                continue
            pending = segment.pending
            gone = [k for k in keys if pending.get(k) == seq]
            for key in gone:
                del pending[key]
            segment.members.remove(gone)
            self._store.remove_members(segment.code, gone)

    def add_members_by_filter(self, code: str, rule: Rule) -> None:
        """``POST segments/{code}/members/addByFilter`` (202, applied at once).

        Adds every non-deleted customer the filter matches (guests too, unless the filter
        says ``"customer.isAnonymous": false``); existing members are skipped.
        """
        with self._lock:
            segment = self._fixed_segment(code)
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

    def members_search(self, rule: Rule, *, page: Page = Page()) -> dict[str, Any]:  # noqa: B008
        """``GET membersSearch``: who a rule set would select (a preview, nothing stored)."""
        with self._lock:
            indices = rule.select(self._table)
            chosen = indices[page.offset : page.offset + page.limit]
            return {
                "members": [{"id": self._table.field(i, "id"), "type": "customer"} for i in chosen],
                "meta": {
                    "limit": page.limit,
                    "offset": page.offset,
                    "totalItemCount": len(indices),
                },
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
                keys = self._table.keys_of(self._table.with_codes(_LIVE_CODES))
            else:
                keys = self._keys_or_reject(list(customer_ids))
            self._add_keys(segment, keys)
            return len(segment.members)

    def seed_records(
        self,
        *,
        customers: Iterable[Mapping[str, Any]] = (),
        segments: Iterable[Mapping[str, Any]] = (),
    ) -> dict[str, list[str]]:
        """Add explicit customers, then segments (``POST segments`` entries, whose
        ``members`` may be a list of customer ids). Returns the new ids and codes.

        The segments are JSON, read by the request layer as ``POST segments`` reads them.
        """
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
                parsed = new_segments({"segments": entries})
                for new in parsed:
                    if new.members is not None and new.members.errors:
                        raise members_rejected(new.members.errors, len(new.members))
                self.create_segments(parsed)
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
