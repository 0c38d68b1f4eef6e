"""``python -m segwidgets.sandbox``: prints how to connect, serves, stops cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest

from segwidgets.sandbox.__main__ import build_parser, main


def _start(*flags: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "segwidgets.sandbox", "--port", "0", "--customers", "50", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    for _ in range(50):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Press Ctrl-C"):
            return process, lines
    process.kill()
    raise AssertionError(
        f"the sandbox did not start: {lines} {process.stderr.read() if process.stderr else ''}"
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_interrupted(stop: signal.Signals) -> None:
    process, lines = _start(
        "--delete-delay", "none", "--retry-after", "0,date+3", "--no-item-errors"
    )
    try:
        text = "\n".join(lines)
        match = re.search(r"base URL template: (http://127\.0\.0\.1:\d+)/\{service\}", text)
        assert match, text
        assert "client secret  sandbox-secret" in text
        state = httpx.get(match.group(1) + "/_sandbox/state", timeout=10).json()
        assert state["customers"] == 50
        assert state["settings"]["delete_delay"] is None
        assert state["settings"]["retry_after"] == ["0", "date+3"]
        assert state["settings"]["item_errors"] is False
        assert state["settings"]["latency"] == 0.0
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Sandbox stopped." in out


def test_cli_refuses_bad_knobs_without_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--error-429-rate", "2"]) == 2
    assert "error_429_rate" in capsys.readouterr().err


def test_every_knob_has_a_flag() -> None:
    help_text = build_parser().format_help()
    for flag in (
        "--max-page-size",
        "--max-members-per-request",
        "--duplicate-add",
        "--delete-delay",
        "--token-ttl",
        "--rate-limit",
        "--error-429-rate",
        "--retry-after",
        "--error-5xx-rate",
        "--error-5xx-status",
        "--lost-response-rate",
        "--latency",
        "--item-errors",
        "--fault-scope",
        "--fault-seed",
        "--page-limit-mode",
        "--member-paging",
        "--refused-items",
        "--email-filter",
        "--filter-in",
        "--total-counts-pending",
    ):
        assert flag in help_text


def test_switch_flags_parse_to_settings() -> None:
    args = build_parser().parse_args(
        [
            "--member-paging",
            "cursor",
            "--page-limit-mode",
            "clamp",
            "--max-page-size",
            "250",
            "--refused-items",
            "400",
            "--email-filter",
            "insensitive",
            "--filter-in",
            "off",
            "--no-total-counts-pending",
        ]
    )
    assert (
        vars(args).items()
        >= {
            "member_paging": "cursor",
            "page_limit_mode": "clamp",
            "max_page_size": 250,
            "refused_items": "400",
            "email_filter": "insensitive",
            "filter_in": "off",
            "total_counts_pending": False,
        }.items()
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--member-paging", "pages"])


def test_segwidgets_command_dispatches_here() -> None:
    from segwidgets.cli import main as segwidgets_main

    assert segwidgets_main(["sandbox", "--port", "0", "--token-ttl", "0"]) == 2
