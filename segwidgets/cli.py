"""The ``segwidgets`` command: ``sandbox``, ``demo``, ``sync``, ``history``, ``undo``, ``resume``.

Each subcommand lives in its own module and is imported only when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

_USAGE = """usage: segwidgets COMMAND [options]
       python -m segwidgets COMMAND [options]

commands:
  sandbox   run the local Shopgate emulator on 127.0.0.1
  demo      copy the example notebooks to a folder and open JupyterLab there (sandbox)
  sync      sync a segment with a member list (headless; for scheduled jobs)
  history   list past runs from the local journal
  undo      plan (and with --yes apply) the reversal of a run
  resume    finish an interrupted run

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
        from . import _cli_sync

        return _cli_sync.main(name, argv)

    return run


_COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sandbox": _sandbox,
    "demo": _demo,
    "sync": _sync_family("sync"),
    "history": _sync_family("history"),
    "undo": _sync_family("undo"),
    "resume": _sync_family("resume"),
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
    return command(args[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
