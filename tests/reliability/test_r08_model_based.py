"""R8: a model-based (stateful) test of syncing under everything that can happen at once.

A Hypothesis ``RuleBasedStateMachine`` changes the desired list, changes the segment behind
segwidgets' back, switches faults on and off (lost answers, 429, 500/503), syncs, crashes
mid-sync and resumes in a fresh session, and expires every token. Must hold: after each
completed sync the segment equals the desired set; the journal never calls verified what is
not on the server; no credential or token ever appears in the logs. Sized for CI;
``SEGWIDGETS_LONG=1`` runs many more and longer sequences.
"""

from __future__ import annotations

import logging
import secrets

import httpx
import polars as pl
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from reliability_kit import (
    Crash,
    Exchange,
    Wire,
    capture_logs,
    make_segment,
    property_settings,
    registered_ids,
    session_for,
)

import segwidgets as sw
from segwidgets import sandbox as sandbox_package

POOL = 240
BATCH = 30
CODE = "r8"


def crashing_wire(k: int, lost: bool) -> Wire:
    answered = [0]

    def before(exchange: Exchange, request: httpx.Request) -> None:
        if exchange.is_write and answered[0] >= k and not lost:
            raise Crash

    def after(exchange: Exchange, request: httpx.Request, response: httpx.Response) -> None:
        if exchange.is_write:
            if answered[0] >= k and lost:
                raise Crash
            answered[0] += 1

    return Wire(before=before, after=after)


@pytest.fixture(scope="module")
def canary_sandbox():
    """A sandbox of its own, whose credentials are random canaries."""
    secret, password = f"r8-secret-{secrets.token_hex(8)}", f"r8-pass-{secrets.token_hex(8)}"
    with sandbox_package.start(
        customers=600, seed=8, client_secret=secret, password=password, delete_delay=0.0
    ) as handle:
        yield handle, (secret, password)


def test_r8_model_based_sync(canary_sandbox, tmp_path) -> None:
    handle, canaries = canary_sandbox
    model = handle.model
    pool = registered_ids(model, POOL)
    journal = tmp_path / "journal.sqlite3"
    indexes = st.lists(st.integers(0, POOL - 1), max_size=POOL // 2)

    class SyncMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            handle.configure(**{**sandbox_package.Settings().to_dict(), "delete_delay": 0.0})
            handle.reset()
            make_segment(model, CODE, pool[: POOL // 3])
            self.desired: set[str] = set(pool[POOL // 4 : POOL // 2])
            self.faults = False
            self.interrupted: list[str] = []
            self.wire = Wire()
            self.session = session_for(
                handle.credentials, journal, wire=self.wire, batch_size=BATCH, concurrency=4
            )
            self.logs = capture_logs(logging.DEBUG)
            self.capture = self.logs.__enter__()
            self.synced = 0

        # -- the world changes -------------------------------------------------------------------

        @rule(chosen=indexes)
        def change_desired(self, chosen: list[int]) -> None:
            self.desired = {pool[i] for i in chosen}

        @rule(add=indexes, remove=indexes)
        def change_segment_outside(self, add: list[int], remove: list[int]) -> None:
            to_add = sorted({pool[i] for i in add})
            to_remove = sorted({pool[i] for i in remove} - set(to_add))
            if to_add:
                model.add_members(CODE, to_add)
            if to_remove:
                model.remove_members(CODE, to_remove)

        @rule(
            lost=st.sampled_from([0.0, 0.2]),
            e429=st.sampled_from([0.0, 0.2]),
            e5xx=st.sampled_from([0.0, 0.1]),
            status=st.sampled_from([500, 503]),
            seed=st.integers(0, 1000),
        )
        def set_faults(self, lost: float, e429: float, e5xx: float, status: int, seed: int) -> None:
            handle.configure(
                lost_response_rate=lost,
                error_429_rate=e429,
                retry_after=["0", "1"],
                error_5xx_rate=e5xx,
                error_5xx_status=status,
                fault_seed=seed,
            )
            self.faults = bool(lost or e429 or e5xx)

        @rule()
        def clear_faults(self) -> None:
            handle.configure(lost_response_rate=0.0, error_429_rate=0.0, error_5xx_rate=0.0)
            self.faults = False

        @rule()
        def expire_tokens(self) -> None:
            model.tokens.clear()  # every issued token is now refused with 401

        # -- segwidgets acts -----------------------------------------------------------------------

        @rule()
        def sync(self) -> None:
            problem: sw.SegwidgetsError | None = None
            try:
                plan = self.session.plan(CODE, sorted(self.desired), allow_mass_removal=True)
                result = self.session.apply(plan)
            except (sw.ApplyIncompleteError, sw.APIError) as exc:
                problem = exc  # stopped by faults, or a read gave up before anything started
            if problem is not None:
                assert self.faults, f"stopped without faults: {problem}"
                if isinstance(problem, sw.ApplyIncompleteError):
                    self.interrupted.append(problem.result.run_id)
                    self.check_journal(problem.result.run_id)
                return
            self.check_journal(result.run_id)
            if result.status == "verified":
                self.synced += 1
                assert handle.member_ids(CODE) == self.desired
            else:
                assert self.faults, result.message

        @rule(k=st.integers(0, 6), lost=st.booleans())
        def crash_mid_sync(self, k: int, lost: bool) -> None:
            wire = crashing_wire(k, lost)
            crashing = session_for(
                handle.credentials, journal, wire=wire, batch_size=BATCH, concurrency=1
            )
            try:
                plan = crashing.plan(CODE, sorted(self.desired), allow_mass_removal=True)
                crashing.apply(plan)
            except Crash:
                self.interrupted.append(crashing.history(CODE)["run_id"][0])
            except sw.SegwidgetsError:
                assert self.faults
            finally:
                crashing.close()

        @precondition(lambda self: self.interrupted)
        @rule()
        def resume_in_a_fresh_session(self) -> None:
            run_id = self.interrupted.pop()
            with session_for(handle.credentials, journal, wire=Wire(), batch_size=BATCH) as fresh:
                try:
                    fresh.resume(run_id)
                except sw.ApplyIncompleteError:
                    assert self.faults
                    self.interrupted.append(run_id)
                except sw.APIError:
                    assert self.faults
                    self.interrupted.append(run_id)
            self.check_journal(run_id)

        # -- what must hold ------------------------------------------------------------------------

        def check_journal(self, run_id: str) -> None:
            """Right after a run: verified adds are members, verified removes are not."""
            server = handle.member_ids(CODE)
            rows = self.session.run_details(run_id).filter(pl.col("status") == "verified")
            adds = set(rows.filter(pl.col("action") == "add")["customer_id"])
            removes = set(rows.filter(pl.col("action") == "remove")["customer_id"])
            assert adds <= server
            assert not removes & server

        @invariant()
        def no_secret_in_logs(self) -> None:
            text = self.capture.text()
            for canary in canaries:
                assert canary not in text
            assert "sbx_" not in text  # sandbox access tokens
            assert "sbr_" not in text  # and refresh tokens

        def teardown(self) -> None:
            try:
                handle.configure(lost_response_rate=0.0, error_429_rate=0.0, error_5xx_rate=0.0)
                plan = self.session.plan(CODE, sorted(self.desired), allow_mass_removal=True)
                result = self.session.apply(plan)
                assert result.status == "verified", result.message
                assert handle.member_ids(CODE) == self.desired
                self.no_secret_in_logs()
            finally:
                self.logs.__exit__(None, None, None)
                self.session.close()

    run_state_machine_as_test(SyncMachine, settings=property_settings(examples=6, steps=10))
