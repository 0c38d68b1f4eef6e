"""Every benchmark runs at tiny sizes and reports its numbers (never a timing assertion)."""

from __future__ import annotations

import json

import pytest

from bench import TARGETS, TargetResult, run_benchmarks, sizes_for
from bench.__main__ import main
from bench._sync import request_bound

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results() -> dict[int, TargetResult]:
    return {r.number: r for r in run_benchmarks(sizes_for("smoke"), only=sorted(TARGETS))}


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
    push = results[8].numbers
    assert push["engine"]["client_write_requests"] == push["minimum_write_requests"]
    assert push["engine"]["final_equals_plan"]
    assert push["sdk"]["final_equals_plan"]
    faults = results[9].numbers
    assert faults["faulty"]["final_equals_plan"]
    assert faults["faulty"]["server_write_applied"] == faults["minimum_write_requests"]
    cells = results[3].numbers["cells"]
    # every filter setting: filter_in id/all/off x email_filter exact/insensitive
    assert {(c["filter_in"], c["email_filter"]) for c in cells} == {
        (f, e) for f in ("id", "all", "off") for e in ("exact", "insensitive")
    }
    for cell in cells:
        assert cell["runs"]["auto"]["max_requests"] <= cell["request_bound_known"]
        assert cell["runs"]["auto_first"]["max_requests"] <= cell["request_bound"]
        # interleaved: every way measured the same number of times
        assert len({run["repeats"] for run in cell["runs"].values()}) == 1
    sizes = results[4].numbers["sizes"]
    for runs in sizes.values():
        assert len({(r["n_add"], r["n_remove"], r["n_unchanged"]) for r in runs.values()}) == 1


def test_reading_counts_its_pages_exactly(results: dict[int, TargetResult]) -> None:
    smoke = sizes_for("smoke")
    read = results[1].numbers
    assert read["members"] == read["read_members"] == smoke.read_members
    assert read["pages"] == -(-smoke.read_members // 100)
    # every page once, and at most one more request to see the end
    assert read["pages"] <= read["requests"] <= read["pages"] + 1
    assert read["sequential"]["pages"] == smoke.read_sequential_pages
    assert read["sequential"]["members"] == 100 * smoke.read_sequential_pages
    assert read["plan_adds"] == read["plan_removes"] == smoke.read_members // 100
    assert read["rss_peak"] >= read["rss_before"] > 0


def test_whole_apply_counts_each_phase(results: dict[int, TargetResult]) -> None:
    smoke = sizes_for("smoke")
    point = results[2].numbers
    assert point["final_equals_plan"]
    assert (point["adds"], point["removes"]) == (smoke.apply_adds, smoke.apply_removes)
    phases = point["phase_requests"]
    assert sum(phases.values()) == point["apply_requests"]
    writes = point["by_route"]["POST members.add"] + point["by_route"]["DELETE members.remove"]
    bound = request_bound(point)
    # exactly the minimum writes: ceil(150 / 100) + ceil(150 / 100) at batches of 100
    assert writes == bound["write_requests"] == 4
    # the stale check by the changes (fewer requests than the 21 pages): the segment, the
    # 300 changed ids in 3 $in lookups, the total; exactly what the estimate said
    pages = point["pages_before"]
    assert point["stale_method"] == "changes"
    assert phases["check"] == bound["check_requests"] == 1 + 3 + 1
    assert point["estimate_phases"]["check"]["n_requests"] == phases["check"]
    assert point["by_route"]["GET segments.get"] == 1 + 1  # the check's, one count check
    # the push: the 4 writes and one member-count check after the last
    assert phases["push"] == 4 + 1
    # the plan reads the segment once
    assert pages <= point["plan_requests"] <= pages + 2
    # verification: the 150 adds and then the 150 removes by $in (2 + 2), and the last
    # lookup of the removes again while they apply (the sandbox shows them after 0.5 s)
    assert point["verify_method"] == "in-filter"
    assert bound["verify_requests"] == min(point["pages_after"], 3)
    assert 2 + 2 <= phases["verify"] <= 2 + 2 + 4


def test_panel_times_showing_and_replacing_a_plan(results: dict[int, TargetResult]) -> None:
    panel = results[6]
    if panel.status != "not measured":  # measured wherever the widgets are installed
        assert len(panel.numbers["all_seconds"]) == 3
        assert panel.numbers["replace_seconds"] > 0


def test_sandbox_scale_walks_every_member_once(results: dict[int, TargetResult]) -> None:
    scale = results[10].numbers
    assert scale["customers"] == sizes_for("smoke").sandbox_customers
    assert 0 < scale["members"] <= scale["customers"]
    assert scale["walk_members"] == scale["members"]
    # offset pages of 100 until a short one: a full page is never the last
    assert scale["walk_requests"] == scale["members"] // 100 + 1


def test_growth_measures_every_size(results: dict[int, TargetResult]) -> None:
    smoke = sizes_for("smoke")
    points = results[5].numbers["points"]
    assert [p["members"] for p in points] == list(smoke.growth_members)
    for p in points:
        assert p["final_equals_plan"]
        assert p["adds"] == p["removes"] == p["members"] // 100
        assert p["total_requests"] == p["plan_requests"] + p["apply_requests"]
        # projecting to a slower latency only adds time
        assert p["projected_seconds"] >= p["total_seconds"]


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
        main(["--smoke", "--only", str(max(TARGETS) + 1)])
    assert "targets are numbers" in capsys.readouterr().err


def test_a_ways_time_is_the_mean_of_its_fastest_half_of_rounds() -> None:
    """Target 3's statistic: slow rounds (load on the machine) leave it alone, the same for
    every way; the middle round counts when the rounds are odd."""
    from bench._resolution import _fastest_half

    assert _fastest_half([0.7]) == 0.7
    assert _fastest_half([0.5, 3.0, 0.4]) == pytest.approx(0.45)
    assert _fastest_half([0.6, 0.4, 9.0, 0.5]) == pytest.approx(0.45)
    assert _fastest_half([0.4, 0.5, 0.6, 0.7, 0.8]) == pytest.approx(0.5)
