"""The pure state machine as a table: who may take each action from which state, and the
refusals that do not need a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.accounts.models import Role
from tracker.cases.machine import (
    TRANSITIONS,
    CaseFacts,
    Deadlines,
    State,
    allowed_actions,
    due_at,
    refusals,
)

NOW = datetime(2026, 5, 1, tzinfo=UTC)
D = Deadlines()
OFFICER_ACTIONS = {"review", "dispatch", "notify", "hear", "decide", "deliver", "execute",
                   "close", "dismiss", "reopen"}  # fmt: skip
MAY = {
    Role.admin: OFFICER_ACTIONS,
    Role.enforcement_officer: OFFICER_ACTIONS,
    Role.department: OFFICER_ACTIONS,
    Role.company_user: {"state", "accept"},
    Role.grid_staff: set(),
    Role.viewer: set(),
    Role.permit_officer: set(),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_who_may_take_each_action(role: Role, action: str) -> None:
    source = sorted(TRANSITIONS[action].sources)[0]
    facts = CaseFacts(state=source, role=role, now=NOW, penalty_cny=6000,
                      penalty_min_cny=5000, penalty_max_cny=50000,
                      hearing_pending=action == "hear")  # fmt: skip
    codes = [r.code for r in refusals(action, facts, D)]
    assert ("role" not in codes) == (action in MAY[role]), codes


@pytest.mark.parametrize("state", list(State))
def test_the_actions_a_role_sees(state: State) -> None:
    officer = set(allowed_actions(state, Role.enforcement_officer))
    party = set(allowed_actions(state, Role.company_user))
    assert officer == {a for a in OFFICER_ACTIONS - {"hear"} if state in TRANSITIONS[a].sources}
    pending = set(allowed_actions(state, Role.enforcement_officer, hearing_pending=True))
    assert pending == {a for a in OFFICER_ACTIONS - {"decide"} if state in TRANSITIONS[a].sources}
    assert party == ({"state", "accept"} if state == State.notified else set())
    assert allowed_actions(state, Role.viewer) == []


@pytest.mark.parametrize(
    ("action", "penalty", "code"),
    [("notify", None, "penalty_missing"), ("notify", 4999, "penalty_range"),
     ("notify", 50001, "penalty_range"), ("decide", 70000, "penalty_range"),
     ("notify", 5000, None), ("notify", 50000, None)],
)  # fmt: skip
def test_penalties_stay_within_the_subtypes_range(
    action: str, penalty: float | None, code: str | None
) -> None:
    state = State.dispatched if action == "notify" else State.accepted
    facts = CaseFacts(state=state, role=Role.enforcement_officer, now=NOW, penalty_cny=penalty,
                      penalty_min_cny=5000, penalty_max_cny=50000)  # fmt: skip
    assert [r.code for r in refusals(action, facts, D)] == ([] if code is None else [code])


def test_stage_deadlines() -> None:
    day = timedelta(days=1)
    opened = NOW - 10 * day
    assert due_at(State.opened, opened_at=opened, state_at=opened, d=D) == opened + 3 * day
    assert due_at(State.reviewed, opened_at=opened, state_at=NOW, d=D) == NOW + 2 * day
    late = NOW - 89 * day  # dispatch's 2 days cannot go past the 90-day decision deadline
    assert due_at(State.reviewed, opened_at=late, state_at=NOW, d=D) == late + 90 * day
    for state in (State.dispatched, State.notified, State.stated, State.accepted):
        assert due_at(state, opened_at=opened, state_at=NOW, d=D) == opened + 90 * day
    assert due_at(State.decided, opened_at=opened, state_at=NOW, d=D) == NOW + 7 * day
    assert due_at(State.delivered, opened_at=opened, state_at=NOW, d=D) == NOW + 15 * day
    for state in (State.executed, State.closed, State.dismissed):
        assert due_at(state, opened_at=opened, state_at=NOW, d=D) is None


def test_an_unknown_action() -> None:
    facts = CaseFacts(state=State.opened, role=Role.admin, now=NOW)
    assert [r.code for r in refusals("approve", facts, D)] == ["unknown_action"]


@pytest.mark.parametrize(
    ("action", "pending", "codes"),
    [("decide", True, ["hearing_pending"]), ("decide", False, []),
     ("hear", True, []), ("hear", False, ["no_hearing_pending"])],
)  # fmt: skip
def test_a_requested_hearing_comes_before_the_decision(
    action: str, pending: bool, codes: list[str]
) -> None:
    facts = CaseFacts(state=State.stated, role=Role.enforcement_officer, now=NOW,
                      penalty_cny=20000, penalty_min_cny=5000, penalty_max_cny=50000,
                      hearing_pending=pending)  # fmt: skip
    assert [r.code for r in refusals(action, facts, D)] == codes
