"""Every benchmark runs at tiny sizes and reports its numbers (never a timing assertion)."""

from __future__ import annotations

import json

import pytest

from bench import TARGETS, TargetResult, run_benchmarks, sizes_for
from bench.__main__ import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results() -> dict[int, TargetResult]:
    return {r.number: r for r in run_benchmarks(sizes_for("smoke"))}


@pytest.mark.parametrize("number", sorted(TARGETS))
def test_benchmark_runs_and_reports_its_numbers(
    results: dict[int, TargetResult], number: int
) -> None:
    result = results[number]
    assert result.error is None, result.numbers.get("traceback")
    if result.status == "not measured":
        # only the panel target may be unmeasurable (when its widget is missing), and says why
        assert number == 6
        assert result.skipped_reason
        return
    assert result.checks
    assert all(check.value is not None for check in result.checks)
    assert all(check.passed is not None for check in result.checks)
    assert result.numbers
    assert result.notes
    assert result.status in {"pass", "fail"}


def test_correctness_checks_hold_at_smoke_size(results: dict[int, TargetResult]) -> None:
    # Request counts and final states are exact whatever the machine's speed.
    push = results[1].numbers
    assert push["engine"]["client_write_requests"] == push["minimum_write_requests"]
    assert push["engine"]["final_equals_plan"]
    assert push["sdk"]["final_equals_plan"]
    faults = results[2].numbers
    assert faults["faulty"]["final_equals_plan"]
    assert faults["faulty"]["server_write_applied"] == faults["minimum_write_requests"]
    read = results[5].numbers
    assert read["requests"] == read["pages"]
    assert read["read_members"] == read["members"]
    assert read["bare_walk_pages"] == min(200, read["pages"])
    assert read["bare_walk_per_page"] > 0
    for cell in results[3].numbers["cells"]:
        assert cell["auto_requests"] <= cell["request_bound"]
    sizes = results[4].numbers["sizes"]
    for runs in sizes.values():
        assert len({(r["n_add"], r["n_remove"], r["n_unchanged"]) for r in runs.values()}) == 1


def test_command_line_writes_the_raw_numbers(tmp_path, capsys) -> None:
    code = main(["--smoke", "--only", "6,7", "--out", str(tmp_path)])
    assert code in {0, 1}
    out = capsys.readouterr().out
    assert "[6] Panels at scale" in out
    assert "[7] Input reading" in out
    (path,) = tmp_path.glob("*-smoke.json")
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["mode"] == "smoke"
    assert {"cpu", "cores_logical", "python", "packages"} <= set(payload["machine"])
    assert [t["number"] for t in payload["targets"]] == [6, 7]
    assert all(t["checks"] for t in payload["targets"] if t["status"] != "not measured")


def test_only_rejects_unknown_targets(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--smoke", "--only", "9"])
    assert "targets are numbers" in capsys.readouterr().err
