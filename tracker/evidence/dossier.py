"""What an evidence pack is made from: a :class:`Dossier`, filled by whoever holds the facts
(an incident today, tracker.evidence.incident; a case once cases exist) and read by
tracker.evidence.pack. Pure data: no I/O.

Coordinates are ``lon, lat`` (WGS-84); times are aware datetimes (UTC inside; the PDF shows
them in ``time_zone``). ``events`` carry their chain hashes (tracker.evidence.chain): a case
brings the ones it stored, an incident's are chained when its dossier is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LonLat = tuple[float, float]

# Incident types in the city's words (docs/DOMAIN.md §2).
TYPE_NAMES = {
    "dumping": "疑似偷倒 / 乱倾乱倒",
    "route_deviation": "线路偏离",
    "wrong_yard": "未按规定消纳",
    "no_permit": "无证运输",
    "outside_hours": "禁行时段运输",
    "no_go_zone": "闯禁区",
    "speeding": "超速",
    "uncovered": "未密闭",
    "terminal_offline": "终端离线",
    "terminal_tampering": "车机分离（疑似破坏终端）",
    "closed_yard": "向关闭/已满消纳场倾倒",
    "quota_exceeded": "超出核准运量",
    "inactive_site": "工地不在核准施工期",
    "blacklisted_vehicle": "黑名单车辆上路",
    "unregistered_vehicle": "未登记车辆（卡点抓拍）",
}

STATUS_NAMES = {
    "open": "待处理",
    "confirmed": "已确认",
    "dismissed": "已排除",
    "closed": "已结案",
}


@dataclass(frozen=True, slots=True)
class Party:
    """Who the file is about: the company and the vehicle."""

    company: str
    plate: str
    credit_code: str | None = None  # 统一社会信用代码
    vehicle_id: int | None = None


@dataclass(frozen=True, slots=True)
class TrackFix:
    at: datetime
    lon: float
    lat: float
    speed_kmh: float | None = None
    loaded: bool | None = None
    body_lifted: bool | None = None
    cover_closed: bool | None = None


@dataclass(frozen=True, slots=True)
class FenceShape:
    """A fence as drawn: polygon rings, or a corridor's centre line (one ring, not closed)."""

    name: str
    role: str  # site, yard, zone, corridor
    rings: tuple[tuple[LonLat, ...], ...]
    line: bool = False


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """One event of the file's history with its hash in the chain (in order)."""

    event: Mapping[str, Any]  # canonical-JSON-able: times as ISO 8601 UTC strings
    hash: str


@dataclass(frozen=True, slots=True)
class PhotoFile:
    name: str  # e.g. clue-12-0.jpg
    media_type: str  # image/jpeg | image/png
    data: bytes
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Dossier:
    ref: str  # what the file is: "incident:<id>" or "case:<number>"
    title: str  # e.g. 疑似偷倒 / 乱倾乱倒
    kind: str  # the incident type or case subtype code
    party: Party
    opened_at: datetime
    place: LonLat | None
    facts: str  # the facts as text (Chinese)
    events: tuple[ChainedEvent, ...]
    fixes: tuple[TrackFix, ...]
    fences: tuple[FenceShape, ...] = ()
    photos: tuple[PhotoFile, ...] = ()
    decision: str | None = None  # the decision document's text, once there is one
    evidence: Mapping[str, Any] = field(default_factory=dict)  # GeoJSON evidence features
    status: str = ""
    time_zone: str = "Asia/Shanghai"
    created_at: datetime | None = None  # when the pack is made (now, if None)
