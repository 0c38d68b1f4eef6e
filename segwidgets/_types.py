"""Literal aliases for every mode and option that takes a fixed set of words."""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = [
    "AmbiguityPolicy",
    "ApplyStatus",
    "CallOutcome",
    "Env",
    "MemberOutcome",
    "Mode",
    "ResolutionOutcome",
    "ResolveStrategy",
    "Scope",
    "StaleCheck",
]

#: How a plan treats the desired list: ``mirror`` makes the segment exactly the list,
#: ``add`` only adds, ``remove`` only removes the listed members.
Mode: TypeAlias = Literal["mirror", "add", "remove"]

#: Which removals a plan may contain: ``all`` live members, or only ``owned`` ones
#: (members a segwidgets run added, according to the journal).
Scope: TypeAlias = Literal["all", "owned"]

#: Shopgate environment: the host is ``{service}.shopgate{suffix}.io`` with suffix
#: "" for production, "pg" for staging, "dev" for development; ``sandbox`` is the local
#: emulator (its credentials always carry the ``base_url`` of the running sandbox).
Env: TypeAlias = Literal["production", "pg", "dev", "sandbox"]

#: What to do with an email that several registered customers share.
AmbiguityPolicy: TypeAlias = Literal["skip", "all", "latest"]

#: How emails are resolved to customer ids.
ResolveStrategy: TypeAlias = Literal["auto", "lookup", "scan"]

#: How a push checks that its plan is still current: ``full`` reads every page of the
#: segment, ``changes`` its total and the planned ids by ``$in``, ``auto`` the one that
#: needs fewer requests (see ``segwidgets._stale``).
StaleCheck: TypeAlias = Literal["auto", "full", "changes"]

#: The outcome of resolving one input email.
ResolutionOutcome: TypeAlias = Literal["matched", "ambiguous", "guest_only", "unmatched"]

#: The outcome of one member change in a push.
MemberOutcome: TypeAlias = Literal[
    "pending", "applied", "verified", "accepted_unverified", "failed", "unknown"
]

#: What a failed call to Shopgate means for its request (sorted by the table in
#: ``segwidgets._retry``): ``refused`` (certainly not acted on), ``lost`` (the answer never
#: came: a write may have been applied), ``rejected`` (Shopgate answered and decided against it).
CallOutcome: TypeAlias = Literal["refused", "lost", "rejected"]

#: The outcome of a whole push.
ApplyStatus: TypeAlias = Literal[
    "verified", "applied", "accepted_unverified", "partial", "failed", "cancelled", "dry_run"
]
