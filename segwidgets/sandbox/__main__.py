"""``python -m segwidgets.sandbox`` / ``segwidgets sandbox``: run the emulator until Ctrl-C.

Prints the base URL template and the (sandbox) credentials to use, then serves. Every
knob of ``Settings`` has a flag (``--delete-delay 0``, ``--error-429-rate 0.3``,
``--retry-after 0,1,date+3``, ``--no-item-errors``, ``--member-paging cursor``; ``none`` for "no value").
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .._config import is_loopback_host
from .._errors import ConfigurationError
from ._handle import start
from ._settings import KNOB_NAMES, Settings
from ._tokens import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_PASSWORD, SANDBOX_USERNAME

__all__ = ["build_parser", "main"]

_HELP = {
    "max_page_size": "largest limit a list call honours (see --page-limit-mode)",
    "page_limit_mode": "a limit over the maximum: reject (400 naming limit) or clamp",
    "member_paging": "how segment members are paged: offset or cursor",
    "refused_items": "member writes naming unknown customers: 2xx-body (apply the rest, "
    "list them in errors) or 400 (apply nothing)",
    "email_filter": "how the emailAddress filter compares: exact or insensitive",
    "filter_in": "where {$in: [...]} works in filters: id, all (id and emailAddress) or off",
    "member_filter": "filters of the member list: applied, or ignored (the unfiltered page)",
    "total_counts_pending": "count members with a pending DELETE in totalItemCount",
    "delete_non_member": "a member DELETE naming a customer that is not a member: noop or "
    "item-error (refused like an unknown customer)",
    "max_members_per_request": "largest members array per write (see --oversize-status)",
    "oversize_status": "a member batch over the maximum: 400 (validation body) or 413",
    "signin_error": "body of a refused sign-in: oauth (error, error_description) or platform",
    "duplicate_add": "adding an existing member: ignore (no-op) or conflict (409)",
    "delete_delay": "seconds until a member DELETE applies; none = never",
    "token_ttl": "bearer token lifetime in seconds",
    "rate_limit": "requests per second per merchant before 429; none = unlimited",
    "error_429_rate": "share of API calls answered 429",
    "retry_after": "comma-separated Retry-After values of injected 429s: N or date+N",
    "error_5xx_rate": "share of API calls answered with --error-5xx-status",
    "error_5xx_status": "status of injected server errors",
    "lost_response_rate": "share of member writes applied, then answered by a dropped connection",
    "latency": "seconds added to every API call",
    "item_errors": "list the rejected ids of a member batch in the error body",
    "fault_scope": "which calls the injected 429/5xx hit: all (incl. token), reads, writes",
    "fault_seed": "seed of the fault draws (reproducible faults); none = random",
}


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in {"none", "null", ""} else convert(text)

    parse.__name__ = convert.__name__
    return parse


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


_CONVERT: dict[str, Callable[[str], Any]] = {
    "max_page_size": int,
    "max_members_per_request": int,
    "oversize_status": int,
    "delete_delay": _optional(float),
    "token_ttl": float,
    "rate_limit": _optional(float),
    "error_429_rate": float,
    "retry_after": _list,
    "error_5xx_rate": float,
    "error_5xx_status": int,
    "lost_response_rate": float,
    "latency": float,
    "fault_seed": _optional(int),
}
_CHOICES = {
    "duplicate_add": ("ignore", "conflict"),
    "fault_scope": ("all", "reads", "writes"),
    "page_limit_mode": ("reject", "clamp"),
    "member_paging": ("offset", "cursor"),
    "refused_items": ("2xx-body", "400"),
    "email_filter": ("exact", "insensitive"),
    "filter_in": ("id", "all", "off"),
    "member_filter": ("applied", "ignored"),
    "delete_non_member": ("noop", "item-error"),
    "signin_error": ("oauth", "platform"),
}
_FLAGS = ("item_errors", "total_counts_pending")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one flag per knob, defaults from ``Settings``)."""
    parser = argparse.ArgumentParser(
        prog="segwidgets sandbox",
        description="Run the local Shopgate emulator (auth, customer, segmentation).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: a free one)")
    parser.add_argument("--customers", type=int, default=5000, help="seeded customers")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data")
    parser.add_argument("--db", default=None, help="SQLite file that keeps the state")
    parser.add_argument("--merchant", default="DEMO", help="merchant code")
    parser.add_argument("--client-id", default=SANDBOX_CLIENT_ID)
    parser.add_argument("--client-secret", default=SANDBOX_CLIENT_SECRET)
    parser.add_argument("--username", default=SANDBOX_USERNAME)
    parser.add_argument("--password", default=SANDBOX_PASSWORD)
    knobs = parser.add_argument_group("behaviour knobs (changeable later: POST /_sandbox/settings)")
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        name = field.name
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        shown = ",".join(default) if isinstance(default, list) else default
        help_text = f"{_HELP[name]} (default: {shown})"
        # SUPPRESS: a flag left out does not appear, so the knob keeps its default.
        if name in _FLAGS:
            knobs.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif name in _CHOICES:
            knobs.add_argument(
                flag, choices=_CHOICES[name], default=argparse.SUPPRESS, help=help_text
            )
        else:
            knobs.add_argument(
                flag,
                type=_CONVERT[name],
                default=argparse.SUPPRESS,
                metavar="VALUE",
                help=help_text,
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until Ctrl-C; returns the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    options = vars(args)
    knobs = {name: options[name] for name in KNOB_NAMES if name in options}
    if not is_loopback_host(args.host):
        print(
            f"WARNING: binding {args.host}, not a loopback address; the sandbox credentials "
            "are public, so anyone who can reach this machine can use it.",
            file=sys.stderr,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # warned above, in plain words
            handle = start(
                host=args.host,
                port=args.port,
                customers=args.customers,
                seed=args.seed,
                db=args.db,
                merchant=args.merchant,
                client_id=args.client_id,
                client_secret=args.client_secret,
                username=args.username,
                password=args.password,
                **knobs,
            )
    except (ConfigurationError, OSError, ValueError) as exc:
        print(f"segwidgets sandbox: {exc}", file=sys.stderr)
        return 2
    print(f"Shopgate sandbox on {handle.url} (merchant {handle.merchant})")
    print(f"  base URL template: {handle.base_url}")
    print(f"  token endpoint:    {handle.url}/auth/oauth/token")
    print("  sandbox credentials (valid only here):")
    print(f"    merchant code  {args.merchant}")
    print(f"    client id      {args.client_id}")
    print(f"    client secret  {args.client_secret}")
    print(f"    username       {args.username}")
    print(f"    password       {args.password}")
    print(f"  OpenAPI spec:      {handle.url}/openapi.json")
    print(f"  state:             {handle.url}/_sandbox/state")
    print("Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        handle.stop()
    print("Sandbox stopped.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
