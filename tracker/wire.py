"""What crosses a process boundary, defined once.

Ingest, the engine, the live map and history talk through PostgreSQL (``pings``) and Redis; the
formats they share are defined here and nowhere else, and they import this module rather than
each other. It holds no I/O: names, dataclasses and codecs only.

- The ``Fix`` (one position of one vehicle, as every ingest front end delivers it) and its noise
  flags ``FixFlag``. Coordinates are WGS-84 ``lon, lat``; times are timezone-aware UTC.
  ``fix_time`` is when the terminal took the fix, ``received_at`` when the platform received it;
  they are kept apart so late fixes can be told from live ones.
- ``FIX_COLUMNS``: the one column list of a stored fix (``pings`` column, its type for binary
  COPY, its field in a stream row). Derived from it: ``COPY_COLUMNS``/``COPY_TYPES`` (the group
  commit writer), ``STREAM_FIELDS`` (the stream row order) and ``STREAM_SELECT`` (the SELECT
  list that reads stored fixes back as stream rows: the commit-log reads and replay).
- The row codec: ``stream_row`` encodes a fix, ``fix_from_row`` decodes a stream row (or a
  ``STREAM_SELECT`` row) into one. Both are positional because the engine decodes every fix
  (a test checks them against the column list).
- ``shard_of``: which stream shard a vehicle's fixes go to (``SHARD_SQL``: the same in SQL).
- Redis keys (``LATEST_KEY``, ``LATEST_TIME_KEY``, ``stream_key``, ``VSTATE_KEY``,
  ``HEARD_KEY``) and pub/sub channels (``Channel``, named per database by ``channel``).
- The typed messages on those channels, each with ``encode``/``decode``: ``FenceChange``,
  ``IncidentMessage``, ``VehicleStateMessage`` (the engine's truck states, ``VEHICLE_STATES``)
  ``YardAlert`` and ``Revocation``; and ``latest_feature``, the latest-position record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntFlag, StrEnum
from typing import Any, Literal, NamedTuple, get_args

import orjson


class FixFlag(IntFlag):
    """Noise flags stored with a fix (the ``flags`` column). Rules may skip flagged fixes."""

    NONE = 0
    ZERO = 1  # 0/0 coordinates
    FUTURE = 2  # fix time too far ahead of the receive time
    PAST = 4  # fix time older than the configured limit
    INVALID = 8  # the terminal itself said the fix is not valid (no GNSS lock)
    JUMP = 16  # implied speed from the neighbouring fix is impossible
    ACCURACY = 32  # HDOP above the configured limit


@dataclass(slots=True)
class Fix:
    vehicle_id: int
    terminal_id: int
    fix_time: datetime
    received_at: datetime
    lon: float
    lat: float
    speed_kmh: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    satellites: int | None = None
    hdop: float | None = None
    valid: bool = True
    ignition: bool | None = None
    loaded: bool | None = None
    body_lifted: bool | None = None
    cover_closed: bool | None = None
    alarm_bits: int = 0
    flags: int = 0
    source: str = "http"  # "http" | "jt808"
    extra: dict[str, object] | None = field(default=None)
    # A JT/T 808 0x0704 blind-area upload (type 1, 盲区补报): the terminal recorded this fix
    # and held it back. Not noise (no flag): the engine takes it as history.
    blind_area: bool = False


# --- the column list ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a stored fix: its name in ``pings`` (the ``Fix`` attribute too, but for
    ``h3_cell``, computed on write), its type for binary COPY, and its field in a stream row
    (None: not carried). In a stream row times are epoch microseconds and the source its name."""

    name: str
    pg_type: str
    stream: str | None


FIX_COLUMNS: tuple[Column, ...] = (
    Column("vehicle_id", "int8", "vehicle_id"),
    Column("fix_time", "timestamptz", "t_us"),
    Column("received_at", "timestamptz", "received_us"),
    Column("terminal_id", "int8", None),
    Column("lon", "float8", "lon"),
    Column("lat", "float8", "lat"),
    Column("h3_cell", "int8", None),
    Column("speed_kmh", "float4", "speed_kmh"),
    Column("heading_deg", "float4", "heading_deg"),
    Column("altitude_m", "float4", "altitude_m"),
    Column("satellites", "int2", "satellites"),
    Column("hdop", "float4", "hdop"),
    Column("valid", "bool", "valid"),
    Column("ignition", "bool", "ignition"),
    Column("loaded", "bool", "loaded"),
    Column("body_lifted", "bool", "body_lifted"),
    Column("cover_closed", "bool", "cover_closed"),
    Column("alarm_bits", "int8", "alarm_bits"),
    Column("flags", "int2", "flags"),
    Column("source", "int2", "source"),
    Column("extra", "jsonb", None),
    Column("blind_area", "bool", "blind_area"),
)
SOURCES = {"http": 1, "jt808": 2}  # the ``source`` column's codes
DEFAULT_SOURCE = "http"  # what an unknown code reads back as

COPY_COLUMNS = tuple(c.name for c in FIX_COLUMNS)
COPY_TYPES = tuple(c.pg_type for c in FIX_COLUMNS)
STREAM_COLUMNS = tuple(c for c in FIX_COLUMNS if c.stream is not None)
STREAM_FIELDS = tuple(c.stream for c in STREAM_COLUMNS if c.stream is not None)
T_US = STREAM_FIELDS.index("t_us")
RECEIVED_US = STREAM_FIELDS.index("received_us")
FLAGS = STREAM_FIELDS.index("flags")


def _select_expr(column: Column) -> str:
    if column.pg_type == "timestamptz":
        return f"(extract(epoch FROM {column.name}) * 1000000)::bigint"
    if column.name == "source":
        named = " ".join(
            f"WHEN {code} THEN '{name}'" for name, code in SOURCES.items() if name != DEFAULT_SOURCE
        )
        return f"CASE source {named} ELSE '{DEFAULT_SOURCE}' END"
    return column.name


# ``SELECT {STREAM_SELECT} FROM pings ...`` gives rows ``fix_from_row`` decodes.
STREAM_SELECT = ", ".join(_select_expr(c) for c in STREAM_COLUMNS)

# --- the row codec -----------------------------------------------------------------------

Timed = tuple[int, int, Fix]  # fix time and receive time in epoch µs, the fix
_US = 1_000_000


def epoch_us(moment: datetime) -> int:
    return int(moment.timestamp() * _US)


def stream_row(fix: Fix) -> list[Any]:
    """A fix as a stream row: values in ``STREAM_FIELDS`` order (kept by hand for speed; a test
    checks it against ``FIX_COLUMNS``)."""
    return [
        fix.vehicle_id,
        int(fix.fix_time.timestamp() * 1e6),
        int(fix.received_at.timestamp() * 1e6),
        fix.lon,
        fix.lat,
        fix.speed_kmh,
        fix.heading_deg,
        fix.altitude_m,
        fix.satellites,
        fix.hdop,
        fix.valid,
        fix.ignition,
        fix.loaded,
        fix.body_lifted,
        fix.cover_closed,
        fix.alarm_bits,
        fix.flags,
        fix.source,
        fix.blind_area,
    ]


def fix_from_row(v: Sequence[Any]) -> Fix:
    """A ``Fix`` from a stream row (or a ``STREAM_SELECT`` row), by position. The stream carries
    no terminal id (0) and no extras."""
    return Fix(
        int(v[0]),
        0,
        datetime.fromtimestamp(v[1] / _US, tz=UTC),
        datetime.fromtimestamp(v[2] / _US, tz=UTC),
        float(v[3]),
        float(v[4]),
        v[5],
        v[6],
        v[7],
        v[8],
        v[9],
        bool(v[10]),
        v[11],
        v[12],
        v[13],
        v[14],
        int(v[15]),
        int(v[16]),
        str(v[17]),
        blind_area=len(v) > 18 and bool(v[18]),  # entries written before 0023 lack it
    )


def timed_from_row(v: Sequence[Any]) -> Timed:
    """``fix_from_row`` with the row's exact epoch-µs fix and receive times."""
    return int(v[T_US]), int(v[RECEIVED_US]), fix_from_row(v)


class CommitMark(NamedTuple):
    """A group commit's row in the ingest commit log (``ingest_commits``) for one shard: its
    ``seq`` and its transaction id ``xid``. The shard's stream entry carries both, so the engine
    knows which commit it is reading (and skips one it already took from the database)."""

    seq: int
    xid: int


def entry_fields(rows: list[list[Any]], mark: CommitMark | None = None) -> dict[Any, Any]:
    """A stream entry: ``fixes``, a JSON array of stream rows, their count ``n``, and the commit
    they were stored by (``seq``, ``xid``; absent from entries of a publisher without a commit
    log, such as the benches')."""
    fields: dict[Any, Any] = {"n": len(rows), "fixes": orjson.dumps(rows)}
    if mark is not None:
        fields["seq"], fields["xid"] = mark.seq, mark.xid
    return fields


def entry_rows(fields: dict[bytes, bytes]) -> list[list[Any]]:
    """The stream rows of an entry as read from Redis."""
    rows: list[list[Any]] = orjson.loads(fields[b"fixes"])
    return rows


def entry_mark(fields: dict[bytes, bytes]) -> CommitMark | None:
    """The commit an entry as read from Redis was stored by, if it says."""
    seq, xid = fields.get(b"seq"), fields.get(b"xid")
    return None if seq is None or xid is None else CommitMark(int(seq), int(xid))


def decode_fixes(payload: bytes) -> list[Fix]:
    """The fixes of an entry's ``fixes`` field."""
    return [fix_from_row(v) for v in orjson.loads(payload)]


# --- shards, keys and channels -----------------------------------------------------------


def shard_of(vehicle_id: int, shards: int) -> int:
    """The stream shard of a vehicle (vehicle ids are stable integers)."""
    return vehicle_id % shards


SHARD_SQL = "vehicle_id %% %s = %s"  # ``shard_of`` in SQL; parameters: shard count, shard

STREAM_PREFIX = "tracker:fixes:"  # a stream per shard; entries as ``entry_fields``
LATEST_KEY = "tracker:latest"  # hash: vehicle id -> ``latest_feature`` of its newest fix
LATEST_TIME_KEY = "tracker:latest:t"  # hash: vehicle id -> that fix's time in epoch µs
VSTATE_KEY = "tracker:vstate"  # hash: vehicle id -> its current ``VehicleStateMessage``
# hash: vehicle id -> epoch µs its JT/T 808 terminal was last heard without a position (its
# session authenticated, or a 0x0002 heartbeat): written by the gateway, read by the engine's
# clock (a terminal heard while no positions come is holding them back, not cut).
HEARD_KEY = "tracker:heard"
LOGIN_THROTTLE_PREFIX = "tracker:login:"  # hashes per account and source: failed logins, lock
CLUE_RATE_PREFIX = "tracker:clues:rate:"  # counters per window: public reports, receipt lookups


def stream_key(shard: int) -> str:
    return f"{STREAM_PREFIX}{shard}"


class Channel(StrEnum):
    """Pub/sub channels, by the name ``channel`` makes per Redis database."""

    FENCES = "fences"  # FenceChange: fences (places, permits) written
    INCIDENTS = "incidents"  # IncidentMessage: live incident events from the engine
    VEHICLE_STATES = "vstates"  # VehicleStateMessage: a truck's engine state changed
    YARDS = "yards"  # YardAlert: disposal-yard capacity alerts and closures
    REVOCATIONS = "revocations"  # Revocation: credentials withdrawn; caches drop them at once


def redis_db(client: Any) -> int:
    """The database number a redis-py client (sync or asyncio) talks to."""
    kwargs = client.connection_pool.connection_kwargs
    return int(kwargs.get("db", 0) or 0)


def channel(client: Any, name: Channel) -> str:
    """The channel ``name`` for the database ``client`` uses: ``tracker:{db}:{name}``.

    Keys live in numbered databases but channels do not: a message published from database 3
    reaches subscribers connected to database 0 too. So every channel carries the database
    number, and two deployments sharing one Redis server on different databases never hear
    each other."""
    return f"tracker:{redis_db(client)}:{name.value}"


# --- messages ----------------------------------------------------------------------------

# The engine's truck states, in the order the legend lists them.
VehicleStateName = Literal[
    "idle",
    "loading",
    "hauling",
    "unloading",
    "in_incident",
    "offline",
    "blacklisted",
    "suspected",  # silent ≥ 5 min while loaded: not (yet) an offline incident
]
VEHICLE_STATES: tuple[VehicleStateName, ...] = get_args(VehicleStateName)


def rfc3339(moment: datetime) -> str:
    """A UTC instant as RFC 3339 with ``Z`` (as orjson writes it with ``OPT_UTC_Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 instant (``Z`` or an offset; a naive one is taken as UTC); ValueError if not."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _object(raw: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be an integer")
    return value


def _opt_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str | int):
        raise ValueError(f"{key} must be a string or null")
    return None if value is None else str(value)


def _opt_float(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ValueError(f"{key} must be a number or null")
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class FenceChange:
    """``Channel.FENCES``: a fence was written (after the commit). It carries no geometry:
    subscribers re-read the row by id and apply it unless they hold that version already."""

    op: Literal["upsert", "remove"]
    id: int
    version: int

    def encode(self) -> bytes:
        return orjson.dumps({"op": self.op, "id": self.id, "version": self.version})

    @classmethod
    def decode(cls, raw: bytes | str) -> FenceChange:
        data = _object(raw)
        op = data.get("op")
        if op not in ("upsert", "remove"):
            raise ValueError(f"unknown fence change op {op!r}")
        return cls(op, int(data["id"]), int(data["version"]))


@dataclass(frozen=True, slots=True)
class IncidentMessage:
    """``Channel.INCIDENTS``: an incident opened, updated or closed (live, not late ones).
    ``time`` is an RFC 3339 instant; ``detail`` a short text for the feed, when there is one."""

    type: str
    vehicle_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    time: str | None = None
    event: Literal["opened", "updated", "closed"] | None = None
    incident_id: str | None = None
    severity: str | None = None
    status: Literal["open", "ended"] | None = None
    detail: str | None = None

    def fields(self) -> dict[str, Any]:
        """As sent to live clients (and on the channel); ``detail`` only when set."""
        out: dict[str, Any] = {
            "event": self.event,
            "type": self.type,
            "vehicle_id": self.vehicle_id,
            "lon": self.lon,
            "lat": self.lat,
            "time": self.time,
            "incident_id": self.incident_id,
            "severity": self.severity,
            "status": self.status,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    def encode(self) -> bytes:
        return orjson.dumps(self.fields())

    @classmethod
    def decode(cls, raw: bytes | str) -> IncidentMessage:
        data = _object(raw)
        kind = data.get("type")
        if not isinstance(kind, str):
            raise ValueError("an incident event has a type")
        vid = data.get("vehicle_id")
        event, status = data.get("event"), data.get("status")
        if event not in (None, "opened", "updated", "closed"):
            raise ValueError("event must be opened, updated or closed")
        if status not in (None, "open", "ended"):
            raise ValueError("status must be open or ended")
        return cls(
            kind,
            vid if isinstance(vid, int) and not isinstance(vid, bool) else None,
            _opt_float(data, "lon"),
            _opt_float(data, "lat"),
            _opt_text(data, "time"),
            event,
            _opt_text(data, "incident_id"),
            _opt_text(data, "severity"),
            status,
            _opt_text(data, "detail"),
        )


@dataclass(frozen=True, slots=True)
class VehicleStateMessage:
    """``Channel.VEHICLE_STATES`` and the ``VSTATE_KEY`` hash: what a truck is doing, as of
    the engine's last commit; ``at`` is when it got there (consumers keep the newest)."""

    vehicle_id: int
    state: VehicleStateName
    trip_id: str | None
    permit_id: str | None
    at: datetime

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "vehicle_id": self.vehicle_id,
                "state": self.state,
                "trip_id": self.trip_id,
                "permit_id": self.permit_id,
                "at": self.at.astimezone(UTC),
            },
            option=orjson.OPT_UTC_Z,
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> VehicleStateMessage:
        """ValueError names what is wrong."""
        data = _object(raw)
        vid = _int(data, "vehicle_id")
        state = data.get("state")
        if state not in VEHICLE_STATES:
            raise ValueError(f"state must be one of {sorted(VEHICLE_STATES)}")
        try:
            trip_id, permit_id = _opt_text(data, "trip_id"), _opt_text(data, "permit_id")
        except ValueError:
            raise ValueError("trip_id and permit_id are strings or null") from None
        try:
            at = parse_rfc3339(str(data["at"]))
        except (KeyError, ValueError):
            raise ValueError("at must be an RFC 3339 time") from None
        return cls(vid, state, trip_id, permit_id, at)


@dataclass(frozen=True, slots=True)
class YardAlert:
    """``Channel.YARDS``: a disposal yard's fill crossed an alert level (80, 95, 100 %);
    ``closed`` at 100. ``at`` is an RFC 3339 instant."""

    yard_id: int
    level: int
    fill_pct: float
    closed: bool
    at: str

    def fields(self) -> dict[str, Any]:
        """As sent to live clients (and on the channel)."""
        return {
            "type": "yard_capacity",
            "yard_id": self.yard_id,
            "level": self.level,
            "fill_pct": self.fill_pct,
            "closed": self.closed,
            "at": self.at,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.fields())

    @classmethod
    def decode(cls, raw: bytes | str) -> YardAlert:
        data = _object(raw)
        if data.get("type") != "yard_capacity":
            raise ValueError("a yard alert has type yard_capacity")
        fill = _opt_float(data, "fill_pct")
        closed, at = data.get("closed"), data.get("at")
        if fill is None or not isinstance(closed, bool) or not isinstance(at, str):
            raise ValueError("a yard alert has fill_pct, closed and at")
        return cls(_int(data, "yard_id"), _int(data, "level"), fill, closed, at)


# --- the latest-position record ------------------------------------------------------------

_LATEST_PROPS = (
    "speed_kmh",
    "heading_deg",
    "altitude_m",
    "satellites",
    "hdop",
    "ignition",
    "loaded",
    "body_lifted",
    "cover_closed",
)
_JSON_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _point_feature(lon: float, lat: float, props: dict[str, Any]) -> bytes:
    """A GeoJSON Point feature, rendered once (read endpoints splice these without parsing)."""
    return orjson.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props,
        },
        option=_JSON_OPTS,
    )


def latest_feature(fix: Fix) -> bytes:
    """The ``LATEST_KEY`` record of a vehicle: its newest fix as a GeoJSON feature."""
    props: dict[str, Any] = {
        "vehicle_id": fix.vehicle_id,
        "time": fix.fix_time,
        "received_at": fix.received_at,
        "valid": fix.valid,
        "alarm_bits": fix.alarm_bits,
        "source": fix.source,
    }
    for name in _LATEST_PROPS:
        value = getattr(fix, name)
        if value is not None:
            props[name] = value
    return _point_feature(fix.lon, fix.lat, props)


# --- revocations ---------------------------------------------------------------------------

RevokedKind = Literal["terminal", "vehicle", "user"]
REVOKED_KINDS: tuple[RevokedKind, ...] = get_args(RevokedKind)


@dataclass(frozen=True, slots=True)
class Revocation:
    """``Channel.REVOCATIONS``: credentials were withdrawn (after the commit): a terminal's
    token rotated or the terminal changed or deactivated (``terminal``), a vehicle changed or
    deactivated (``vehicle``: its terminals), a staff account's tokens revoked (``user``). Every
    API process drops what it cached for that id at once."""

    kind: RevokedKind
    id: int

    def encode(self) -> bytes:
        return orjson.dumps({"kind": self.kind, "id": self.id})

    @classmethod
    def decode(cls, raw: bytes | str) -> Revocation:
        data = _object(raw)
        kind = data.get("kind")
        if kind not in REVOKED_KINDS:
            raise ValueError(f"kind must be one of {list(REVOKED_KINDS)}")
        return cls(kind, _int(data, "id"))


# --- outbox events (issue 16) --------------------------------------------------------------

# Every event type the outbox carries to people and systems outside the platform: wire name ->
# what it says. Adding a type is one entry here (and its default message text in
# tracker.outbox.templates). Producers emit them with tracker.outbox.emit, or in SQL with
# outbox_emit() (the triggers of tracker/sql/0015_outbox.sql).
OUTBOX_EVENT_TYPES: dict[str, str] = {
    "incident.opened": "the engine opened an incident",
    "incident.escalated": "an officer confirmed an incident",
    "incident.retracted": "an officer dismissed an incident",
    "incident.closed": "an officer closed an incident",
    "permit.approved": "a permit was approved",
    "permit.rejected": "a permit was rejected",
    "permit.suspended": "a permit was suspended",
    "permit.expiring": "a permit expires within the notice days",
    "vehicle.listed": "a vehicle was blacklisted",
    "vehicle.delisted": "a vehicle's blacklisting was lifted",
    "vehicle.points_near_threshold": "a vehicle's points reached the amber mark",
    "yard.fill": "a disposal yard's fill crossed 80, 95 or 100 %",
    "terminal.offline": "a company truck's terminal went silent",
    "company.credit_changed": "a company's credit grade changed",
    "case.notice": "a case's party is told the violation and the intended penalty (告知)",
    "case.decision": "a penalty decision was made on a case (处罚决定)",
    "case.delivery": "a case's decision was delivered (送达)",
    "case.escalation": "a case is overdue in its stage and escalated to its unit",
}
