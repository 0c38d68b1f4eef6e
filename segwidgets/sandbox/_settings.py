"""The sandbox's behaviour knobs: one frozen ``Settings`` value, validated on every change.

Knobs are set when the sandbox starts (keyword arguments of ``sandbox.start()``, flags of
``python -m segwidgets.sandbox``) and at runtime (``Sandbox.configure()``,
``POST /_sandbox/settings``). Each knob models a choice Shopgate does not document, or a
fault the sync engine must survive.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast, get_args

from .._errors import ConfigurationError

__all__ = [
    "KNOB_NAMES",
    "DeleteNonMember",
    "DuplicateAdd",
    "EmailFilter",
    "FaultScope",
    "FilterIn",
    "MemberFilter",
    "MemberPaging",
    "OversizeStatus",
    "PageLimitMode",
    "RefusedItems",
    "Settings",
    "SigninError",
]

#: How ``GET segments/{code}/members`` pages: ``offset`` (the SDK's ``Meta``) or ``cursor``.
MemberPaging: TypeAlias = Literal["offset", "cursor"]

#: What a list call does with ``limit`` over ``max_page_size``: a 400 or a shorter page.
PageLimitMode: TypeAlias = Literal["reject", "clamp"]

#: How a member write answers unknown or deleted customers: 2xx with ``errors``, or a 400.
RefusedItems: TypeAlias = Literal["2xx-body", "400"]

#: How the customer filter compares ``emailAddress``.
EmailFilter: TypeAlias = Literal["exact", "insensitive"]

#: Where ``{"$in": [...]}`` works in a filter: on ``id``, on ``id`` and ``emailAddress``, nowhere.
FilterIn: TypeAlias = Literal["id", "all", "off"]

#: Whether ``GET segments/{code}/members`` applies its ``filters`` or silently ignores them
#: (answering the unfiltered page, as a server that does not know the parameter might).
MemberFilter: TypeAlias = Literal["applied", "ignored"]

#: What a member DELETE does with a customer that is not a member: nothing, or an item error.
DeleteNonMember: TypeAlias = Literal["noop", "item-error"]

#: The status of a member batch over ``max_members_per_request``: 400 (the platform's
#: validation body) or 413.
OversizeStatus: TypeAlias = Literal[400, 413]

#: The body of a refused sign-in: OAuth2's ``{"error", "error_description"}`` (400/401), or
#: the platform's ``{"statusCode": 401, "code": "Unauthorized", "message"}``.
SigninError: TypeAlias = Literal["oauth", "platform"]

#: What ``POST segments/{code}/members`` does with an id that is already a member.
DuplicateAdd: TypeAlias = Literal["ignore", "conflict"]

#: Which API calls the injected 429/5xx faults hit; ``all`` includes the token endpoint.
FaultScope: TypeAlias = Literal["all", "reads", "writes"]

_RETRY_AFTER_RE = re.compile(r"^(\d{1,6}|date\+\d{1,6})$")


@dataclass(frozen=True)
class Settings:
    """How the sandbox behaves where Shopgate's behaviour is unknown, and which faults it injects.

    Every field is a knob; see the sandbox README for what each one models.
    """

    #: Largest ``limit`` a list call honours (see ``page_limit_mode``).
    max_page_size: int = 100
    #: ``reject``: a larger ``limit`` is a 400 validation error naming ``limit``;
    #: ``clamp``: the page is cut to ``max_page_size`` and ``meta.limit`` says so.
    page_limit_mode: PageLimitMode = "reject"
    #: ``offset``: members are read with ``limit``/``offset``; ``cursor``: with
    #: ``limit``/``cursor`` and ``meta.cursors.next``.
    member_paging: MemberPaging = "offset"
    #: ``2xx-body``: a member write applies its valid items and lists the refused ones in
    #: the body of its 201/202; ``400``: a refused item rejects the whole batch.
    refused_items: RefusedItems = "2xx-body"
    #: ``exact`` or ``insensitive``: how ``emailAddress`` compares in customer filters.
    email_filter: EmailFilter = "exact"
    #: ``id``: ``{"id": {"$in": [...]}}`` works; ``all``: on ``emailAddress`` too; ``off``:
    #: no ``$in`` (a 400 validation error naming ``filters``).
    filter_in: FilterIn = "id"
    #: ``applied``: the member list's ``filters`` select members; ``ignored``: they are
    #: dropped and the unfiltered page comes back (sandbox choice: unsourced either way).
    member_filter: MemberFilter = "applied"
    #: Whether ``totalItemCount`` of members counts members whose DELETE is still pending.
    total_counts_pending: bool = True
    #: ``noop``: a member DELETE ignores customers that are not members; ``item-error``:
    #: refuses them like unknown customers (per ``refused_items``), code ``notMember``.
    delete_non_member: DeleteNonMember = "noop"
    #: Largest ``members`` array a member write accepts (see ``oversize_status``).
    max_members_per_request: int = 1000
    #: ``400``: a larger batch is a 400 validation error naming the body; ``413``: a 413.
    oversize_status: OversizeStatus = 400
    #: ``oauth``: a refused sign-in answers OAuth2's error body; ``platform``: a 401 with
    #: the platform's error body.
    signin_error: SigninError = "oauth"
    #: ``ignore``: adding an existing member is a no-op; ``conflict``: 409, nothing applied.
    duplicate_add: DuplicateAdd = "ignore"
    #: Seconds until an accepted member DELETE shows; ``None``: accepted, never applied.
    delete_delay: float | None = 0.5
    #: Lifetime of a bearer token in seconds.
    token_ttl: float = 3600.0
    #: Requests per second per merchant before 429 (token bucket); ``None``: no limit.
    rate_limit: float | None = None
    #: Share of API calls answered 429 (before any state change).
    error_429_rate: float = 0.0
    #: ``Retry-After`` values an injected 429 picks from: seconds, or ``date+N`` (an HTTP date).
    retry_after: list[str] = field(default_factory=lambda: ["1"])
    #: Share of API calls answered with ``error_5xx_status`` (before any state change).
    error_5xx_rate: float = 0.0
    #: The status of injected server errors.
    error_5xx_status: int = 503
    #: Share of member writes applied and then answered by a dropped connection.
    lost_response_rate: float = 0.0
    #: Seconds added to every API call (awaited, so concurrent calls overlap).
    latency: float = 0.0
    #: Whether a rejected member batch lists the offending ids in ``errors``.
    item_errors: bool = True
    #: Which calls the injected 429/5xx hit: ``all`` (token endpoint too), ``reads``, ``writes``.
    fault_scope: FaultScope = "all"
    #: Seed of the fault draws; ``None`` draws from fresh entropy.
    fault_seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(cast(object, self.retry_after), list | tuple):
            _fail("retry_after", 'a list of "N" (seconds) or "date+N"', self.retry_after)
        object.__setattr__(self, "retry_after", list(self.retry_after))
        _validate(self)

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with ``changes`` applied; unknown names or bad values raise ``ConfigurationError``."""
        unknown = sorted(set(changes) - set(KNOB_NAMES))
        if unknown:
            msg = (
                f"Unknown sandbox setting(s): {', '.join(unknown)}. "
                f"Known settings: {', '.join(KNOB_NAMES)}."
            )
            raise ConfigurationError(msg)
        return dataclasses.replace(self, **dict(changes))

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a JSON-ready dict."""
        return {name: _plain(getattr(self, name)) for name in KNOB_NAMES}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


#: Every knob name, in declaration order.
KNOB_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(name: str, expected: str, value: object) -> None:
    msg = f"Sandbox setting {name} must be {expected}, not {value!r}."
    raise ConfigurationError(msg)


def _validate(s: Settings) -> None:
    for name in ("max_page_size", "max_members_per_request"):
        value = getattr(s, name)
        if not _is_int(value) or value < 1:
            _fail(name, "an integer >= 1", value)
    if s.oversize_status not in get_args(OversizeStatus) or isinstance(
        cast(object, s.oversize_status), bool
    ):
        _fail("oversize_status", "400 or 413", s.oversize_status)
    if s.duplicate_add not in get_args(DuplicateAdd):
        _fail("duplicate_add", "'ignore' or 'conflict'", s.duplicate_add)
    for name, alias in (
        ("page_limit_mode", PageLimitMode),
        ("member_paging", MemberPaging),
        ("refused_items", RefusedItems),
        ("email_filter", EmailFilter),
        ("filter_in", FilterIn),
        ("member_filter", MemberFilter),
        ("delete_non_member", DeleteNonMember),
        ("signin_error", SigninError),
    ):
        choices = get_args(alias)
        if getattr(s, name) not in choices:
            _fail(name, " or ".join(repr(c) for c in choices), getattr(s, name))
    if s.fault_scope not in get_args(FaultScope):
        _fail("fault_scope", "'all', 'reads' or 'writes'", s.fault_scope)
    if s.delete_delay is not None and (not _is_number(s.delete_delay) or s.delete_delay < 0):
        _fail("delete_delay", "a number of seconds >= 0 or None", s.delete_delay)
    if not _is_number(s.token_ttl) or s.token_ttl <= 0:
        _fail("token_ttl", "a number of seconds > 0", s.token_ttl)
    if s.rate_limit is not None and (not _is_number(s.rate_limit) or s.rate_limit <= 0):
        _fail("rate_limit", "a number of requests per second > 0 or None", s.rate_limit)
    for name in ("error_429_rate", "error_5xx_rate", "lost_response_rate"):
        value = getattr(s, name)
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            _fail(name, "a share between 0 and 1", value)
    if s.error_429_rate + s.error_5xx_rate > 1.0:
        _fail("error_429_rate + error_5xx_rate", "at most 1", s.error_429_rate + s.error_5xx_rate)
    if not _is_int(s.error_5xx_status) or not 500 <= s.error_5xx_status <= 599:
        _fail("error_5xx_status", "a status between 500 and 599", s.error_5xx_status)
    if not _is_number(s.latency) or s.latency < 0:
        _fail("latency", "a number of seconds >= 0", s.latency)
    for name in ("item_errors", "total_counts_pending"):
        if not isinstance(cast(object, getattr(s, name)), bool):
            _fail(name, "true or false", getattr(s, name))
    if s.fault_seed is not None and not _is_int(s.fault_seed):
        _fail("fault_seed", "an integer or None", s.fault_seed)
    if not s.retry_after or not all(
        isinstance(v, str) and _RETRY_AFTER_RE.match(v) for v in s.retry_after
    ):
        _fail("retry_after", 'a non-empty list of "N" (seconds) or "date+N"', s.retry_after)
