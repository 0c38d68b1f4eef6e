"""The ``segwidgets`` command: ``sandbox``, ``demo``, ``sync``, ``history``, ``undo``, ``resume``,
``doctor``.

Each subcommand lives in its own module and is imported only when it runs.

``sync`` reads member lists of any size. Before polars is loaded, it asks polars' memory
allocator (jemalloc) to give freed memory back to the system at once
(``_RJEM_MALLOC_CONF=dirty_decay_ms:0``, unless that variable is set already; polars adds
it after its own defaults): by default freed pages are kept for a while, and a big list's
short-lived copies then add up in the process's resident size. In a notebook, set the
variable before importing polars for the same effect.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

#: jemalloc's settings for polars in ``segwidgets sync`` (see the module docstring).
_ALLOCATOR_SETTINGS = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0")

_USAGE = """usage: segwidgets COMMAND [options]
       python -m segwidgets COMMAND [options]

commands:
  sandbox   run the local Shopgate emulator on 127.0.0.1
  demo      copy the example notebooks to a folder and open JupyterLab there (sandbox)
  sync      sync a segment with a member list (headless; for scheduled jobs)
  history   list past runs from the local journal
  undo      plan (and with --yes apply) the reversal of a run
  resume    finish an interrupted run
  doctor    probe how the Shopgate answers (read-only unless --write-test)

Run `segwidgets COMMAND --help` for a command's options; `segwidgets --version` for the version.
"""


def _sandbox(argv: Sequence[str]) -> int:
    from .sandbox.__main__ import main as sandbox_main

    return sandbox_main(argv)


def _demo(argv: Sequence[str]) -> int:
    from ._demo import main as demo_main

    return demo_main(argv)


def _sync_family(name: str) -> Callable[[Sequence[str]], int]:
    def run(argv: Sequence[str]) -> int:
        if name == "sync" and "polars" not in sys.modules:
            os.environ.setdefault(*_ALLOCATOR_SETTINGS)
        from . import _cli_sync

        return _cli_sync.main(name, argv)

    return run


def _doctor(argv: Sequence[str]) -> int:
    """``segwidgets doctor``: exit 0 when every probe ran, 1 when one failed, 2 on bad input."""
    import argparse

    from ._errors import ConfigurationError, SegwidgetsError
    from ._session import SegmentSession
    from .sandbox.__main__ import build_parser as sandbox_parser
    from .sandbox._settings import KNOB_NAMES

    parser = argparse.ArgumentParser(
        prog="segwidgets doctor",
        description="Probe how Shopgate answers (page size, member paging, email filter, "
        "$in) and remember it for this merchant. Read-only unless --write-test.",
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="probe a fresh local sandbox instead"
    )
    parser.add_argument(
        "--sandbox-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a knob of that sandbox, e.g. member_paging=cursor (repeatable)",
    )
    parser.add_argument(
        "--write-test",
        action="store_true",
        help="also create a scratch segment, add and remove one member, delete it",
    )
    parser.add_argument("--journal", help="journal file that keeps what was learned")
    args = parser.parse_args(list(argv))
    flags: list[str] = []
    for setting in args.sandbox_setting:
        name, sep, value = setting.partition("=")
        name = name.strip()
        flag = "--" + name.replace("_", "-")
        if not sep or name not in KNOB_NAMES:
            print(
                f"segwidgets doctor: {setting!r} is not NAME=VALUE with a sandbox setting "
                f"({', '.join(KNOB_NAMES)})",
                file=sys.stderr,
            )
            return 2
        if value.strip().lower() in {"true", "false"}:
            flags.append(flag if value.strip().lower() == "true" else "--no-" + flag[2:])
        else:
            flags += [flag, value]
    if flags and not args.sandbox:
        print("segwidgets doctor: --sandbox-setting needs --sandbox", file=sys.stderr)
        return 2
    try:
        given = vars(sandbox_parser().parse_args(flags))
    except SystemExit:
        return 2
    knobs = {k: v for k, v in given.items() if k in KNOB_NAMES}
    try:
        if args.sandbox:
            session = SegmentSession.sandbox(journal=args.journal, **knobs)
        else:
            session = SegmentSession.from_env(journal=args.journal)
        with session:
            report = session.doctor(write_test=args.write_test)
    except ConfigurationError as exc:
        print(f"segwidgets doctor: {exc}", file=sys.stderr)
        return 2
    except SegwidgetsError as exc:
        print(f"segwidgets doctor: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(report.to_text())
    return 0 if report.ok else 1


_COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sandbox": _sandbox,
    "demo": _demo,
    "sync": _sync_family("sync"),
    "history": _sync_family("history"),
    "undo": _sync_family("undo"),
    "resume": _sync_family("resume"),
    "doctor": _doctor,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``segwidgets`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_USAGE)
        return 0
    if args[0] in {"-V", "--version"}:
        from . import __version__

        print(f"segwidgets {__version__}")
        return 0
    command = _COMMANDS.get(args[0])
    if command is None:
        print(f"segwidgets: unknown command {args[0]!r}\n\n{_USAGE}", file=sys.stderr)
        return 2
    try:
        return command(args[1:])
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling: no traceback
        print(f"segwidgets {args[0]}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
