"""Deterministic seed customers: every field is arithmetic on ``(seed, index)``.

Nothing is generated per row up front. A ``SeedCustomers`` holds a few random byte columns
(one byte per customer each, drawn from ``random.Random(seed)``) and computes a customer's
fields when asked, so a million customers cost a byte column each and nothing is built
per customer at start (benchmark target 10 measures both).

Ids look like UUIDs and are an invertible function of the index: the first 64 bits are a
keyed bijective mix of the index, so ``index_of_id`` needs no table and the members of a
segment can be stored as 64-bit integers whose order is the order of the id strings.

What the data contains, for any seed and a few hundred customers or more:

- registered customers (about 76 % active, 5 % inactive, 3 % deleted) with an
  ``externalCustomerNumber`` of eight digits with leading zeros (``"00000042"``);
- guests (``isAnonymous=true``, about 15 %), a third of whom reuse the email of the
  customer created just before them (so guests share emails with registered customers and
  with each other);
- emails over eight domains, some written with capitals (``Anna.Schmidt17@GMX.de``);
- a few groups of registered customers sharing one email (``shared_email_groups``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CODE_STATUS",
    "SeedCustomers",
    "SeedSegment",
    "code_of",
    "format_id",
    "iso_time",
    "parse_id_key",
    "seed_segments",
]

_MASK64 = (1 << 64) - 1
_C1 = 0xFF51AFD7ED558CCD
_C2 = 0xC4CEB9FE1A85EC53
_C1_INV = pow(_C1, -1, 1 << 64)
_C2_INV = pow(_C2, -1, 1 << 64)

_DASH_SLOTS = (8, 13, 18, 23)
_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EMAIL_NUMBER_RE = re.compile(r"(\d+)@")

# (display name, ascii form used in emails)
_FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("Anna", "anna"), ("Lukas", "lukas"), ("Sophie", "sophie"), ("Jonas", "jonas"),
    ("Marie", "marie"), ("Leon", "leon"), ("Emma", "emma"), ("Finn", "finn"),
    ("Mia", "mia"), ("Paul", "paul"), ("Hannah", "hannah"), ("Felix", "felix"),
    ("Lea", "lea"), ("Noah", "noah"), ("Lena", "lena"), ("Elias", "elias"),
    ("Clara", "clara"), ("Ben", "ben"), ("Laura", "laura"), ("Max", "max"),
    ("Julia", "julia"), ("Tim", "tim"), ("Sarah", "sarah"), ("David", "david"),
    ("Olivia", "olivia"), ("James", "james"), ("Amelia", "amelia"), ("Oliver", "oliver"),
    ("Isla", "isla"), ("George", "george"), ("Ava", "ava"), ("Harry", "harry"),
    ("Chloé", "chloe"), ("Lucas", "lucas"), ("Camille", "camille"), ("Hugo", "hugo"),
    ("Giulia", "giulia"), ("Matteo", "matteo"), ("Sofia", "sofia"), ("Luca", "luca"),
    ("Lucía", "lucia"), ("Mateo", "mateo"), ("Zoë", "zoe"), ("Jürgen", "juergen"),
    ("Björn", "bjoern"), ("Ayşe", "ayse"), ("Mehmet", "mehmet"), ("Fatima", "fatima"),
    ("Ali", "ali"), ("Yuki", "yuki"), ("Hiro", "hiro"), ("Mei", "mei"),
    ("Wei", "wei"), ("Priya", "priya"), ("Arjun", "arjun"), ("Olga", "olga"),
    ("Ivan", "ivan"), ("Zofia", "zofia"), ("Jan", "jan"), ("Eva", "eva"),
    ("Tom", "tom"), ("Nina", "nina"), ("Karl", "karl"), ("Ida", "ida"),
)  # fmt: skip

_LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Müller", "mueller"), ("Schmidt", "schmidt"), ("Schneider", "schneider"),
    ("Fischer", "fischer"), ("Weber", "weber"), ("Meyer", "meyer"), ("Wagner", "wagner"),
    ("Becker", "becker"), ("Schulz", "schulz"), ("Hoffmann", "hoffmann"),
    ("Schäfer", "schaefer"), ("Koch", "koch"), ("Bauer", "bauer"), ("Richter", "richter"),
    ("Klein", "klein"), ("Wolf", "wolf"), ("Schröder", "schroeder"),
    ("Neumann", "neumann"), ("Schwarz", "schwarz"), ("Zimmermann", "zimmermann"),
    ("Braun", "braun"), ("Krüger", "krueger"), ("Hofmann", "hofmann"),
    ("Hartmann", "hartmann"), ("Lange", "lange"), ("Schmitt", "schmitt"),
    ("Werner", "werner"), ("Krause", "krause"), ("Smith", "smith"), ("Jones", "jones"),
    ("Taylor", "taylor"), ("Brown", "brown"), ("Williams", "williams"),
    ("Wilson", "wilson"), ("Johnson", "johnson"), ("Davies", "davies"),
    ("Martin", "martin"), ("Bernard", "bernard"), ("Dubois", "dubois"),
    ("Moreau", "moreau"), ("Rossi", "rossi"), ("Russo", "russo"), ("Ferrari", "ferrari"),
    ("Esposito", "esposito"), ("García", "garcia"), ("Fernández", "fernandez"),
    ("López", "lopez"), ("Martínez", "martinez"), ("Öztürk", "oeztuerk"),
    ("Kaya", "kaya"), ("Demir", "demir"), ("Nowak", "nowak"),
    ("Kowalski", "kowalski"), ("Novák", "novak"), ("Horváth", "horvath"),
    ("Jensen", "jensen"), ("Nielsen", "nielsen"), ("Andersson", "andersson"),
    ("Johansson", "johansson"), ("de Jong", "dejong"), ("van Dijk", "vandijk"),
    ("Tanaka", "tanaka"), ("Wang", "wang"), ("O'Brien", "obrien"),
)  # fmt: skip

_MIDDLE_NAMES: tuple[str, ...] = ("Marie", "Johann", "Louise", "Alexander", "Sophie", "Maria",
                                  "Peter", "Elisabeth")  # fmt: skip

# Eight entries, indexed by three bits; gmail.com twice because it is that common.
_DOMAINS: tuple[str, ...] = ("gmail.com", "gmail.com", "web.de", "gmx.de", "outlook.com",
                             "yahoo.com", "t-online.de", "icloud.com")  # fmt: skip

#: The domains as some customers write them: ``GMX.de``, ``T-ONLINE.de``.
_SHOUTED_DOMAINS = tuple(d.split(".")[0].upper() + "." + d.split(".", 1)[1] for d in _DOMAINS)

#: Status of each customer code (the code is ``status + 3 * isAnonymous``).
CODE_STATUS: tuple[str, ...] = ("active", "inactive", "deleted")

# Kind byte thresholds (out of 256).
_ACTIVE, _INACTIVE, _DELETED, _GUEST = 196, 209, 217, 243  # >= 243: guest sharing an email

_CREATED_FROM = 1546300800  # 2019-01-01T00:00:00Z
_CREATED_SPAN = 5 * 365 * 86400
_UPDATED_UNTIL = 1735689600  # 2025-01-01T00:00:00Z


def code_of(status: str, is_anonymous: bool) -> int:
    """The one-byte code of a customer's status and guest flag."""
    return CODE_STATUS.index(status) + (3 if is_anonymous else 0)


def iso_time(epoch: float) -> str:
    """``2021-03-04T05:06:07.000Z`` (ISO-8601, UTC, milliseconds)."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _mix(k: int) -> int:
    """A bijective mix of a 64-bit value (MurmurHash3's finaliser)."""
    k ^= k >> 33 & _MASK64
    k = k * _C1 & _MASK64
    k ^= k >> 33 & _MASK64
    k = k * _C2 & _MASK64
    k ^= k >> 33 & _MASK64
    return k


def _unmix(k: int) -> int:
    """The inverse of ``_mix``."""
    k ^= k >> 33 & _MASK64
    k = k * _C2_INV & _MASK64
    k ^= k >> 33 & _MASK64
    k = k * _C1_INV & _MASK64
    k ^= k >> 33 & _MASK64
    return k


def format_id(key: int, *, salt: int) -> str:
    """The UUID-like id whose first 64 bits are ``key``."""
    return _format_id(key, _mix(key ^ salt))


def _format_id(key: int, tail: int) -> str:
    return "%08x-%04x-%04x-%04x-%012x" % (  # noqa: UP031 (printf-style is the fastest here)
        key >> 32,
        key >> 16 & 0xFFFF,
        key & 0xFFFF,
        tail >> 48,
        tail & 0xFFFFFFFFFFFF,
    )


def _split_id(customer_id: object) -> tuple[int, int] | None:
    """``(key, tail)``: the first and last 64 bits of a well-formed id, else ``None``.

    Well-formed is what ``_ID_RE`` matches, checked without a regex: ``int(..., 16)``
    accepts more than lower-case hex digits (capitals, ``_``, a sign, non-ASCII digits),
    so the parsed value must print back as the very same digits.
    """
    if not isinstance(customer_id, str) or len(customer_id) != 36:
        return None
    if customer_id[8] + customer_id[13] + customer_id[18] + customer_id[23] != "----":
        return None
    digits = customer_id.replace("-", "")
    if len(digits) != 32:
        return None
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    if "%032x" % value != digits:  # noqa: UP031
        return None
    return value >> 64, value & _MASK64


def parse_id_key(customer_id: str) -> int | None:
    """The 64-bit sort key of a well-formed id, or ``None`` (no check that it exists)."""
    if not isinstance(customer_id, str) or not _ID_RE.match(customer_id):
        return None
    return int(customer_id[0:8] + customer_id[9:13] + customer_id[14:18], 16)


class SeedCustomers:
    """The seeded customers ``0..count-1`` of one seed, computed on demand."""

    def __init__(self, *, seed: int, count: int) -> None:
        if count < 0:
            msg = f"customers must be >= 0, not {count}"
            raise ValueError(msg)
        rng = random.Random(seed)
        self.seed = seed
        self.count = count
        self.salt = rng.getrandbits(64)
        self._id_salt = rng.getrandbits(64)
        self._first = rng.randbytes(count)
        self._last = rng.randbytes(count)
        self._misc = rng.randbytes(count)
        self._kind = rng.randbytes(count)
        self.pick = rng.randbytes(count)  #: a spare byte per customer for seed segments
        table = bytes(_code_of_kind(b) for b in range(256))
        #: Per-customer code (status + 3 * isAnonymous) of the seeded values.
        self.codes = self._kind.translate(table)

    # ids ---------------------------------------------------------------------------------
    def key_of(self, index: int) -> int:
        """The 64-bit sort key of customer ``index`` (any index >= 0, seeded or not)."""
        return _mix((index + self.salt) & _MASK64)

    def index_of_key(self, key: int) -> int:
        """The index whose key is ``key`` (may be out of range: check it)."""
        return (_unmix(key) - self.salt) & _MASK64

    def id_of_key(self, key: int) -> str:
        """The id whose sort key is ``key``."""
        return format_id(key, salt=self._id_salt)

    def id_of(self, index: int) -> str:
        """The id of customer ``index``."""
        return self.id_of_key(self.key_of(index))

    def index_of_id(self, customer_id: str, *, limit: int) -> int | None:
        """The index of ``customer_id`` if it is below ``limit``, else ``None``."""
        found = self.locate_id(customer_id, limit=limit)
        return None if found is None else found[0]

    def locate_id(self, customer_id: str, *, limit: int) -> tuple[int, int] | None:
        """``(index, key)`` of ``customer_id`` if its index is below ``limit``, else ``None``.

        The key is the id's first 64 bits, so it comes with the index for free (it equals
        ``key_of(index)``).
        """
        parts = _split_id(customer_id)
        if parts is None:
            return None
        key, tail = parts
        index = self.index_of_key(key)
        if index >= limit or tail != _mix(key ^ self._id_salt):
            return None
        return index, key

    # many at once -------------------------------------------------------------------------
    def ids_of_keys(self, keys: Sequence[int]) -> list[str]:
        """The ids of many member keys."""
        return [self.id_of_key(k) for k in keys]

    def keys_of(self, indices: Sequence[int]) -> list[int]:
        """The member keys of many customers."""
        return [self.key_of(i) for i in indices]

    def ids_of(self, indices: Sequence[int]) -> list[str]:
        """The ids of many customers."""
        return [self.id_of(i) for i in indices]

    # fields ------------------------------------------------------------------------------
    def is_sharing_guest(self, index: int) -> bool:
        """A guest who reuses the email of customer ``index - 1``."""
        return 0 < index < self.count and self._kind[index] >= _GUEST

    def _email_base(self, owner: int, *, writer: int) -> str:
        first = _FIRST_NAMES[self._first[owner] % 64][1]
        last = _LAST_NAMES[self._last[owner] % 64][1]
        misc = self._misc[owner]
        domain = _DOMAINS[misc & 7]
        pattern = (misc >> 3) & 3
        if pattern == 0:
            local = f"{first[0]}{last}{owner}"
        elif pattern == 1:
            local = f"{first}_{last}{owner}"
        else:
            local = f"{first}.{last}{owner}"
        if self._misc[writer] >> 7 and self._first[writer] % 4 == 0:
            return f"{local.capitalize()}@{_SHOUTED_DOMAINS[misc & 7]}"
        return f"{local}@{domain}"

    def email(self, index: int) -> str:
        """The email of seeded customer ``index``."""
        owner = index - 1 if self.is_sharing_guest(index) else index
        return self._email_base(owner, writer=index)

    def email_candidates(self, email: str) -> list[int]:
        """Seeded indices whose email may equal ``email`` (compare case-insensitively)."""
        match = _EMAIL_NUMBER_RE.search(email)
        if match is None or len(match.group(1)) > 12:
            return []
        owner = int(match.group(1))
        found = []
        if owner < self.count and not self.is_sharing_guest(owner):
            found.append(owner)
        if self.is_sharing_guest(owner + 1):
            found.append(owner + 1)
        return found

    def external_number(self, index: int) -> str | None:
        """Eight digits with leading zeros for registered customers, ``None`` for guests."""
        return None if self.codes[index] >= 3 else f"{index + 1:08d}"

    def external_candidates(self, number: str) -> list[int]:
        """Seeded indices whose external customer number may equal ``number``."""
        if not number.isascii() or not number.isdigit() or len(number) > 12:
            return []
        index = int(number) - 1
        return [index] if 0 <= index < self.count else []

    def dates(self, index: int) -> tuple[int, int]:
        """Creation and last update of customer ``index``, in epoch seconds."""
        created = (
            _CREATED_FROM
            + index * _CREATED_SPAN // max(self.count, 1)
            + self._first[index] * 61
            + self._last[index]
        )
        updated = created + (self._misc[index] * 977 + self._kind[index] * 131) * 60
        return created, max(min(updated, _UPDATED_UNTIL), created)

    def record(self, index: int) -> dict[str, Any]:
        """The full customer ``index`` as the customer service returns it."""
        first, _ = _FIRST_NAMES[self._first[index] % 64]
        last, _ = _LAST_NAMES[self._last[index] % 64]
        misc = self._misc[index]
        code = self.codes[index]
        created, updated = self.dates(index)
        middle = _MIDDLE_NAMES[misc % 8] if (misc >> 5) & 3 == 0 else None
        return {
            "id": self.id_of(index),
            "externalCustomerNumber": self.external_number(index),
            "firstName": first,
            "middleName": middle,
            "lastName": last,
            "emailAddress": self.email(index),
            "status": CODE_STATUS[code % 3],
            "isAnonymous": code >= 3,
            "contacts": [],
            "attributes": [],
            "settings": {"marketingOptIn": bool(misc & 64)},
            "createDate": iso_time(created),
            "updateDate": iso_time(updated),
        }

    def shared_email_groups(self) -> list[list[int]]:
        """Two or three groups of active registered customers that will share one email.

        The first member of each group keeps its email; the others take it over (the
        model applies this as an ordinary customer update). Deterministic from the seed.
        """
        sizes = (2, 3, 2)
        rng = random.Random(self.seed * 7919 + 17)
        eligible_needed = sum(sizes) * 4
        if self.count < 60:
            return []
        chosen: list[int] = []
        groups: list[list[int]] = []
        for size in sizes:
            group: list[int] = []
            tries = 0
            while len(group) < size and tries < eligible_needed * 50:
                tries += 1
                index = rng.randrange(self.count)
                if self.codes[index] != 0 or self.is_sharing_guest(index + 1) or index in chosen:
                    continue
                group.append(index)
                chosen.append(index)
            if len(group) == size:
                groups.append(sorted(group))
        return groups


def _code_of_kind(byte: int) -> int:
    if byte < _ACTIVE:
        return 0
    if byte < _INACTIVE:
        return 1
    if byte < _DELETED:
        return 2
    return 3  # guests are active


@dataclass(frozen=True)
class SeedSegment:
    """A segment the seed creates, with the indices of its members (fixed segments)."""

    code: str
    name: str
    description: str
    type: str
    rules: dict[str, Any] | None
    members: Sequence[int]


def seed_segments(customers: SeedCustomers) -> list[SeedSegment]:
    """``newsletter`` (~20 % of registered active customers), ``vip`` (~2 %) and the dynamic
    ``inactive-gmail`` (inactive customers with a gmail.com address)."""
    pick = customers.pick
    codes = customers.codes
    newsletter = [i for i in range(customers.count) if pick[i] < 66 and codes[i] == 0]
    vip = [i for i in range(customers.count) if pick[i] >= 250 and codes[i] == 0]
    return [
        SeedSegment(
            code="newsletter",
            name="Newsletter subscribers",
            description="Customers who asked for the newsletter.",
            type="fixed",
            rules=None,
            members=newsletter,
        ),
        SeedSegment(
            code="vip",
            name="VIP customers",
            description="Hand-picked customers with early access to sales.",
            type="fixed",
            rules=None,
            members=vip,
        ),
        SeedSegment(
            code="inactive-gmail",
            name="Inactive gmail.com customers",
            description="Everyone inactive with a gmail.com address (rule-based).",
            type="dynamic",
            rules={
                "customer.status": {"$eq": "inactive"},
                "customer.emailAddress": {"$ct": "@gmail.com"},
            },
            members=(),
        ),
    ]
