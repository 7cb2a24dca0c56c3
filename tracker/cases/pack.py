"""A case's dossier for its evidence pack: the party, the case's own hash-chained events as
stored when they happened (so the pack proves the record was not changed since), the track
around the violation (the incident's window when the case came from an alarm, else an hour
either side of the opening), the fences it met, the photos (the clue's, when it came from
one; else verified clues about the vehicle in the window) and the decision document.

Callers check who may see the case (tracker.cases.repo.load applies the scope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

from tracker.cases import document
from tracker.evidence import incident
from tracker.evidence.dossier import ChainedEvent, Dossier, Party, PhotoFile

AConn = psycopg.AsyncConnection[Any]
AROUND = timedelta(hours=1)  # the track of a case without an incident: its opening ± this


async def _clue_photos(conn: AConn, clue_id: int) -> tuple[PhotoFile, ...]:
    rows = await incident.fetch_all(
        conn,
        "SELECT clue_id, n, media_type, data FROM clue_photos WHERE clue_id = %s ORDER BY n",
        (clue_id,),
    )
    return tuple(
        PhotoFile(f"clue-{r['clue_id']}-{r['n']}.{incident.PHOTO_EXT[r['media_type']]}",
                  r["media_type"], bytes(r["data"]), f"线索 {r['clue_id']}")
        for r in rows
    )  # fmt: skip


async def dossier(conn: AConn, case: dict[str, Any], max_fixes: int, time_zone: str) -> Dossier:
    """The dossier of ``case`` (a row of tracker.cases.repo.load, with ``decision``)."""
    kind = await incident.fetch_one(
        conn, "SELECT name_zh FROM case_subtypes WHERE code = %s", (case["subtype"],)
    )
    party = await incident.fetch_one(
        conn,
        """SELECT c.name AS company, c.credit_code, v.plate FROM (SELECT 1) one
             LEFT JOIN companies c ON c.id = %s LEFT JOIN vehicles v ON v.id = %s""",
        (case["company_id"], case["vehicle_id"]),
    )
    assert party is not None
    events = await incident.fetch_all(
        conn, "SELECT event, hash FROM case_events WHERE case_id = %s ORDER BY seq", (case["id"],)
    )
    start, end = case["opened_at"] - AROUND, case["opened_at"] + AROUND
    evidence: dict[str, Any] = {}
    if case["source"] == "incident" and case["source_ref"]:
        found = await incident.incident_row(conn, case["source_ref"])
        if found is not None:
            start = found["opened_at"] - incident.TRACK_MARGIN
            last = found["ended_at"] or found["updated_at"] or found["detected_at"]
            end = max(last, found["detected_at"]) + incident.TRACK_MARGIN
            evidence = found["evidence"] or {}
    fixes: tuple[Any, ...] = ()
    photos: tuple[PhotoFile, ...] = ()
    if case["vehicle_id"] is not None:
        fixes = await incident.fetch_track(conn, case["vehicle_id"], start, end, max_fixes)
        photos = await incident.vehicle_photos(conn, case["vehicle_id"], start, end)
    if case["source"] == "clue" and case["source_ref"]:
        photos = await _clue_photos(conn, int(case["source_ref"]))
    place = None if case["lon"] is None else (float(case["lon"]), float(case["lat"]))
    decision = case.get("decision")
    return Dossier(
        ref=f"case:{case['id']}",
        title=kind["name_zh"] if kind else case["subtype"],
        kind=case["subtype"],
        party=Party(
            party["company"] or "—", party["plate"] or "—", party["credit_code"], case["vehicle_id"]
        ),
        opened_at=case["opened_at"],
        place=place,
        facts=case["facts"] or "—",
        events=tuple(ChainedEvent(e["event"], e["hash"]) for e in events),
        fixes=fixes,
        fences=tuple(await incident.fences_met(conn, fixes, place)),
        photos=photos,
        decision=document.render_text(decision) if decision else None,
        evidence=evidence,
        status=case["state"],
        time_zone=time_zone,
    )
