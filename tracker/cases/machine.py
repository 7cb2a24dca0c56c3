"""The case state machine, pure: which action moves a case from which states to which, who may
do it, and the deadline of each stage. No database, no clock (the caller passes ``now``).

opened (立案) → reviewed (evidence checked by an officer, Art. 41) → dispatched (派遣) → notified
(告知: the intended penalty is proposed and the party told) → stated (陈述申辩) or accepted
(签字确认) by the party in the company portal → decided (处罚决定) → delivered (送达) → executed
(paid or rectified) → closed (结案). A party that asked for a hearing (听证, Art. 63–64) gets one
before the decision: ``hear`` records it (a stated case stays stated), presided by an officer who
did not propose the penalty, and ``decide`` is refused until it is recorded. Any case not yet
decided may be dismissed; a closed or dismissed case may be reopened (back to reviewed).
Escalation is not a state: a case past its stage's deadline is flagged and its unit's
supervisors told (tracker.cases.escalation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tracker.accounts.models import Role


class State(StrEnum):
    opened = "opened"
    reviewed = "reviewed"
    dispatched = "dispatched"
    notified = "notified"
    stated = "stated"
    accepted = "accepted"
    decided = "decided"
    delivered = "delivered"
    executed = "executed"
    closed = "closed"
    dismissed = "dismissed"


OFFICERS = frozenset({Role.admin, Role.enforcement_officer, Role.department})
PARTY = frozenset({Role.company_user})
OPEN_STATES = frozenset(State) - {State.closed, State.dismissed}
# The party sees its case once it has been told (Art. 44): not the unreviewed evidence before.
PARTY_VISIBLE = frozenset(
    {State.notified, State.stated, State.accepted, State.decided, State.delivered,
     State.executed, State.closed}
)  # fmt: skip
UNDECIDED = frozenset(
    {State.opened, State.reviewed, State.dispatched, State.notified, State.stated, State.accepted}
)


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: frozenset[State]
    target: State
    roles: frozenset[Role]
    what: str


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("review", frozenset({State.opened}), State.reviewed, OFFICERS,
                   "an officer checked the evidence (Art. 41)"),
        Transition("dispatch", frozenset({State.reviewed}), State.dispatched, OFFICERS,
                   "sent to the unit that handles it (派遣)"),
        Transition("notify", frozenset({State.dispatched}), State.notified, OFFICERS,
                   "the intended penalty proposed and the party told (告知, Art. 44)"),
        Transition("state", frozenset({State.notified}), State.stated, PARTY,
                   "the party's statement and defence (陈述申辩, Art. 45)"),
        Transition("accept", frozenset({State.notified}), State.accepted, PARTY,
                   "the party confirms the facts (签字确认)"),
        Transition("hear", frozenset({State.stated}), State.stated, OFFICERS,
                   "the hearing the party asked for, held and minuted (听证, Art. 64)"),
        Transition("decide", frozenset({State.notified, State.stated, State.accepted}),
                   State.decided, OFFICERS, "the penalty decision (处罚决定, Art. 59)"),
        Transition("deliver", frozenset({State.decided}), State.delivered, OFFICERS,
                   "the decision delivered (送达, Art. 61)"),
        Transition("execute", frozenset({State.delivered}), State.executed, OFFICERS,
                   "paid or rectified"),
        Transition("close", frozenset({State.executed}), State.closed, OFFICERS, "结案"),
        Transition("dismiss", UNDECIDED, State.dismissed, OFFICERS, "no case to answer"),
        Transition("reopen", frozenset({State.closed, State.dismissed}), State.reviewed,
                   OFFICERS, "reopened"),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Days per stage (configuration; defaults from the law where it sets one)."""

    review_days: float = 3.0
    dispatch_days: float = 2.0
    statement_days: float = 5.0  # hearing request within 5 days of the notice (Art. 64)
    decision_days: float = 90.0  # decision within 90 days of opening (Art. 60)
    delivery_days: float = 7.0  # delivery within 7 days of the decision (Art. 61)
    execution_days: float = 15.0  # payment within 15 days of delivery (Art. 67)
    large_fine_cny: float = 10_000.0  # from this amount the party may ask for a hearing


def due_at(
    state: State, *, opened_at: datetime, state_at: datetime, d: Deadlines
) -> datetime | None:
    """The deadline of the stage a case is in (None: no deadline)."""
    day = timedelta(days=1)
    if state == State.opened:
        return state_at + d.review_days * day
    if state == State.reviewed:
        return min(state_at + d.dispatch_days * day, opened_at + d.decision_days * day)
    if state in (State.dispatched, State.notified, State.stated, State.accepted):
        return opened_at + d.decision_days * day
    if state == State.decided:
        return state_at + d.delivery_days * day
    if state == State.delivered:
        return state_at + d.execution_days * day
    return None


def party_due_at(notified_at: datetime, d: Deadlines) -> datetime:
    return notified_at + d.statement_days * timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    field: str


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a move is judged on, gathered by the caller."""

    state: State
    role: Role
    now: datetime
    penalty_cny: float | None = None
    penalty_min_cny: float = 0.0
    penalty_max_cny: float = 0.0
    party_due_at: datetime | None = None
    hearing_requested: bool = False  # this action asks for a hearing (the party's statement)
    hearing_pending: bool = False  # the case's party asked for one and it is not yet held
    party_has_spoken: bool = False


def refusals(action: str, f: CaseFacts, d: Deadlines) -> list[Refusal]:
    """Every reason to refuse ``action`` on a case; empty when it may go ahead."""
    t = TRANSITIONS.get(action)
    if t is None:
        return [Refusal("unknown_action", f"unknown action {action!r}", "action")]
    out: list[Refusal] = []
    if f.role not in t.roles:
        out.append(Refusal("role", f"role {f.role.value} may not {action} a case", "authorization"))
    if f.state not in t.sources:
        out.append(Refusal("state", f"a {f.state.value} case cannot be {action}ed", "state"))
    if action in ("notify", "decide"):
        out.extend(_penalty(f))
    if action == "decide" and f.state == State.notified and f.party_due_at is not None:
        out.extend(_party_period(f.now, f.party_due_at))
    if action == "hear" and not f.hearing_pending and f.state in t.sources:
        out.append(Refusal("no_hearing_pending", "the party has not asked for a hearing, or it "
                           "was already held", "hearing"))  # fmt: skip
    if action == "decide" and f.hearing_pending:
        out.append(Refusal("hearing_pending", "the party asked for a hearing: hold and record it "
                           "(hear) before the decision (Art. 63-64)", "hearing"))  # fmt: skip
    if action == "state" and f.hearing_requested:
        if f.penalty_cny is None or f.penalty_cny < d.large_fine_cny:
            out.append(Refusal("no_hearing", "a hearing is for large fines only", "hearing"))
        elif f.party_due_at is not None and f.now > f.party_due_at:
            out.append(Refusal("hearing_late", "the days to ask for a hearing are over", "hearing"))
    return out


def _party_period(now: datetime, party_due_at: datetime) -> list[Refusal]:
    if now >= party_due_at:
        return []
    return [
        Refusal(
            "party_period",
            f"the party's period to state its case runs until {party_due_at.isoformat()}; "
            "decide after it or once it has answered",
            "state",
        )
    ]


def _penalty(f: CaseFacts) -> list[Refusal]:
    if f.penalty_cny is None:
        return [Refusal("penalty_missing", "a penalty in yuan is required", "penalty_cny")]
    if not f.penalty_min_cny <= f.penalty_cny <= f.penalty_max_cny:
        return [
            Refusal(
                "penalty_range",
                f"the penalty must be within ¥{f.penalty_min_cny:,.0f}–{f.penalty_max_cny:,.0f} "
                "for this case type",
                "penalty_cny",
            )
        ]
    return []


def allowed_actions(state: State, role: Role, *, hearing_pending: bool = False) -> list[str]:
    """The actions a role may take on a case in ``state`` (for the pages' buttons): ``hear``
    only while a hearing is pending, ``decide`` only once none is."""
    hidden = {"decide"} if hearing_pending else {"hear"}
    return [
        a
        for a, t in TRANSITIONS.items()
        if state in t.sources and role in t.roles and a not in hidden
    ]


def deadlines_from(settings: object) -> Deadlines:
    """The Deadlines of a settings object with the same field names (tracker.settings)."""
    names = Deadlines.__dataclass_fields__
    return Deadlines(**{n: float(getattr(settings, n)) for n in names})
