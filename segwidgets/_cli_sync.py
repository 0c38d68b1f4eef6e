"""``segwidgets sync | history | undo | resume``: the headless commands for scheduled syncs.

Exit codes: 0 done and verified (or nothing to do), 1 failed, 2 bad input, refused plan
or a file that cannot be written (``--save-plan``, ``--journal``), 3 applied but not
verified, 130 interrupted (Ctrl-C; the message names the run to resume).

``history``, ``undo`` and ``resume`` need an existing journal: a missing, emptied or damaged
one is reported (exit 1), never read as "no runs".
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from ._config import Credentials
from ._errors import (
    ApplyIncompleteError,
    ConfigurationError,
    InputFileError,
    JournalError,
    PlanError,
    SegwidgetsError,
    TornReadError,
)
from ._journal import DEFAULT_LOCK_TIMEOUT, Journal
from ._members import DEFAULT_MAX_BYTES
from ._segment_code import check_segment_code, safe_repr
from ._types import AmbiguityPolicy, Mode, StaleCheck

if TYPE_CHECKING:
    from ._plan import SegmentPlan
    from ._result import ApplyResult
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


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"must be a number, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not math.isfinite(value) or value <= 0:
        msg = f"must be a positive number, not {text!r}"
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
        parser.add_argument(
            "--max-input-mb",
            type=_positive_number,
            default=DEFAULT_MAX_BYTES / (1 << 20),
            help="refuse a member file larger than this many MiB (default 512)",
        )
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
        _stale_check(parser)
    elif command == "history":
        parser.description = "List past runs, newest first."
        parser.add_argument("--segment", help="only runs of this segment")
    elif command == "undo":
        parser.description = "Plan the reversal of a run; with --yes, apply it."
        parser.add_argument("run_id")
        parser.add_argument("--yes", action="store_true")
        parser.add_argument("--allow-mass-removal", action="store_true")
        _stale_check(parser)
    elif command == "resume":
        parser.description = "Finish an interrupted run."
        parser.add_argument("run_id")
    _common(parser)
    return parser


def _stale_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stale-check",
        choices=get_args(StaleCheck),
        default="auto",
        help=(
            "how the plan is checked current before anything is sent: full (read every "
            "page of the segment; sees any change), changes (the segment's total and the "
            "planned ids by $in; far fewer requests, but blind to a swap of members the plan "
            "does not touch), auto (default: the one that needs fewer requests)"
        ),
    )


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


def _print_plan(plan: SegmentPlan, stale_check: StaleCheck = "auto") -> None:
    print(
        f"plan for segment {plan.segment_code!r} ({plan.mode}): "
        f"{plan.n_live:,} live → {plan.n_after:,} after; "
        f"add {plan.n_add:,}, remove {plan.n_remove:,}, keep {plan.n_unchanged:,}"
    )
    print(f"estimate: {plan.estimate(stale_check=stale_check)}")


def _print_result(result: ApplyResult) -> int:
    print(
        f"run {result.run_id}: {result.status} — added {result.n_added:,}, removed "
        f"{result.n_removed:,}, failed {result.n_failed:,}, unverified {result.n_unverified:,}, "
        f"not sent {result.n_pending:,}, unknown {result.n_unknown:,} "
        f"({result.n_requests:,} requests, {result.seconds:.1f} s)"
    )
    if result.stale_method != "none":
        how = f"stale check: {result.stale_method}"
        if result.verify_method != "none":
            how += f"; verification: {result.verify_method}"
        print(how)
    if result.message:
        print(result.message)
    # Shopgate's reason for each refusal: one line per reason with its count, ids under it.
    for line in result.failure_lines(max_reasons=20, max_ids=10):
        print(f"  {line}")
    for row in result.unverified.head(20).iter_rows(named=True):
        print(f"  unverified {row['action']} {row['customer_id']}")
    if result.status in {"verified", "applied", "dry_run"}:
        return EXIT_OK
    if result.status == "accepted_unverified":
        return EXIT_UNVERIFIED
    return EXIT_FAILED


def _sync(session: SegmentSession, args: argparse.Namespace) -> int:
    from ._members import read_members

    members = read_members(
        args.members, column=args.column, max_bytes=int(args.max_input_mb * (1 << 20))
    )
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
    _print_plan(plan, args.stale_check)
    if args.save_plan:
        print(f"plan saved to {_save_plan(plan, args.save_plan)}")
    if args.dry_run:
        return _print_result(session.apply(plan, dry_run=True, stale_check=args.stale_check))
    if not args.yes:
        print("nothing sent: add --yes to apply this plan")
        return EXIT_OK
    if plan.is_empty():
        print("nothing to do: the segment already matches")
        return EXIT_OK
    return _print_result(session.apply(plan, stale_check=args.stale_check))


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
        _print_plan(plan, args.stale_check)
        if not args.yes:
            print("nothing sent: add --yes to apply the undo")
            return EXIT_OK
        return _print_result(session.apply(plan, stale_check=args.stale_check))
    return _print_result(session.resume(args.run_id))


def main(command: str, argv: Sequence[str]) -> int:
    """Run one headless command; returns its exit code.

    Every error ends in one line on stderr and an exit code, never a traceback: Ctrl-C
    ends with exit 130 and names the run to resume, if one had started.
    """
    args = _parser(command).parse_args(list(argv))
    level = logging.WARNING
    if args.verbose:
        level = logging.DEBUG if args.verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    journal: Journal | None = None
    try:
        _check_arguments(args)
    except (ConfigurationError, OutputFileError) as exc:
        _say_error(command, exc)
        return EXIT_BAD_INPUT
    try:
        # Credentials first: a missing setting is bad input (exit 2) whatever the journal.
        credentials = None if args.sandbox else Credentials.from_env()
        journal = _open_journal(command, args)
        session = _open_session(args, journal, credentials)
    except KeyboardInterrupt:
        print(f"segwidgets {command}: interrupted — nothing was sent", file=sys.stderr)
        return _closed(journal, EXIT_INTERRUPTED)
    except JournalError as exc:
        _say_error(command, exc, options_for="journal")
        return _closed(journal, _journal_exit_code(command, exc))
    except (ConfigurationError, OSError, sqlite3.Error) as exc:
        _say_error(command, exc)
        return _closed(journal, EXIT_BAD_INPUT)
    try:
        with session:
            known = _run_ids(session)
            try:
                return _run(command, session, args)
            except KeyboardInterrupt:
                return _interrupted(command, session, args, known)
    except KeyboardInterrupt:  # a second Ctrl-C while closing
        print(f"segwidgets {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (InputFileError, PlanError, ConfigurationError, TornReadError, OutputFileError) as exc:
        _say_error(command, exc)
        return EXIT_BAD_INPUT
    except ApplyIncompleteError as exc:
        print(f"segwidgets {command}: {_one_line(str(exc))}", file=sys.stderr)
        if exc.result is not None:
            _print_result(exc.result)
        return EXIT_FAILED
    except (OSError, sqlite3.Error) as exc:
        # The journal's file system (disk full, permissions changed meanwhile).
        _say_error(command, exc, hint=" Check the journal's disk and permissions (--journal).")
        return EXIT_BAD_INPUT
    except SegwidgetsError as exc:
        _say_error(command, exc)
        return EXIT_FAILED
    finally:
        if journal is not None:
            journal.close()


class OutputFileError(Exception):
    """A file the command must write (``--save-plan``) cannot be written."""


def _check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be checked before any request or file is read."""
    if getattr(args, "segment", None) is not None:
        check_segment_code(args.segment)
    if getattr(args, "save_plan", None):
        _check_writable(Path(args.save_plan), "--save-plan")
    if args.journal:
        _check_journal(Path(args.journal))
    if not math.isfinite(args.verify_timeout) or args.verify_timeout < 0:
        msg = f"--verify-timeout must be a number of seconds >= 0, not {args.verify_timeout}."
        raise ConfigurationError(msg)


def _check_writable(path: Path, option: str) -> None:
    shown = safe_repr(str(path), limit=200)
    parent = path.parent
    if path.is_dir():
        problem = "is a directory; name a file inside it"
    elif path.exists() and not path.is_file():
        problem = "exists and is not a regular file (a device or a pipe?); name a plain file"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "cannot be written: permission denied"
    elif not parent.exists():
        problem = (
            f"cannot be created: the directory {safe_repr(str(parent), limit=200)} does not exist"
        )
    elif not parent.is_dir():
        problem = f"cannot be created: {safe_repr(str(parent), limit=200)} is not a directory"
    elif not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        problem = "cannot be created: permission denied in its directory"
    else:
        return
    raise OutputFileError(f"{option} {shown} {problem}.")


def _check_journal(path: Path) -> None:
    shown = safe_repr(str(path), limit=200)
    if path.is_dir():
        msg = f"--journal {shown} is a directory; name a file inside it."
        raise OutputFileError(msg)
    if path.exists() and not path.is_file():
        msg = f"--journal {shown} is not a regular file (a device or a pipe?); name a plain file."
        raise OutputFileError(msg)
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        msg = f"--journal {shown} cannot be used: {safe_repr(str(parent), limit=200)} is not a directory."
        raise OutputFileError(msg)


def _save_plan(plan: SegmentPlan, path: str) -> Path:
    try:
        return plan.save(path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        msg = (
            f"--save-plan {safe_repr(path, limit=200)} could not be written ({reason}). "
            "Nothing was sent; choose another file or free some space."
        )
        raise OutputFileError(msg) from None


def _run_ids(session: SegmentSession) -> set[str]:
    try:
        return set(session.history().get_column("run_id").to_list())
    except (SegwidgetsError, sqlite3.Error):
        return set()


def _interrupted(
    command: str, session: SegmentSession, args: argparse.Namespace, known: set[str]
) -> int:
    run_id: str | None = getattr(args, "run_id", None) if command == "resume" else None
    if run_id is None:
        new = sorted(_run_ids(session) - known)
        run_id = new[-1] if new else None
    if run_id is None:
        print(f"segwidgets {command}: interrupted — nothing was sent", file=sys.stderr)
    else:
        print(
            f"segwidgets {command}: interrupted — run {run_id}; "
            f"`segwidgets resume {run_id}` sends the rest",
            file=sys.stderr,
        )
    return EXIT_INTERRUPTED


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _say_error(
    command: str, exc: BaseException, *, hint: str = "", options_for: str | None = None
) -> None:
    if isinstance(exc, OSError) and not isinstance(exc, SegwidgetsError):
        where = f" ({safe_repr(str(exc.filename), limit=200)})" if exc.filename else ""
        text = f"file system error{where}: {exc.strerror or type(exc).__name__}."
    elif isinstance(exc, sqlite3.Error):
        text = f"journal error: {exc}."
    elif isinstance(exc, OutputFileError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    if options_for is not None:  # the library's advice names its keyword, the CLI an option
        for verb in ("Pass", "pass"):
            text = text.replace(
                f"{verb} {options_for}= another path", f"{verb} --{options_for} another file"
            )
    print(f"segwidgets {command}: {_one_line(text + hint)}", file=sys.stderr)


def _journal_exit_code(command: str, exc: JournalError) -> int:
    """A journal held by another process is a failure to retry later (1); a --journal path
    that cannot be opened at all (through a file, no permission) is bad input (2); a journal
    that is missing, emptied or damaged leaves a reading command without the runs it needs
    (1) and is unusable input for a sync (2)."""
    cause = exc.__cause__
    if isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause):
        return EXIT_FAILED
    if isinstance(cause, OSError):
        return EXIT_BAD_INPUT
    return EXIT_FAILED if command in _READING else EXIT_BAD_INPUT


def _closed(journal: Journal | None, code: int) -> int:
    if journal is not None:
        journal.close()
    return code
