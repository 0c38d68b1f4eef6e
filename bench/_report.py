"""What a benchmark reports: named checks against limits, raw numbers, and the JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

__all__ = [
    "Check",
    "Status",
    "TargetResult",
    "format_result",
    "markdown_table",
    "write_json",
]

#: ``pass``/``fail`` against the target; ``not measured`` when it could not run (said why).
Status: TypeAlias = Literal["pass", "fail", "not measured", "error"]


@dataclass(frozen=True)
class Check:
    """One measured value against its limit: ``value <= limit`` (``at_most``) or ``>=``."""

    name: str
    value: float | None
    limit: float
    kind: Literal["at_most", "at_least", "equal"] = "at_most"
    unit: str = "x"

    @property
    def passed(self) -> bool | None:
        """None when the value could not be measured."""
        if self.value is None or math.isnan(self.value):
            return None
        if self.kind == "at_most":
            return self.value <= self.limit
        if self.kind == "at_least":
            return self.value >= self.limit
        return self.value == self.limit

    def line(self) -> str:
        """``name: value (limit ...) PASS``."""
        sign = {"at_most": "<=", "at_least": ">=", "equal": "=="}[self.kind]
        shown = "n/a" if self.value is None else _number(self.value, self.unit)
        verdict = {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[self.passed]
        return f"{self.name}: {shown} (target {sign} {_number(self.limit, self.unit)})  {verdict}"


def _number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "GiB":
        return f"{value:.2f} GiB"
    return f"{value:g} {unit}"


@dataclass
class TargetResult:
    """The outcome of one target: its checks, the raw numbers, and what limits them."""

    number: int
    name: str
    checks: list[Check] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    skipped_reason: str | None = None

    @property
    def status(self) -> Status:
        """``pass`` only when every check passed."""
        if self.error is not None:
            return "error"
        if self.skipped_reason is not None or not self.checks:
            return "not measured"
        verdicts = [c.passed for c in self.checks]
        if any(v is False for v in verdicts):
            return "fail"
        if any(v is None for v in verdicts):
            return "not measured"
        return "pass"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with each check's verdict."""
        return {
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "checks": [asdict(c) | {"passed": c.passed} for c in self.checks],
            "numbers": self.numbers,
            "notes": self.notes,
            "error": self.error,
            "skipped_reason": self.skipped_reason,
        }


def format_result(result: TargetResult) -> str:
    """A few lines for the terminal."""
    lines = [f"[{result.number}] {result.name}: {result.status.upper()} ({result.seconds:.0f} s)"]
    if result.error:
        lines.append(f"    error: {result.error}")
    if result.skipped_reason:
        lines.append(f"    not measured: {result.skipped_reason}")
    lines += [f"    {check.line()}" for check in result.checks]
    lines += [f"    - {note}" for note in result.notes]
    return "\n".join(lines)


def write_json(
    directory: Path,
    *,
    mode: str,
    machine: dict[str, Any],
    run: dict[str, Any],
    results: list[TargetResult],
) -> Path:
    """Write ``<UTC time>-<mode>.json`` into ``directory`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}-{mode}.json"
    payload = {
        "format": "segwidgets-bench/1",
        "mode": mode,
        "run": run,
        "machine": machine,
        "targets": [r.to_dict() for r in results],
    }
    path.write_text(json.dumps(payload, indent=2, default=_plain) + "\n", encoding="utf-8")
    return path


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def markdown_table(payload: dict[str, Any]) -> str:
    """The checks of a saved run as a Markdown table (for ``docs/benchmarks.md``)."""
    rows = ["| # | target | check | measured | target | verdict |", "|---|---|---|---|---|---|"]
    for target in payload["targets"]:
        checks = target["checks"] or [None]
        for check in checks:
            if check is None:
                why = target.get("skipped_reason") or target.get("error") or ""
                rows.append(
                    f"| {target['number']} | {target['name']} | — | — | — | "
                    f"{target['status']} {why} |"
                )
                continue
            sign = {"at_most": "≤", "at_least": "≥", "equal": "="}[check["kind"]]
            value = check["value"]
            shown = "n/a" if value is None else _number(value, check["unit"])
            verdict = {True: "pass", False: "**FAIL**", None: "not measured"}[check["passed"]]
            rows.append(
                f"| {target['number']} | {target['name']} | {check['name']} | {shown} | "
                f"{sign} {_number(check['limit'], check['unit'])} | {verdict} |"
            )
    return "\n".join(rows)
