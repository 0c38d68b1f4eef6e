"""``SegmentSession``: the one entry point — connect, read, resolve, plan, apply, undo."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import httpx
import polars as pl

from ._apply import ApplyOptions, Pusher, check_same_target
from ._client import ShopgateClient
from ._config import SECRET_KEYS, Credentials
from ._doctor import DoctorReport, run_doctor
from ._errors import ApplyInProgressError, JournalError, PlanError, RunNotSettledError
from ._journal import Journal
from ._members import MemberList, read_members, require_members
from ._people import People
from ._plan import (
    DEFAULT_MASS_REMOVAL_THRESHOLD,
    Desired,
    SegmentPlan,
    compute_plan,
    desired_ids,
    undo_plan,
)
from ._progress import CancelToken, ProgressCallback, progress_callback
from ._resolve import CustomerCounts, Resolution, resolve_members
from ._resolve_ids import IdCheck, check_customer_ids
from ._result import ApplyResult
from ._secrets import Secret
from ._segment_code import check_segment_code
from ._traits import ServerTraits
from ._types import AmbiguityPolicy, Env, Mode, ResolveStrategy, Scope, StaleCheck

if TYPE_CHECKING:
    from types import TracebackType

    import ipywidgets

    from .sandbox import Sandbox

__all__ = ["SegmentSession"]


class SegmentSession:
    """A connection to one Shopgate merchant (or a local sandbox) and everything you do with it.

    Use it as a context manager, or call ``close()`` when done::

        with SegmentSession.sandbox() as session:
            members = read_members("emails.csv")
            plan = session.plan("newsletter", session.resolve(members))
            result = session.apply(plan)

    ``transport`` replaces the network; ``sleep``, ``clock`` and ``rng`` replace waiting
    (retries, verification polls), time and jitter, so tests never sleep for real.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        journal: str | os.PathLike[str] | Journal | None = None,
        batch_size: int = 1000,
        concurrency: int = 8,
        page_size: int | None = None,
        verify_timeout: float = 30.0,
        mass_removal_threshold: float = DEFAULT_MASS_REMOVAL_THRESHOLD,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        server: Sandbox | None = None,
        client: ShopgateClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._journal = journal if isinstance(journal, Journal) else Journal(journal)
        self._owns_journal = not isinstance(journal, Journal)
        if client is None:
            # What an earlier session learned of this merchant's server (largest page, member
            # paging...) is where this one starts.
            try:
                saved = self._journal.load_traits(
                    credentials.merchant_code, target=credentials.url_template
                )
                client = ShopgateClient(
                    credentials,
                    transport=transport,
                    timeout=timeout,
                    max_connections=max(16, 2 * concurrency),
                    sleep=sleep,
                    clock=clock,
                    rng=rng,
                    traits=ServerTraits.from_dict(saved or {}),
                )
            except BaseException:
                if self._owns_journal:
                    self._journal.close()
                raise
        self._client = client
        self._sleep = sleep
        self._clock = clock
        self._options = ApplyOptions(
            batch_size=batch_size,
            concurrency=concurrency,
            page_size=page_size,
            verify_timeout=verify_timeout,
        )
        self._pusher = Pusher(self._client, self._journal, self._options, sleep=sleep, clock=clock)
        self._customer_counts = CustomerCounts(clock=clock)
        self._people = People(self._client, concurrency=concurrency, page_size=page_size)
        #: the latest ``check_ids`` (the one behind the latest plan made from ids)
        self.last_id_check: IdCheck | None = None
        self._apply_lock = threading.Lock()
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.mass_removal_threshold = mass_removal_threshold
        self.concurrency = concurrency
        #: members or customers per page of a list call; None = ``client.traits.page_size``
        #: (100 until the server is known to take more)
        self.page_size = page_size
        #: the sandbox this session started, if any (``SegmentSession.sandbox()``)
        self.server = server
        self._closed = False

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        *,
        merchant_code: str,
        client_id: str,
        client_secret: str | Secret,
        username: str,
        password: str | Secret,
        env: Env = "production",
        base_url: str | None = None,
        **options: Any,
    ) -> SegmentSession:
        """Connect with Shopgate API credentials (or to any base URL template).

        The secrets are wrapped in :class:`Secret` on the first line, so a traceback that
        shows local variables (IPython's ``%xmode Verbose``) never shows them.
        """
        client_secret, password = Secret(client_secret), Secret(password)
        credentials = Credentials(
            merchant_code=merchant_code,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            env=env,
            base_url=base_url,
        )
        return cls(credentials, **options)

    @classmethod
    def from_env(cls, **options: Any) -> SegmentSession:
        """Connect with ``SHOPGATE_MERCHANT_CODE``, ``SHOPGATE_CLIENT_ID``, … (see README).

        The environment is read (secrets wrapped in :class:`Secret`) and not kept.
        """
        return cls(Credentials.from_env(), **options)

    @classmethod
    def sandbox(
        cls,
        *,
        customers: int = 5000,
        seed: int = 1,
        journal: str | os.PathLike[str] | Journal | None = None,
        session_options: dict[str, Any] | None = None,
        **knobs: Any,
    ) -> SegmentSession:
        """Start a local sandbox (a Shopgate emulator on 127.0.0.1) and connect to it.

        The sandbox stops when the session closes. Its runs go to a journal in a temporary
        folder unless ``journal=`` names one. ``knobs`` are sandbox settings
        (``latency=0.02``, ``delete_delay=1.0``, ...).
        """
        for key in SECRET_KEYS & knobs.keys():
            knobs[key] = Secret(knobs[key])
        from . import sandbox as sandbox_module

        server = sandbox_module.start(customers=customers, seed=seed, **knobs)
        tempdir = None
        if journal is None:
            tempdir = tempfile.TemporaryDirectory(prefix="segwidgets-sandbox-")
            journal = Path(tempdir.name) / "journal.sqlite3"
        try:
            session = cls(
                server.credentials, journal=journal, server=server, **(session_options or {})
            )
        except BaseException:
            server.stop()
            if tempdir is not None:
                tempdir.cleanup()
            raise
        session._tempdir = tempdir
        return session

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool, the push threads and the journal (and stop a sandbox
        this session started)."""
        if self._closed:
            return
        self._closed = True
        self._pusher.close()
        self._client.close()
        if self._owns_journal:
            self._journal.close()
        if self.server is not None:
            self.server.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> SegmentSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        client: ShopgateClient | None = self.__dict__.get("_client")
        if client is None:  # shown while the constructor failed (a traceback's locals)
            return "SegmentSession(not connected)"
        creds = client.credentials
        where = "sandbox" if creds.is_sandbox else creds.env
        return f"SegmentSession(merchant_code={creds.merchant_code!r}, target={where!r})"

    # -- properties -------------------------------------------------------------------------------

    @property
    def client(self) -> ShopgateClient:
        """The HTTP client (one connection pool)."""
        return self._client

    @property
    def journal(self) -> Journal:
        """The local audit trail."""
        return self._journal

    @property
    def merchant_code(self) -> str:
        """The merchant this session works on."""
        return self._client.credentials.merchant_code

    @property
    def is_sandbox(self) -> bool:
        """True when connected to a local sandbox."""
        return self._client.credentials.is_sandbox

    @property
    def batch_size(self) -> int:
        """Members per write request (shrinks if the server refuses a batch as too large)."""
        return self._pusher.batch_size

    # -- segments ---------------------------------------------------------------------------------

    def segments(self) -> pl.DataFrame:
        """The merchant's segments: code, name, type, status, memberCount, description."""
        rows = self._client.list_segments()
        schema = {
            "code": pl.String,
            "name": pl.String,
            "type": pl.String,
            "status": pl.String,
            "memberCount": pl.Int64,
            "description": pl.String,
        }
        return pl.DataFrame(
            [{k: row.get(k) for k in schema} for row in rows], schema=schema, orient="row"
        )

    def segment(self, code: str) -> dict[str, Any]:
        """One segment's details."""
        return self._client.get_segment(check_segment_code(code))

    def create_segment(
        self, code: str, name: str, *, description: str = "", status: str = "active"
    ) -> dict[str, Any]:
        """Create a fixed segment and return it."""
        code = check_segment_code(code)
        self._client.create_segment(
            code, name, description=description, status=status, type="fixed"
        )
        return self._client.get_segment(code)

    def _page_size(self) -> int:
        """The page size in force: the one given, else what the client's traits allow."""
        return self.page_size or self._client.traits.page_size

    def members(self, code: str) -> pl.DataFrame:
        """The segment's live members, every type: ``customer_id``, ``type`` (``customer``
        or ``device``; only customers are ever planned), customers first.

        The same read as ``plan()``'s: pages ``concurrency`` at a time, read again when
        the segment changed between two pages (``TornReadError`` if it keeps changing).
        """
        code = check_segment_code(code)
        return self._pusher.reader.read(code).members_frame()

    # -- input and resolution --------------------------------------------------------------------

    def read_members(self, source: Any, **options: Any) -> MemberList:
        """Same as ``segwidgets.read_members``."""
        return read_members(source, **options)

    def resolve(
        self,
        members: MemberList | pl.DataFrame | pl.LazyFrame | Sequence[str],
        *,
        policy: AmbiguityPolicy = "skip",
        strategy: ResolveStrategy = "auto",
        classify_guests: bool = True,
        progress: bool | ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Resolution:
        """Find the customer id of every email (see ``Resolution``).

        ``progress`` (a callback taking ``ProgressEvent``, or ``True`` for a bar) follows
        every request: phase ``resolve`` counted in requests (sent / planned so far) with
        the emails looked up as members, then ``done``. ``cancel`` (a ``CancelToken``)
        stops it before the next request with ``OperationCancelledError``; nothing is
        written and no resolution is returned.
        """
        member_list = members if isinstance(members, MemberList) else read_members(members)
        require_members(member_list)
        if member_list.kind != "email":
            msg = "This list holds customer ids already: pass it to plan() directly."
            raise PlanError(msg)
        return resolve_members(
            self._client,
            member_list,
            policy=policy,
            strategy=strategy,
            concurrency=self.concurrency,
            page_size=self._page_size(),
            classify_guests=classify_guests,
            progress=progress_callback(progress),
            counts=self._customer_counts,
            cancel=cancel,
        )

    def people(self, ids: pl.Series | Sequence[str], *, cached_only: bool = False) -> pl.DataFrame:
        """Who these customer ids are: ``customer_id``, ``email``, ``name``, ``account``
        (``registered``, ``guest``, ``deleted`` or ``unknown``), one row per distinct id.

        Asks Shopgate only for ids this session has not looked up before (``$in`` on id, a
        hundred per request, or one request per id where ``$in`` is refused); the panels
        call it for the rows they show. ``cached_only=True`` asks nothing and returns only
        the ids already known.
        """
        values = ids.cast(pl.String).to_list() if isinstance(ids, pl.Series) else list(ids)
        if cached_only:
            return self._people.cached(values)
        return self._people.lookup(values)

    # -- planning -----------------------------------------------------------------------------------

    def check_ids(
        self,
        ids: pl.Series | Sequence[str],
        *,
        progress: bool | ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> IdCheck:
        """Which of these customer ids are registered customers in Shopgate (see ``IdCheck``).

        ``plan`` runs this on every list of ids it is given and offers only the registered
        customers; unknown ids, guests and deleted accounts are left out and reported.
        ``progress`` and ``cancel`` work as for ``resolve``.
        """
        series = ids if isinstance(ids, pl.Series) else pl.Series(list(ids), dtype=pl.String)
        check = check_customer_ids(
            self._client,
            series,
            concurrency=self.concurrency,
            page_size=self.page_size,
            progress=progress_callback(progress),
            cancel=cancel,
        )
        self.last_id_check = check
        return check

    def plan(
        self,
        code: str,
        desired: Desired,
        *,
        mode: Mode = "mirror",
        allow_mass_removal: bool = False,
        scope: Scope = "all",
        check_ids: bool = True,
        progress: bool | ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> SegmentPlan:
        """Read the segment's live members and compute what to add and remove.

        ``progress`` (a callback taking ``ProgressEvent``, or ``True`` for a bar) follows
        each step: the emails matched or the ids checked (phase ``resolve``, counted in
        requests), then the read (phase ``read``, counted in pages). ``cancel`` (a
        ``CancelToken``) stops planning between two requests with
        ``OperationCancelledError``; nothing is written and no plan is returned.

        ``desired`` is a ``Resolution``, a ``MemberList`` (of ids, or of emails to resolve),
        a path of a member list (str or Path, read like ``read_members``), a polars or pandas
        frame with ``customer_id`` (or ``email``), or a list of ids. A string that is not a
        file is refused. Ids given directly are
        checked against Shopgate first (``check_ids``); ``check_ids=False`` offers them
        unchecked, and Shopgate then refuses unknown ones item by item when they are sent.
        Raises ``MassRemovalError`` when the plan removes more than the guard allows and
        ``allow_mass_removal`` is False.
        """
        code = check_segment_code(code)
        segment = self._pusher.check_editable(code)
        callback = progress_callback(progress)
        # A step of a plan: its own "done" would end the plan's progress (a bar closes).
        step = None if callback is None else (lambda e: None if e.phase == "done" else callback(e))
        ids, source = desired_ids(
            desired,
            resolve=lambda members: self.resolve(members, progress=step, cancel=cancel),
            check=(lambda ids: self.check_ids(ids, progress=step, cancel=cancel))
            if check_ids
            else None,
            merchant_code=self.merchant_code,
        )
        live = self._pusher.reader.read_with_progress(
            code, callback, n_members=segment.get("memberCount"), cancel=cancel
        )
        creds = self._client.credentials
        scope_ids = None
        if scope == "owned":
            owned = self._journal.owned_ids(creds.merchant_code, creds.url_template, code)
            scope_ids = pl.Series("customer_id", owned, dtype=pl.String)
        adds, removes, unchanged = compute_plan(live.ids, ids, mode=mode, scope_ids=scope_ids)
        plan = SegmentPlan(
            merchant_code=creds.merchant_code,
            segment_code=code,
            target=creds.url_template,
            mode=mode,
            scope=scope,
            adds=adds,
            removes=removes,
            unchanged=unchanged,
            live_fingerprint=live.fingerprint,
            n_live=live.n,
            live_total=live.total_reported,
            n_desired=ids.len(),
            allow_mass_removal=allow_mass_removal,
            mass_removal_threshold=self.mass_removal_threshold,
            source=source,
            live=live.ids,
            **self._hints(),
        )
        plan.check_mass_removal()
        return plan

    def _hints(self) -> dict[str, Any]:
        return {
            "latency_hint": self._client.stats.mean_latency() or 0.1,
            "batch_size_hint": self._pusher.batch_size,
            "concurrency_hint": self.concurrency,
            "page_size_hint": self._page_size(),
            "in_filter_hint": self._client.traits.in_on_id,
        }

    # -- applying ------------------------------------------------------------------------------------

    def apply(
        self,
        plan: SegmentPlan,
        *,
        dry_run: bool = False,
        progress: bool | ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        segment: str | None = None,
        verify: bool = True,
        stale_check: StaleCheck = "auto",
    ) -> ApplyResult:
        """Push a plan: check it is still current, send batches, verify, record the run.

        ``dry_run=True`` sends no write and returns the requests it would send.
        ``segment=`` names the segment you expect the plan to be for (refused otherwise).
        ``progress`` is a callback taking ``ProgressEvent`` or ``True`` for a progress bar;
        ``cancel`` a ``CancelToken`` that stops the push between batches.

        ``stale_check`` is how the plan is checked current before anything is sent
        (``StalePlanError`` if not, nothing written); ``result.stale_method`` says which
        way ran:

        - ``"full"`` reads every page of the segment and compares its members with the
          plan's: it sees any change, at ``members // 100 + 1`` requests (10,001 for a
          million members).
        - ``"changes"`` reads the segment's total and looks up only the planned changes'
          ids (``{"id": {"$in": [...]}}``, 100 a request, ``concurrency`` at a time): the
          plan is stale if an add is already a member, a remove no longer one, or the total
          moved. It costs ``changes // 100 + 2`` requests whatever the segment's size, but
          cannot see a change that touches no planned id and keeps the total (a member the
          plan keeps swapped for another by someone else). The segment's lease keeps other
          segwidgets runs out, and the member-count checks between waves of writes stop a
          run that meets another writer.
        - ``"auto"`` (default) takes ``"changes"`` when it needs fewer requests than a full
          read. Where Shopgate refuses ``$in`` on the member filter (a 400 naming
          ``filters``), ``"changes"`` reads in full too.

        A plan the cheaper check finds stale is read in full before the error is raised,
        so ``StalePlanError`` states the drift exactly.
        """
        if stale_check not in get_args(StaleCheck):
            msg = f"stale_check must be 'auto', 'full' or 'changes', not {stale_check!r}."
            raise ValueError(msg)
        self._pusher.check_target(plan, segment=segment)
        plan.check_mass_removal()
        if not self._apply_lock.acquire(blocking=False):
            msg = (
                "Another push is running in this session; wait for it to finish. Nothing was sent."
            )
            raise ApplyInProgressError(msg)
        try:
            if dry_run:
                return self._pusher.dry_run(plan, stale_check=stale_check)
            result = self._pusher.apply(
                plan,
                progress=progress_callback(progress),
                cancel=cancel,
                verify=verify,
                stale_check=stale_check,
            )
        finally:
            self._apply_lock.release()
        self._record_size(plan, result)
        return result

    def _record_resumed_size(self, result: ApplyResult) -> None:
        """A resumed run ends at another size: its record is updated (its size before is the
        one recorded when it started; a run with no record is left out of the chart)."""
        if result.run_id is None:
            return
        creds = self._client.credentials
        with contextlib.suppress(JournalError):
            sizes = self._journal.sizes(
                creds.merchant_code, creds.url_template, result.segment_code
            )
            known = sizes.filter(pl.col("run_id") == result.run_id)
            if known.height:
                n_before = int(known["n_before"][0])
                self._journal.record_size(
                    result.run_id,
                    merchant_code=creds.merchant_code,
                    target=creds.url_template,
                    segment_code=result.segment_code,
                    n_before=n_before,
                    n_after=n_before + result.n_added - result.n_removed,
                )

    def _record_size(self, plan: SegmentPlan, result: ApplyResult) -> None:
        """Keep the segment's size before and after a run, for the History chart."""
        if result.run_id is None:
            return
        creds = self._client.credentials
        # The push is done whatever happens here: a journal that cannot take the size
        # leaves a gap in the chart, not a failed push.
        with contextlib.suppress(JournalError):
            self._journal.record_size(
                result.run_id,
                merchant_code=creds.merchant_code,
                target=creds.url_template,
                segment_code=plan.segment_code,
                n_before=plan.n_live,
                n_after=plan.n_live + result.n_added - result.n_removed,
            )

    def resume(
        self,
        run_id: str,
        *,
        progress: bool | ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ApplyResult:
        """Finish an interrupted run without re-sending what the server confirmed."""
        if not self._apply_lock.acquire(blocking=False):
            msg = "Another push is running in this session; wait for it to finish."
            raise ApplyInProgressError(msg)
        try:
            result = self._pusher.resume(
                run_id, progress=progress_callback(progress), cancel=cancel
            )
        finally:
            self._apply_lock.release()
        self._record_resumed_size(result)
        return result

    # -- history ------------------------------------------------------------------------------------

    def history(self, code: str | None = None) -> pl.DataFrame:
        """Past runs against this merchant, newest first (optionally of one segment)."""
        runs = self._journal.runs(merchant_code=self.merchant_code, segment_code=code)
        target = self._client.credentials.url_template
        return runs.filter(pl.col("target") == target).select(
            "run_id",
            "segment_code",
            "kind",
            "mode",
            "status",
            "n_add",
            "n_remove",
            "n_requests",
            "started_at",
            "finished_at",
            "message",
            "parent_run_id",
        )

    def run_details(self, run_id: str) -> pl.DataFrame:
        """Every member change of a run with its status."""
        return self._journal.member_frame(run_id)

    def undo(self, run_id: str, *, allow_mass_removal: bool = False) -> SegmentPlan:
        """A plan that reverses what a run changed, checked against the live segment.

        Members the run added are removed (if still members); members it removed are
        added back (if not members again). Review it, then ``apply`` it.

        The plan is exact: writes of the run whose answer never arrived are settled by a
        read, and removals it sent are waited for (up to ``verify_timeout``) until a read
        shows them applied. Raises ``RunNotSettledError`` if some are still not applied then,
        and ``SegmentBusyError`` while another process works on the segment.
        """
        record = self._journal.run(run_id)
        check_same_target(
            record.merchant_code, record.target, self._client.credentials, what=f"Run {run_id}"
        )
        code = record.segment_code
        # No other writer while the run is settled and the segment read for the plan.
        with self._pusher.lease(record.merchant_code, record.target, code, "undo"):
            added, removed, unsettled = self._pusher.settle(run_id, code)
            if unsettled:
                msg = (
                    f"Run {run_id} is not settled: {len(unsettled):,} of its removals were sent "
                    "but are still members after waiting "
                    f"{self._options.verify_timeout:g} s (accepted and not applied yet, or "
                    "never received). An undo now would miss them. Nothing was sent: run "
                    f"resume('{run_id}') (segwidgets resume {run_id}) to settle them, or wait "
                    "and undo again."
                )
                raise RunNotSettledError(msg, n_unsettled=len(unsettled))
            live = self._pusher.reader.read(code)
        plan = undo_plan(
            run_id,
            added=added,
            removed=removed,
            live=live.ids,
            live_fingerprint=live.fingerprint,
            merchant_code=record.merchant_code,
            segment_code=code,
            target=record.target,
            live_total=live.total_reported,
            allow_mass_removal=allow_mass_removal,
            mass_removal_threshold=self.mass_removal_threshold,
            **self._hints(),
        )
        plan.check_mass_removal()
        return plan

    # -- doctor -----------------------------------------------------------------------------------------

    @property
    def traits(self) -> ServerTraits:
        """What is known of how this merchant's Shopgate answers (page size, member paging,
        email filter, ``$in``): the client's own traits when it keeps them, else the traits
        ``doctor()`` saved in the journal for this merchant, kept here."""
        traits = getattr(self._client, "traits", None)
        if isinstance(traits, ServerTraits):
            return traits
        own: ServerTraits | None = getattr(self, "_own_traits", None)
        if own is None:
            creds = self._client.credentials
            saved = self._journal.load_traits(creds.merchant_code, target=creds.url_template)
            own = self._own_traits = ServerTraits.from_dict(saved or {})
        return own

    def doctor(self, *, write_test: bool = False, save: bool = True) -> DoctorReport:
        """Probe how this merchant's Shopgate answers, with a few read-only GETs.

        Returns a ``DoctorReport`` ("what Shopgate did → what segwidgets will do", also
        ``to_polars()``). What it learns goes into ``traits`` and, with ``save`` and when
        no probe failed, into the journal for this merchant. ``write_test=True`` also
        creates a scratch fixed segment, adds and removes one member, times how long the
        removal takes to show, and deletes the segment; nothing is written without it.
        """
        report = run_doctor(
            self._client,
            write_test=write_test,
            traits=self.traits,
            clock=self._clock,
            sleep=self._sleep,
        )
        if save and report.ok:
            creds = self._client.credentials
            self._journal.save_traits(
                creds.merchant_code, report.traits.to_dict(), target=creds.url_template
            )
        return report

    # -- UI ---------------------------------------------------------------------------------------------

    def panel(self) -> ipywidgets.Widget:
        """The whole app as one widget: connect, pick, load, match, review, push, history."""
        from .widgets import SegmentApp

        return SegmentApp(self)
