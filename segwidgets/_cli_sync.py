"""``segwidgets sync | history | undo | resume``: the headless commands for scheduled syncs.

Exit codes: 0 done and verified (or nothing to do), 1 failed, 2 bad input or refused plan,
3 applied but not verified, 130 interrupted (Ctrl-C; ``resume`` finishes the run).

``history``, ``undo`` and ``resume`` need an existing journal: a missing, emptied or damaged
one is reported (exit 1), never read as "no runs".
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, get_args

from ._config import Credentials
from ._errors import (
    ApplyIncompleteError,
    ConfigurationError,
    InputFileError,
    PlanError,
    SegwidgetsError,
    TornReadError,
)
from ._journal import DEFAULT_LOCK_TIMEOUT, Journal
from ._types import AmbiguityPolicy, Mode

if TYPE_CHECKING:
    from ._apply import ApplyResult
    from ._plan import SegmentPlan
    from ._session import SegmentSession

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNVERIFIED",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNVERIFIED = 3
EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be at least 1, not {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run against a fresh local sandbox instead of SHOPGATE_* credentials",
    )
    parser.add_argument(
        "--journal", help="journal file (default: $SEGWIDGETS_JOURNAL or the user data dir)"
    )
    parser.add_argument(
        "--journal-timeout",
        type=float,
        default=DEFAULT_LOCK_TIMEOUT,
        help=(
            "seconds to wait for a journal another process keeps locked "
            f"(default {DEFAULT_LOCK_TIMEOUT:g})"
        ),
    )
    parser.add_argument(
        "--verify-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for removals to show as applied (default 30)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1000,
        help="members per write request (default 1000; smaller if Shopgate refuses a batch)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        help="write requests in flight at once (default 8)",
    )
    parser.add_argument("--verbose", "-v", action="count", default=0, help="more log output")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"segwidgets {command}")
    if command == "sync":
        parser.description = "Make a segment match a member list (plan, then apply with --yes)."
        parser.add_argument("--segment", required=True, help="segment code")
        parser.add_argument("--members", required=True, help="CSV/TSV/TXT/parquet/xlsx file")
        parser.add_argument("--column", help="the column holding emails or customer ids")
        parser.add_argument("--mode", choices=get_args(Mode), default="mirror")
        parser.add_argument(
            "--policy",
            choices=get_args(AmbiguityPolicy),
            default="skip",
            help="emails shared by several customers: skip (default), all, latest",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show the requests, send no write"
        )
        parser.add_argument("--yes", action="store_true", help="apply the plan (else only show it)")
        parser.add_argument(
            "--allow-mass-removal",
            action="store_true",
            help="allow removing more than half of the segment",
        )
        parser.add_argument("--save-plan", help="also write the plan to this file")
    elif command == "history":
        parser.description = "List past runs, newest first."
        parser.add_argument("--segment", help="only runs of this segment")
    elif command == "undo":
        parser.description = "Plan the reversal of a run; with --yes, apply it."
        parser.add_argument("run_id")
        parser.add_argument("--yes", action="store_true")
        parser.add_argument("--allow-mass-removal", action="store_true")
    elif command == "resume":
        parser.description = "Finish an interrupted run."
        parser.add_argument("run_id")
    _common(parser)
    return parser


def _open_journal(command: str, args: argparse.Namespace) -> Journal | None:
    """The journal, opened here so reading commands refuse a missing or damaged one."""
    if args.sandbox and args.journal is None:
        return None  # the sandbox session keeps its runs in a temporary journal
    return Journal(args.journal, lock_timeout=args.journal_timeout, must_exist=command in _READING)


def _open_session(
    args: argparse.Namespace, journal: Journal | None, credentials: Credentials | None
) -> SegmentSession:
    from ._session import SegmentSession

    options: dict[str, object] = {
        "verify_timeout": args.verify_timeout,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
    }
    if args.sandbox:
        return SegmentSession.sandbox(journal=journal, session_options=options)
    assert credentials is not None
    return SegmentSession(credentials, journal=journal, **options)  # type: ignore[arg-type]


#: Commands that read runs already recorded: they never create a journal.
_READING = frozenset({"history", "undo", "resume"})


def _print_plan(plan: SegmentPlan) -> None:
    print(
        f"plan for segment {plan.segment_code!r} ({plan.mode}): "
        f"{plan.n_live:,} live → {plan.n_after:,} after; "
        f"add {plan.n_add:,}, remove {plan.n_remove:,}, keep {plan.n_unchanged:,}"
    )
    print(f"estimate: {plan.estimate()}")


def _print_result(result: ApplyResult) -> int:
    print(
        f"run {result.run_id}: {result.status} — added {result.n_added:,}, removed "
        f"{result.n_removed:,}, failed {result.n_failed:,}, unverified {result.n_unverified:,}, "
        f"not sent {result.n_pending:,}, unknown {result.n_unknown:,} "
        f"({result.n_requests:,} requests, {result.seconds:.1f} s)"
    )
    if result.message:
        print(result.message)
    for row in result.failed.head(20).iter_rows(named=True):
        print(f"  failed {row['action']} {row['customer_id']}: {row['error']}")
    for row in result.unverified.head(20).iter_rows(named=True):
        print(f"  unverified {row['action']} {row['customer_id']}")
    if result.status in {"verified", "applied", "dry_run"}:
        return EXIT_OK
    if result.status == "accepted_unverified":
        return EXIT_UNVERIFIED
    return EXIT_FAILED


def _sync(session: SegmentSession, args: argparse.Namespace) -> int:
    from ._members import read_members

    members = read_members(args.members, column=args.column)
    print(
        f"input: {members.n_rows:,} rows — {members.n_valid:,} valid, {members.n_rejected:,} "
        f"rejected, {members.n_duplicates:,} duplicates, {members.n_blank:,} blank"
    )
    desired: object = members
    if members.kind == "email":
        resolution = session.resolve(members, policy=args.policy)
        print(
            f"resolved ({resolution.strategy}, {resolution.n_requests:,} requests): "
            f"{resolution.n_matched:,} matched, {resolution.n_ambiguous:,} ambiguous, "
            f"{resolution.n_guest_only:,} guest only, {resolution.n_unmatched:,} unmatched "
            f"→ {resolution.n_ids:,} customer ids"
        )
        desired = resolution
    plan = session.plan(
        args.segment,
        desired,  # type: ignore[arg-type]
        mode=args.mode,
        allow_mass_removal=args.allow_mass_removal,
    )
    _print_plan(plan)
    if args.save_plan:
        print(f"plan saved to {plan.save(args.save_plan)}")
    if args.dry_run:
        return _print_result(session.apply(plan, dry_run=True))
    if not args.yes:
        print("nothing sent: add --yes to apply this plan")
        return EXIT_OK
    if plan.is_empty():
        print("nothing to do: the segment already matches")
        return EXIT_OK
    return _print_result(session.apply(plan))


def _run(command: str, session: SegmentSession, args: argparse.Namespace) -> int:
    if command == "sync":
        return _sync(session, args)
    if command == "history":
        runs = session.history(args.segment)
        if runs.is_empty():
            print("no runs yet")
        for row in runs.iter_rows(named=True):
            print(
                f"{row['run_id']}  {row['segment_code']:<20} {row['kind']:<6} {row['status']:<20} "
                f"+{row['n_add']:,} -{row['n_remove']:,}  {row['started_at']}"
            )
        return EXIT_OK
    if command == "undo":
        plan = session.undo(args.run_id, allow_mass_removal=args.allow_mass_removal)
        _print_plan(plan)
        if not args.yes:
            print("nothing sent: add --yes to apply the undo")
            return EXIT_OK
        return _print_result(session.apply(plan))
    return _print_result(session.resume(args.run_id))


def main(command: str, argv: Sequence[str]) -> int:
    """Run one headless command; returns its exit code."""
    args = _parser(command).parse_args(list(argv))
    level = logging.WARNING
    if args.verbose:
        level = logging.DEBUG if args.verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    journal: Journal | None = None
    try:
        # Credentials first: a missing setting is bad input (exit 2) whatever the journal.
        credentials = None if args.sandbox else Credentials.from_env()
        journal = _open_journal(command, args)
        with _open_session(args, journal, credentials) as session:
            return _run(command, session, args)
    except KeyboardInterrupt:
        print(
            f"segwidgets {command}: interrupted. Batches already answered are in the journal; "
            "`segwidgets history` shows the run and `segwidgets resume RUN_ID` finishes it.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (InputFileError, PlanError, ConfigurationError, TornReadError) as exc:
        print(f"segwidgets {command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ApplyIncompleteError as exc:
        print(f"segwidgets {command}: {exc}", file=sys.stderr)
        if exc.result is not None:
            _print_result(exc.result)
        return EXIT_FAILED
    except SegwidgetsError as exc:
        print(f"segwidgets {command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if journal is not None:
            journal.close()
