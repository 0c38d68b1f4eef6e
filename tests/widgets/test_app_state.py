"""``AppState``: each change clears exactly what was made from it."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from segwidgets.widgets._state import DEPENDENTS, AppState, cancel_sentence


class _Plan(SimpleNamespace):
    def is_empty(self) -> bool:
        return bool(self.empty)


def _run(status: str = "verified", *, pending: int = 0, run_id: str = "r1") -> SimpleNamespace:
    outcomes = pl.DataFrame({"outcome": ["applied"] * 3 + ["pending"] * pending})
    return SimpleNamespace(
        status=status, run_id=run_id, n_pending=pending, n_unknown=0, outcomes=outcomes
    )


def _full() -> AppState:
    return AppState(
        session=object(),
        segment="news",
        segment_fixed=True,
        members=SimpleNamespace(kind="email"),
        resolution=object(),
        plan=_Plan(empty=False),
        run=_run(),
        resumable="old",
        match_stopped=True,
        plan_stopped=True,
    )


@pytest.mark.parametrize("item", sorted(DEPENDENTS))
def test_changing_an_item_clears_its_dependents_and_nothing_else(item):
    state = _full()
    new_value = "other" if item in {"segment", "resumable"} else object()
    if item == "activity":
        new_value = "planning"
    if item in {"segment_fixed", "match_stopped", "plan_stopped"}:
        new_value = False
    changed = state.set(**{item: new_value})
    assert getattr(changed, item) is new_value or getattr(changed, item) == new_value
    for name in DEPENDENTS:
        if name == item:
            continue
        if name in DEPENDENTS[item]:
            assert getattr(changed, name) in (None, False), name
        else:
            assert getattr(changed, name) is getattr(state, name), name


def test_same_value_changes_nothing():
    state = _full()
    assert state.set(segment="news", plan=state.plan) is state


def test_explicit_value_wins_over_clearing():
    state = _full()
    plan = _Plan(empty=False)
    run = _run()
    changed = state.set(plan=plan, run=run)
    assert changed.plan is plan
    assert changed.run is run


def test_unknown_item_is_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        AppState().set(colour="red")


def test_a_new_segment_drops_the_old_result_and_warning():
    state = _full()
    assert state.pushed
    after = state.set(segment="vip")
    assert after.plan is None
    assert after.run is None
    assert after.resumable is None
    assert after.members is state.members  # the list stays


def test_steps_in_order():
    state = AppState()
    assert state.step == "connect"
    state = state.set(session=object())
    assert state.step == "segment"
    state = state.set(segment="news")
    assert state.step == "segment"  # not known to be fixed yet
    state = state.set(segment_fixed=True)
    assert state.step == "members"
    state = state.set(members=SimpleNamespace(kind="email"))
    assert state.step == "match"
    assert state.desired is None
    state = state.set(resolution=object())
    assert state.desired is state.resolution
    assert state.step == "plan"
    state = state.set(plan=_Plan(empty=False))
    assert state.step == "push"
    assert state.can_push
    state = state.set(run=_run())
    assert state.step == "done"
    assert state.pushed
    assert not state.can_push
    assert state.next_hint().startswith("Done")


def test_id_lists_need_no_matching():
    ids = SimpleNamespace(kind="customer_id")
    state = AppState(session=object(), segment="news", segment_fixed=True).set(members=ids)
    assert state.desired is ids
    assert state.step == "plan"


def test_dry_run_does_not_count_as_pushed():
    state = _full().set(run=_run("dry_run"))
    assert not state.pushed
    assert state.can_push


def test_busy_blocks_push():
    state = _full().set(run=None).set(activity="pushing")
    assert state.busy
    assert not state.can_push


def test_resume_offers_the_cancelled_run_then_the_journal_one():
    state = _full().set(run=_run("cancelled", pending=4, run_id="r9"))
    assert state.resume_run_id == "r9"
    assert _full().set(run=_run()).resume_run_id == "old"
    assert AppState().resume_run_id is None


def test_cancel_sentence_counts_sent_and_not_sent():
    assert cancel_sentence(_run("cancelled", pending=4)) == "Cancelled: 3 sent, 4 not sent."


def test_a_cancelled_match_is_offered_again_until_the_list_is_matched():
    state = AppState(session=object(), segment="news", segment_fixed=True).set(
        members=SimpleNamespace(kind="email")
    )
    assert state.next_hint().startswith("Press Find customers")
    stopped = state.set(match_stopped=True)
    assert stopped.step == "match"
    assert "Match again" in stopped.next_hint()
    assert "Find customers" not in stopped.next_hint()
    # While it matches again the hint says so; a new segment keeps the offer.
    assert "Matching" in stopped.set(activity="resolving").next_hint()
    assert stopped.set(segment="vip").match_stopped
    # A finished match, or a new list, ends it.
    assert not stopped.set(resolution=object()).match_stopped
    assert not stopped.set(members=SimpleNamespace(kind="email")).match_stopped


def test_a_cancelled_plan_is_offered_again_until_planned_or_its_inputs_change():
    state = AppState(session=object(), segment="news", segment_fixed=True, resolution=object()).set(
        members=SimpleNamespace(kind="email"), resolution=object()
    )
    assert state.step == "plan"
    stopped = state.set(plan_stopped=True)
    assert "Plan again" in stopped.next_hint()
    assert "Planning" in stopped.set(activity="planning").next_hint()
    assert not stopped.set(plan=_Plan(empty=False)).plan_stopped
    assert not stopped.set(segment="vip").plan_stopped
    assert not stopped.set(resolution=object()).plan_stopped
    # A cancelled plan says nothing at the match step (the list is not matched yet).
    unmatched = stopped.set(resolution=None, plan_stopped=True)
    assert unmatched.step == "match"
    assert unmatched.next_hint().startswith("Press Find customers")
