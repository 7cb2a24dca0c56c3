"""The case-event hash chain detects a changed, removed or reordered event."""

from __future__ import annotations

from tracker.evidence.chain import GENESIS, canonical, link, verify


def _chain(events: list[dict[str, object]]) -> list[tuple[dict[str, object], str]]:
    out, prev = [], GENESIS
    for event in events:
        prev = link(prev, event)
        out.append((event, prev))
    return out


EVENTS: list[dict[str, object]] = [
    {"seq": 1, "kind": "opened", "at": "2026-12-07T08:00:00Z", "actor": "王警官"},
    {"seq": 2, "kind": "reviewed", "at": "2026-12-07T09:00:00Z", "actor": "李警官"},
    {"seq": 3, "kind": "closed", "at": "2026-12-08T09:00:00Z", "actor": "李警官", "note": "结案"},
]


def test_an_untouched_chain_verifies() -> None:
    check = verify(_chain(EVENTS))
    assert check.ok and check.checked == 3


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    assert canonical({"b": 1, "a": "渣土"}) == canonical({"a": "渣土", "b": 1})
    assert canonical({"a": "渣土"}) == '{"a":"渣土"}'.encode()


def test_a_changed_event_is_found() -> None:
    chain = _chain(EVENTS)
    chain[1] = ({**chain[1][0], "actor": "someone else"}, chain[1][1])
    check = verify(chain)
    assert not check.ok and check.first_bad == 1


def test_a_removed_or_reordered_event_is_found() -> None:
    chain = _chain(EVENTS)
    assert not verify([chain[0], chain[2]]).ok
    assert not verify([chain[1], chain[0], chain[2]]).ok
