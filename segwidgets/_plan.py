"""The diff between a segment's live members and a desired list: what to add and remove.

A ``SegmentPlan`` is a value: computed once from a live snapshot, reviewable, savable to a
file, and applied later only if the segment still looks as it did at planning time: the
same members (the live fingerprint, by a full read), or, by the cheaper check, the same
total and none of the planned changes already made (see ``segwidgets._stale``).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

import polars as pl

from ._cost import (
    count_checks,
    duration_text,
    lookup_seconds,
    read_pages,
    read_seconds,
    stale_plan,
    verify_plan,
)
from ._errors import MassRemovalError, PlanError
from ._members import MemberList, from_pandas, read_members, require_members
from ._resolve import Resolution
from ._types import Mode, Scope, StaleCheck

if TYPE_CHECKING:
    from ._resolve_ids import IdCheck

__all__ = [
    "DEFAULT_MASS_REMOVAL_THRESHOLD",
    "Desired",
    "Estimate",
    "PhaseCost",
    "PlanKind",
    "SegmentPlan",
    "all_distinct",
    "compute_plan",
    "desired_ids",
    "fingerprint_ids",
    "id_frame",
    "undo_plan",
]

#: A plan that removes more than this share of the live members needs explicit consent.
DEFAULT_MASS_REMOVAL_THRESHOLD = 0.5

#: ``sync`` plans come from a desired list; ``undo`` plans reverse a past run.
PlanKind = Literal["sync", "undo"]

#: What a plan can be asked to make the segment hold (see ``desired_ids``).
Desired: TypeAlias = (
    MemberList
    | Resolution
    | pl.DataFrame
    | pl.LazyFrame
    | pl.Series
    | Sequence[str]
    | str
    | os.PathLike[str]
)

_FORMAT = "segwidgets-plan/1"
_FINGERPRINT_CHUNK = 200_000


def id_frame(ids: pl.Series | list[str] | pl.DataFrame) -> pl.DataFrame:
    """A one-column ``customer_id`` frame of distinct, non-null string ids (order kept)."""
    if isinstance(ids, pl.DataFrame):
        series = ids.get_column("customer_id")
    elif isinstance(ids, pl.Series):
        series = ids
    else:
        series = pl.Series(ids, dtype=pl.String)
    series = series.cast(pl.String).drop_nulls().unique(maintain_order=True)
    return pl.DataFrame({"customer_id": series})


def fingerprint_ids(ids: pl.Series, *, distinct: bool = False) -> str:
    """A stable fingerprint of a set of ids: SHA-256 over the sorted distinct ids.

    Order-independent and the same on every machine and polars version, so a plan saved
    on one machine can be checked on another. ``distinct=True`` promises the ids hold no
    repeats (a live read checks that); ids that arrive sorted (cursor pages come in id
    order) are not sorted again.
    """
    digest = hashlib.sha256()
    ordered = ids.cast(pl.String).drop_nulls()
    if not distinct:
        ordered = ordered.unique()
    if not ordered.is_sorted():
        ordered = ordered.sort()
    digest.update(f"n={ordered.len()}\n".encode())
    for start in range(0, ordered.len(), _FINGERPRINT_CHUNK):
        chunk = ordered.slice(start, _FINGERPRINT_CHUNK)
        digest.update((chunk.str.join("\n").item() + "\n").encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class PhaseCost:
    """One phase of a sync: its requests, what they carry and the time they take."""

    phase: str
    n_requests: int
    #: what one request stands for: ``pages``, ``batches``, ``ids`` (100 a request)...
    unit: str
    #: how many of ``unit`` (pages read, batches sent, ids looked up)
    count: int
    seconds: float

    def __str__(self) -> str:
        what = _counted(self.count, self.unit)
        if self.unit == "batches" and self.n_requests > self.count:
            what += ", " + _counted(self.n_requests - self.count, "member counts")
        return f"{self.phase} {_counted(self.n_requests, 'requests')} ({what})"


_SINGULAR = {
    "requests": "request",
    "pages": "page",
    "batches": "batch",
    "ids": "id",
    "changed ids": "changed id",
    "member counts": "member count",
}


def _counted(n: int, unit: str) -> str:
    """``1 page``, ``3 pages``: a count with its unit in the right number."""
    return f"{n:,} {_SINGULAR.get(unit, unit) if n == 1 else unit}"


@dataclass(frozen=True)
class Estimate:
    """What applying a plan will cost, known before anything is sent.

    ``phases`` has one ``PhaseCost`` per phase of the run: ``check`` (the segment, then
    all its live pages or the planned changes' ids and the total: ``stale_method``), ``push`` (one write per batch, plus the member-count checks between
    waves), ``verify`` (the changes read back: ``verify_method``). ``n_requests`` is their
    sum: the run's progress counts to it.
    """

    n_add_requests: int
    n_remove_requests: int
    n_read_requests: int
    batch_size: int
    concurrency: int
    seconds: float
    phases: tuple[PhaseCost, ...] = ()
    verify_method: str = "none"
    page_size: int = 100
    latency: float = 0.1
    #: how the stale check reads: ``full`` (every page) or ``changes`` (the planned ids)
    stale_method: str = "full"

    @property
    def n_write_requests(self) -> int:
        """Member writes: one per batch of adds or removes."""
        return self.n_add_requests + self.n_remove_requests

    @property
    def n_requests(self) -> int:
        """Writes plus the reads of the stale check, the count checks and the verification."""
        return self.n_write_requests + self.n_read_requests

    def phase(self, name: str) -> PhaseCost | None:
        """The cost of one phase (``check``, ``push``, ``verify``), None if it has none."""
        return next((p for p in self.phases if p.phase == name), None)

    def without(self, phase: str) -> Estimate:
        """The same estimate without one phase (``verify`` for a push that skips it)."""
        cost = self.phase(phase)
        if cost is None or phase == "push":
            return self
        return replace(
            self,
            n_read_requests=self.n_read_requests - cost.n_requests,
            seconds=self.seconds - cost.seconds,
            phases=tuple(p for p in self.phases if p.phase != phase),
            verify_method="none" if phase == "verify" else self.verify_method,
        )

    def as_dict(self) -> dict[str, Any]:
        """Counts and seconds per phase, JSON-ready."""
        return {
            "n_requests": self.n_requests,
            "n_write_requests": self.n_write_requests,
            "n_read_requests": self.n_read_requests,
            "seconds": self.seconds,
            "latency": self.latency,
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "page_size": self.page_size,
            "verify_method": self.verify_method,
            "stale_method": self.stale_method,
            "phases": {
                p.phase: {
                    "n_requests": p.n_requests,
                    "unit": p.unit,
                    "count": p.count,
                    "seconds": p.seconds,
                }
                for p in self.phases
            },
        }

    def __str__(self) -> str:
        head = f"{_counted(self.n_requests, 'requests')}, {duration_text(self.seconds)}"
        writes = (
            f"{_counted(self.n_add_requests, 'batches')} to add and "
            f"{self.n_remove_requests:,} to remove, up to {self.batch_size:,} members each, "
            f"{self.concurrency} requests at a time"
        )
        if not self.phases:
            return f"{head}: {writes}"
        return f"{head}: " + "; ".join(map(str, self.phases)) + f". Writes: {writes}"


@dataclass(frozen=True, repr=False)
class SegmentPlan:
    """Adds, removes and unchanged members for one segment, from one live snapshot.

    ``unchanged`` are the live members that stay, so ``n_live == n_remove + n_unchanged``
    and the segment will hold ``n_unchanged + n_add`` members afterwards.
    """

    merchant_code: str
    segment_code: str
    target: str
    mode: Mode
    adds: pl.DataFrame
    removes: pl.DataFrame
    unchanged: pl.DataFrame
    live_fingerprint: str
    n_live: int
    scope: Scope = "all"
    kind: PlanKind = "sync"
    allow_mass_removal: bool = False
    mass_removal_threshold: float = DEFAULT_MASS_REMOVAL_THRESHOLD
    n_desired: int = 0
    source: str = ""
    undo_of: str | None = None
    plan_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: the live ids the plan was computed from (for the drift report of a stale plan)
    live: pl.Series = field(default_factory=lambda: pl.Series("customer_id", [], pl.String))
    #: average request round trip seen so far by the session, for estimate()
    latency_hint: float = 0.1
    batch_size_hint: int = 1000
    concurrency_hint: int = 8
    page_size_hint: int = 100
    #: whether this Shopgate filters members by ``$in`` (None: not known; tried first)
    in_filter_hint: bool | None = None
    #: the segment's ``totalItemCount`` as the plan's read reported it (devices, and on some
    #: servers removals still applying, counted the server's way); None: not reported. The
    #: cheaper stale check compares the total it reads then with this one, like with like.
    live_total: int | None = None

    # -- counts -----------------------------------------------------------------------------

    @property
    def n_add(self) -> int:
        """Members the plan adds."""
        return self.adds.height

    @property
    def n_remove(self) -> int:
        """Members the plan removes."""
        return self.removes.height

    @property
    def n_unchanged(self) -> int:
        """Live members that stay."""
        return self.unchanged.height

    @property
    def n_after(self) -> int:
        """Members the segment will hold once the plan is applied."""
        return self.n_unchanged + self.n_add

    def is_empty(self) -> bool:
        """True when the plan changes nothing."""
        return self.n_add == 0 and self.n_remove == 0

    @property
    def needs_mass_removal_consent(self) -> bool:
        """True when the plan removes more than the guard allows (or everyone, from nothing)."""
        if self.n_remove == 0:
            return False
        if self.kind == "sync" and self.mode == "mirror" and self.n_desired == 0:
            return True
        return self.n_remove > self.mass_removal_threshold * max(self.n_live, 1)

    def check_mass_removal(self) -> None:
        """Raise ``MassRemovalError`` unless the plan is within the guard or consented to."""
        if self.needs_mass_removal_consent and not self.allow_mass_removal:
            share = self.n_remove / max(self.n_live, 1)
            why = (
                "the desired list is empty"
                if self.n_desired == 0 and self.kind == "sync" and self.mode == "mirror"
                else f"that is more than {self.mass_removal_threshold:.0%} of the segment"
            )
            msg = (
                f"This plan removes {self.n_remove:,} of {self.n_live:,} members "
                f"({share:.0%}) from segment {self.segment_code!r}, and {why}. If that is "
                "intended, plan again with allow_mass_removal=True."
            )
            raise MassRemovalError(msg, n_remove=self.n_remove, n_live=self.n_live)

    def with_consent(self) -> SegmentPlan:
        """The same plan (same id and fingerprint) with mass removal allowed."""
        return replace(self, allow_mass_removal=True)

    # -- cost ---------------------------------------------------------------------------------

    def estimate(
        self,
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
        latency: float | None = None,
        page_size: int | None = None,
        in_filter: bool | None = None,
        stale_check: StaleCheck = "auto",
    ) -> Estimate:
        """Exact request counts per phase and a time estimate for applying this plan.

        check: the segment (1), then (``stale_check``, see ``segwidgets._stale``) every live
        page (``n_live // page + 1``, read ``concurrency`` at a time) or the segment's total
        (1) and the planned changes looked up by ``$in`` (``⌈changes / 100⌉``), whichever
        needs fewer requests for ``auto``; push: one write per batch (``concurrency`` at a time)
        and a member-count read per wave of batches and after the last; verify: the
        changes looked up the cheapest way (``⌈changes / page⌉`` ``$in`` reads, a full
        read of the result, or one read per id). Time at ``latency`` per request (default:
        the mean the session saw). A removal still applying when verification reads adds
        polls on top of this.
        """
        batch = batch_size or self.batch_size_hint
        workers = concurrency or self.concurrency_hint
        rtt = self.latency_hint if latency is None else latency
        page = page_size or self.page_size_hint
        in_hint = self.in_filter_hint if in_filter is None else in_filter
        n_add_requests = math.ceil(self.n_add / batch)
        n_remove_requests = math.ceil(self.n_remove / batch)
        writes = n_add_requests + n_remove_requests
        live_pages = read_pages(self.n_live, page)
        changes = self.n_add + self.n_remove
        stale_method, n_stale = stale_plan(
            changes,
            self.n_live,
            page=page,
            in_filter=in_hint,
            total_known=self.live_total is not None,
            check=stale_check,
        )
        if stale_method == "changes":
            lookups = n_stale - 1
            check = PhaseCost(
                "check",
                1 + n_stale,
                "changed ids",
                changes,
                2 * rtt + lookup_seconds("in-filter", lookups, workers, rtt),
            )
        else:
            check = PhaseCost(
                "check",
                1 + live_pages,
                "pages",
                live_pages,
                rtt + read_seconds(live_pages, workers, rtt),
            )
        checks = count_checks(writes, workers)
        push = PhaseCost(
            "push",
            writes + checks,
            "batches",
            writes,
            (math.ceil(writes / workers) + checks) * rtt,
        )
        method, n_verify = verify_plan(
            self.n_add, self.n_remove, self.n_after, page=page, in_filter=in_hint
        )
        verify = PhaseCost(
            "verify",
            n_verify,
            "pages" if method == "full-read" else "ids",
            live_pages if method == "full-read" else changes,
            lookup_seconds(method, n_verify, workers, rtt),
        )
        if method == "full-read":
            verify = replace(verify, count=read_pages(self.n_after, page))
        phases = (check, push, verify)
        return Estimate(
            n_add_requests=n_add_requests,
            n_remove_requests=n_remove_requests,
            n_read_requests=sum(p.n_requests for p in phases) - writes,
            batch_size=batch,
            concurrency=workers,
            seconds=sum(p.seconds for p in phases),
            phases=phases,
            verify_method=method,
            page_size=page,
            latency=rtt,
            stale_method=stale_method,
        )

    # -- views ----------------------------------------------------------------------------------

    def to_polars(self) -> pl.DataFrame:
        """All changes and kept members in one frame: ``customer_id``, ``action``."""
        return pl.concat(
            [
                self.adds.with_columns(action=pl.lit("add")),
                self.removes.with_columns(action=pl.lit("remove")),
                self.unchanged.with_columns(action=pl.lit("keep")),
            ]
        )

    def summary(self) -> dict[str, Any]:
        """Counts and identity, without any member id."""
        return {
            "plan_id": self.plan_id,
            "kind": self.kind,
            "merchant_code": self.merchant_code,
            "segment_code": self.segment_code,
            "mode": self.mode,
            "scope": self.scope,
            "n_live": self.n_live,
            "n_desired": self.n_desired,
            "n_add": self.n_add,
            "n_remove": self.n_remove,
            "n_unchanged": self.n_unchanged,
            "n_after": self.n_after,
            "needs_mass_removal_consent": self.needs_mass_removal_consent,
            "created_at": self.created_at,
        }

    def __repr__(self) -> str:
        return (
            f"SegmentPlan(segment={self.segment_code!r}, mode={self.mode!r}, "
            f"n_add={self.n_add:,}, n_remove={self.n_remove:,}, "
            f"n_unchanged={self.n_unchanged:,}, kind={self.kind!r})"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        warn = ""
        if self.needs_mass_removal_consent:
            warn = (
                "<div style='color:var(--jp-warn-color0,#b45309);font-weight:600'>"
                f"Removes {self.n_remove:,} of {self.n_live:,} members: needs explicit consent."
                "</div>"
            )

        def sample(frame: pl.DataFrame) -> str:
            ids = frame.get_column("customer_id").head(5).to_list()
            more = frame.height - len(ids)
            text = ", ".join(esc(i) for i in ids) or "—"
            return text + (f" … (+{more:,})" if more > 0 else "")

        rows = "".join(
            f"<tr><td style='text-align:left'>{label}</td>"
            f"<td style='text-align:right'>{n:,}</td>"
            f"<td style='text-align:left;font-family:var(--jp-code-font-family,monospace)'>"
            f"{sample(frame)}</td></tr>"
            for label, n, frame in (
                ("add", self.n_add, self.adds),
                ("remove", self.n_remove, self.removes),
                ("keep", self.n_unchanged, self.unchanged),
            )
        )
        return (
            f"<div><b>Plan for segment {esc(self.segment_code)}</b> "
            f"({esc(self.mode)}, {esc(self.kind)}) — {self.n_live:,} live → "
            f"{self.n_after:,} after{warn}"
            "<table><thead><tr><th>change</th><th>members</th><th>sample ids</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            f"<div style='opacity:.8'>{esc(str(self.estimate()))}</div></div>"
        )

    # -- files -----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan as JSON (customer ids only, no emails), readable by this user only."""
        target = Path(path)
        payload = {
            "format": _FORMAT,
            **{k: v for k, v in self.summary().items() if not k.startswith("n_")},
            "target": self.target,
            "live_fingerprint": self.live_fingerprint,
            "n_live": self.n_live,
            "live_total": self.live_total,
            "n_desired": self.n_desired,
            "allow_mass_removal": self.allow_mass_removal,
            "mass_removal_threshold": self.mass_removal_threshold,
            "source": self.source,
            "undo_of": self.undo_of,
            "adds": self.adds.get_column("customer_id").to_list(),
            "removes": self.removes.get_column("customer_id").to_list(),
            "unchanged": self.unchanged.get_column("customer_id").to_list(),
            "live": self.live.to_list(),
        }
        payload.pop("needs_mass_removal_consent", None)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
        target.chmod(0o600)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SegmentPlan:
        """Read a plan written by ``save``. Applying it still checks it is not stale."""
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"Cannot read a plan from {os.fspath(path)!r}: {exc.__class__.__name__}."
            raise PlanError(msg) from exc
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            msg = f"{os.fspath(path)!r} is not a segwidgets plan file."
            raise PlanError(msg)
        mode = payload["mode"]
        if mode not in get_args(Mode):
            msg = f"Unknown plan mode {mode!r} in {os.fspath(path)!r}."
            raise PlanError(msg)
        live = payload.get("live", [])
        return cls(
            merchant_code=payload["merchant_code"],
            segment_code=payload["segment_code"],
            target=payload["target"],
            mode=mode,
            scope=payload.get("scope", "all"),
            kind=payload.get("kind", "sync"),
            adds=id_frame(payload["adds"]),
            removes=id_frame(payload["removes"]),
            unchanged=id_frame(payload["unchanged"]),
            live_fingerprint=payload["live_fingerprint"],
            n_live=int(payload["n_live"]),
            live_total=_int_or_none(payload.get("live_total")),
            n_desired=int(payload.get("n_desired", 0)),
            allow_mass_removal=bool(payload.get("allow_mass_removal", False)),
            mass_removal_threshold=float(
                payload.get("mass_removal_threshold", DEFAULT_MASS_REMOVAL_THRESHOLD)
            ),
            source=payload.get("source", ""),
            undo_of=payload.get("undo_of"),
            plan_id=payload["plan_id"],
            created_at=payload["created_at"],
            live=pl.Series("customer_id", live, pl.String),
        )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def compute_plan(
    live: pl.Series,
    desired: pl.Series,
    *,
    mode: Mode,
    scope_ids: pl.Series | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The diff as three ``customer_id`` frames: adds, removes, unchanged (live that stays).

    Vectorised in polars, linear in the inputs, no Python loop over ids: each id is hashed
    once to 64 bits, the two sides are matched by an integer join, and every match is
    confirmed on the ids themselves (so a hash collision can never pair two different
    ids). Repeated ids count once; the frames keep the order of their input.
    ``scope_ids`` limits removals to those ids (members segwidgets itself added).
    """
    if mode not in ("mirror", "add", "remove"):
        msg = f"Unknown mode {mode!r}; use 'mirror', 'add' or 'remove'."
        raise PlanError(msg)
    live_ids, live_hash = _distinct(live)
    desired_ids, desired_hash = _distinct(desired)
    live_is_desired, desired_is_live = _membership(live_ids, live_hash, desired_ids, desired_hash)
    live_df = pl.DataFrame({"customer_id": live_ids})
    desired_df = pl.DataFrame({"customer_id": desired_ids})
    empty = live_df.clear()
    adds = desired_df.filter(~desired_is_live) if mode in ("mirror", "add") else empty
    if mode == "mirror":
        removes = live_df.filter(~live_is_desired)
        unchanged = live_df.filter(live_is_desired)
    elif mode == "remove":
        removes = live_df.filter(live_is_desired)
        unchanged = live_df.filter(~live_is_desired)
    else:
        removes, unchanged = empty, live_df
    if scope_ids is not None and removes.height:
        owned = pl.DataFrame({"customer_id": scope_ids.cast(pl.String)})
        removes = removes.join(owned, on="customer_id", how="semi", maintain_order="left")
        unchanged = live_df.join(removes, on="customer_id", how="anti", maintain_order="left")
    return adds, removes, unchanged


_HASH_SEED = 0x5E6_D1FF


def _distinct(ids: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The non-null ids, each once in first-seen order, and their 64-bit hashes.

    Distinct hashes prove distinct ids, so the usual input (already distinct: a live read,
    a resolution) is checked with one sort of integers and not copied.
    """
    values = ids.cast(pl.String).drop_nulls().rename("customer_id")
    hashes = values.hash(_HASH_SEED)
    if not all_distinct(hashes):
        values = values.unique(maintain_order=True)
        hashes = values.hash(_HASH_SEED)
    return values, hashes


def all_distinct(values: pl.Series) -> bool:
    """Whether no two values (hashes, ids) are equal: in order, equal ones are neighbours.

    A series already in order (a live read's ids, pages in id order) is checked as it is.
    Otherwise a single-threaded sort is cheaper than ``n_unique``'s hash table (see "Plan
    internals" in docs/benchmarks.md), and a parallel sort spends more CPU than it saves
    wall time when cores are few or busy.
    """
    ordered = values if values.is_sorted() else values.sort(multithreaded=False)
    return not (ordered.slice(1) == ordered.slice(0, max(ordered.len() - 1, 0))).any()


def _membership(
    live: pl.Series, live_hash: pl.Series, desired: pl.Series, desired_hash: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """Per live id whether it is desired, and per desired id whether it is live.

    The hashes are joined lazily: in polars 2 ``collect`` runs the streaming engine, whose
    hash join is faster than the eager join (older versions run the same in-memory join as
    eager; "Plan internals" in docs/benchmarks.md). Its pairs come in no particular order,
    which the scatters do not mind; the gathers do on ids in many chunks (an Arrow file's
    record batches are much slower to gather from), so the ids are made one chunk first
    (the string views are copied, not the strings), and only while needed.
    """
    live_side = pl.LazyFrame({"h": live_hash}).with_row_index("li")
    desired_side = pl.LazyFrame({"h": desired_hash}).with_row_index("di")
    pairs = live_side.join(desired_side, on="h", how="inner").select("li", "di").collect()
    li, di = pairs.get_column("li"), pairs.get_column("di")
    del pairs
    # Equal hashes of different ids (a collision) are no match.
    same = live.rechunk().gather(li) == desired.rechunk().gather(di)
    li, di = li.filter(same), di.filter(same)
    live_is_desired = pl.repeat(False, live.len(), dtype=pl.Boolean, eager=True).scatter(li, True)
    desired_is_live = pl.repeat(False, desired.len(), dtype=pl.Boolean, eager=True).scatter(
        di, True
    )
    return live_is_desired, desired_is_live


# -- what a plan is made from -------------------------------------------------------------------


def desired_ids(
    desired: Desired,
    *,
    resolve: Callable[[MemberList], Resolution],
    check: Callable[[pl.Series], IdCheck] | None,
    merchant_code: str,
) -> tuple[pl.Series, str]:
    """The customer ids a plan should hold, and a description of where they came from.

    Emails are resolved by ``resolve``; ids given directly are checked by ``check`` (None:
    offered unchecked), so no unknown id, guest or deleted account is offered. A path is
    read as a member list, a pandas frame as a polars one; a string that names no file is
    refused. Raises ``PlanError`` when none of the checked ids is a registered customer of
    ``merchant_code``.
    """
    desired = _desired_source(desired)
    if isinstance(desired, Resolution):
        return desired.customer_ids, f"resolution ({desired.n_ids:,} customer ids)"

    def checked(ids: pl.Series, what: str) -> tuple[pl.Series, str]:
        return _checked(ids, what, check=check, merchant_code=merchant_code)

    if isinstance(desired, MemberList):
        require_members(desired)
        if desired.kind == "customer_id":
            return checked(desired.keys, desired.source or "list")
        return resolve(desired).customer_ids, f"{desired.source or 'list'} (resolved)"
    if isinstance(desired, pl.LazyFrame):
        desired = desired.collect()
    if isinstance(desired, pl.DataFrame):
        if "customer_id" in desired.columns:
            return checked(desired.get_column("customer_id"), "data frame")
        if "email" in desired.columns:
            resolution = resolve(read_members(desired, column="email"))
            return resolution.customer_ids, "data frame (resolved emails)"
        msg = "A desired frame needs a 'customer_id' or an 'email' column."
        raise PlanError(msg)
    if isinstance(desired, pl.Series):
        series = desired
    else:
        assert not isinstance(desired, (str, os.PathLike))  # read by _desired_source
        series = pl.Series(list(desired), dtype=pl.String)
    return checked(series, "ids")


def _desired_source(desired: Any) -> Any:
    """A path becomes its member list and a pandas frame a polars one; a bare string
    that names no file is refused (it would otherwise be read one character per id)."""
    converted = from_pandas(desired)
    if converted is not None:
        return converted
    if isinstance(desired, (str, os.PathLike)):
        path = Path(os.fspath(desired))
        if path.is_file():
            return read_members(path)
        msg = (
            f"{os.fspath(desired)!r} is not a file. Pass the path of a member list "
            "(csv, Excel, parquet), a data frame, or a list of customer ids such as "
            "['id1', 'id2']. Nothing was planned."
        )
        raise PlanError(msg)
    return desired


def _checked(
    ids: pl.Series,
    what: str,
    *,
    check: Callable[[pl.Series], IdCheck] | None,
    merchant_code: str,
) -> tuple[pl.Series, str]:
    distinct = id_frame(ids.cast(pl.String)).get_column("customer_id")
    if check is None:
        return distinct, f"{what} ({distinct.len():,} ids, not checked)"
    checked = check(distinct)
    if checked.n_checked and not checked.n_customers:
        msg = (
            f"None of the {checked.n_checked:,} ids of {what} is a registered customer of "
            f"merchant {merchant_code!r} ({checked.summary()}). Check the list and the "
            "merchant; session.last_id_check.problems() lists each id. Nothing was planned."
        )
        raise PlanError(msg)
    return checked.customer_ids, f"{what} ({checked.summary()})"


def undo_plan(
    run_id: str,
    *,
    added: Sequence[str],
    removed: Sequence[str],
    live: pl.Series,
    live_fingerprint: str,
    merchant_code: str,
    segment_code: str,
    target: str,
    **options: Any,
) -> SegmentPlan:
    """The plan that reverses a settled run: the members it ``added`` that are still
    ``live`` are removed, the members it ``removed`` that are not live again are added.

    ``live`` (and its ``live_fingerprint``) is the segment read after the run was settled.
    ``options`` are further ``SegmentPlan`` fields (the mass-removal guard, the hints).
    """
    live_frame = pl.DataFrame({"customer_id": live.cast(pl.String)})
    removes = id_frame(list(added)).join(live_frame, on="customer_id", how="semi")
    adds = id_frame(list(removed)).join(live_frame, on="customer_id", how="anti")
    unchanged = live_frame.join(removes, on="customer_id", how="anti")
    return SegmentPlan(
        merchant_code=merchant_code,
        segment_code=segment_code,
        target=target,
        mode="mirror",
        kind="undo",
        adds=adds,
        removes=removes,
        unchanged=unchanged,
        live_fingerprint=live_fingerprint,
        n_live=live.len(),
        n_desired=unchanged.height + adds.height,
        source=f"undo of run {run_id}",
        undo_of=run_id,
        live=live,
        **options,
    )
