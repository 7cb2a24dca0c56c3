"""What can be exported: one :class:`Dataset` per kind (its columns with their Chinese headers,
its SQL), and :func:`build` turning a caller's parameters into one scoped, limited query.

Scoping mirrors the list endpoints: a company user is held to its own company (every table query
joins the vehicle's company), staff see every company; yard ledgers are read by all staff like
``GET /yards/{id}/ledger``. Periods are bounded (``exports.max_days``, the track's
``exports.track_max_days``) and the row count is checked before anything is streamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from tracker.accounts.models import Principal, Role
from tracker.cases.repo import scope_sql as case_scope
from tracker.errors import BadRequest
from tracker.settings import ExportSettings
from tracker.times import Instant

ColumnKind = Literal["text", "int", "float", "bool", "time", "json"]
TABLE_FORMATS = ("csv", "xlsx")
TRACK_FORMATS = ("csv", "gpx", "kml", "geojson")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    zh: str
    kind: ColumnKind = "text"


def _cols(*spec: tuple[str, str] | tuple[str, str, ColumnKind]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


@dataclass(frozen=True, slots=True)
class Dataset:
    kind: str
    title_zh: str
    columns: tuple[Column, ...]
    select: str  # SELECT … FROM … (the columns in order); filters and order are added
    time_column: str  # the period applies to it
    order: str
    formats: tuple[str, ...] = TABLE_FORMATS
    company_column: str | None = "v.company_id"  # None: not scoped by company (yard ledger)
    scoped_as_cases: bool = False  # cases: the case queue's scope (tracker.cases.repo.scope_sql)


_VEHICLE: tuple[tuple[str, str, ColumnKind], ...] = (
    ("vehicle_id", "车辆ID", "int"),
    ("plate", "车牌号", "text"),
    ("company", "所属企业", "text"),
)
DATASETS: dict[str, Dataset] = {
    d.kind: d
    for d in (
        Dataset(
            "track",
            "轨迹",
            _cols(
                ("time_utc", "定位时间(UTC)", "time"),
                ("time_local", "定位时间(本地)", "time"),
                ("lon", "经度", "float"),
                ("lat", "纬度", "float"),
                ("speed_kmh", "速度(km/h)", "float"),
                ("heading_deg", "方向(度)", "float"),
                ("valid", "定位有效", "bool"),
                ("ignition", "点火", "bool"),
                ("loaded", "重车", "bool"),
                ("body_lifted", "车厢举升", "bool"),
                ("cover_closed", "密闭", "bool"),
                ("flags", "过滤标记", "int"),
            ),
            "SELECT p.fix_time, p.fix_time, p.lon, p.lat, p.speed_kmh, p.heading_deg, p.valid,"
            " p.ignition, p.loaded, p.body_lifted, p.cover_closed, p.flags FROM pings p",
            "p.fix_time",
            "p.fix_time",
            TRACK_FORMATS,
            None,
        ),
        Dataset(
            "incidents",
            "违规事件",
            _cols(
                ("incident_id", "事件编号"),
                ("type", "事件类型"),
                *_VEHICLE,
                ("permit_id", "核准编号"),
                ("trip_id", "趟次编号"),
                ("severity", "严重程度"),
                ("status", "处理状态"),
                ("opened_at", "开始时间", "time"),
                ("detected_at", "发现时间", "time"),
                ("ended_at", "结束时间", "time"),
                ("closed_at", "结案时间", "time"),
                ("late", "补传数据", "bool"),
                ("lon", "经度", "float"),
                ("lat", "纬度", "float"),
                ("note", "处理意见"),
                ("status_by", "处理人"),
            ),
            "SELECT i.incident_id, i.type, i.vehicle_id, v.plate, c.name, i.permit_id, i.trip_id,"
            " i.severity, i.status, i.opened_at, i.detected_at, i.ended_at, i.closed_at, i.late,"
            " i.lon, i.lat, i.note, i.status_by FROM incidents i"
            " LEFT JOIN vehicles v ON v.id = i.vehicle_id"
            " LEFT JOIN companies c ON c.id = COALESCE(i.company_id, v.company_id)",
            "i.opened_at",
            "i.opened_at, i.incident_id",
            company_column="i.company_id",  # the company at the time, as GET /incidents
        ),
        Dataset(
            "trips",
            "运输趟次",
            _cols(
                ("trip_id", "趟次编号"),
                *_VEHICLE,
                ("permit_id", "核准编号"),
                ("origin_id", "出土工地"),
                ("yard_id", "消纳场"),
                ("loading_at", "装载时间", "time"),
                ("departed_at", "出发时间", "time"),
                ("arrived_at", "到场时间", "time"),
                ("completed_at", "完成时间", "time"),
                ("volume_m3", "方量(m³)", "float"),
                ("volume_source", "方量来源"),
                ("outcome", "去向"),
                ("late", "补传数据", "bool"),
            ),
            "SELECT t.trip_id, t.vehicle_id, v.plate, c.name, t.permit_id, t.origin_id, t.yard_id,"
            " t.loading_at, t.departed_at, t.arrived_at, t.completed_at, t.volume_m3,"
            " t.volume_source, t.outcome, t.late FROM trips t"
            " LEFT JOIN vehicles v ON v.id = t.vehicle_id"
            " LEFT JOIN companies c ON c.id = COALESCE(t.company_id, v.company_id)",
            "t.loading_at",
            "t.loading_at, t.trip_id",
            company_column="t.company_id",  # as GET /trips
        ),
        Dataset(
            "blacklist",
            "黑名单",
            _cols(
                ("id", "名单编号", "int"),
                *_VEHICLE,
                ("source", "来源"),
                ("reason", "原因"),
                ("listed_by", "列入人"),
                ("listed_at", "列入时间", "time"),
                ("expires_at", "到期时间", "time"),
                ("lifted_at", "解除时间", "time"),
                ("lifted_by", "解除人"),
                ("lifted_how", "解除方式"),
                ("lifted_reason", "解除原因"),
            ),
            "SELECT l.id, l.vehicle_id, v.plate, c.name, l.source, l.reason, l.listed_by,"
            " l.listed_at, l.expires_at, l.lifted_at, l.lifted_by, l.lifted_how, l.lifted_reason"
            " FROM blacklist_listings l JOIN vehicles v ON v.id = l.vehicle_id"
            " LEFT JOIN companies c ON c.id = v.company_id",
            "l.listed_at",
            "l.listed_at, l.id",
        ),
        Dataset(
            "blacklist-history",
            "黑名单记录",
            _cols(
                ("id", "记录编号", "int"),
                *_VEHICLE,
                ("at", "时间", "time"),
                ("actor", "操作人"),
                ("action", "动作"),
                ("listing_id", "名单编号", "int"),
                ("appeal_id", "申诉编号", "int"),
                ("detail", "详情", "json"),
            ),
            "SELECT h.id, h.vehicle_id, v.plate, c.name, h.at, h.actor, h.action, h.listing_id,"
            " h.appeal_id, h.detail FROM blacklist_history h JOIN vehicles v ON v.id = h.vehicle_id"
            " LEFT JOIN companies c ON c.id = v.company_id",
            "h.at",
            "h.at, h.id",
        ),
        Dataset(
            "yard-ledger",
            "消纳场台账",
            _cols(
                ("id", "台账编号", "int"),
                ("yard_id", "消纳场ID", "int"),
                ("yard", "消纳场"),
                ("kind", "类别"),
                ("trip_id", "趟次编号"),
                ("volume_m3", "方量(m³)", "float"),
                ("volume_source", "方量来源"),
                ("reason", "原因"),
                ("actor", "操作人"),
                ("at", "发生时间", "time"),
                ("created_at", "记录时间", "time"),
            ),
            "SELECT g.id, g.yard_id, y.name, g.kind, g.trip_id, g.volume_m3::float8,"
            " g.volume_source, g.reason, g.actor, g.at, g.created_at"
            " FROM yard_ledger g JOIN yards y ON y.id = g.yard_id",
            "g.at",
            "g.at, g.id",
            company_column=None,
        ),
        Dataset(
            "cases",
            "案件",
            _cols(
                ("id", "案件编号", "int"),
                ("subtype", "案由"),
                ("state", "状态"),
                ("source", "来源"),
                ("source_ref", "来源编号"),
                ("company", "当事企业"),
                ("plate", "车牌号"),
                ("district", "区县"),
                ("unit", "承办单位"),
                ("lon", "经度", "float"),
                ("lat", "纬度", "float"),
                ("penalty_cny", "罚款(元)", "float"),
                ("opened_at", "立案时间", "time"),
                ("due_at", "本阶段期限", "time"),
                ("closed_at", "结案时间", "time"),
                ("facts", "案情"),
            ),
            "SELECT c.id, st.name_zh, c.state, c.source, c.source_ref, co.name, v.plate, d.name,"
            " u.name, c.lon, c.lat, c.penalty_cny::float8, c.opened_at, c.due_at, c.closed_at,"
            " c.facts FROM cases c JOIN case_subtypes st ON st.code = c.subtype"
            " LEFT JOIN companies co ON co.id = c.company_id"
            " LEFT JOIN vehicles v ON v.id = c.vehicle_id"
            " LEFT JOIN jurisdictions d ON d.id = c.district_id"
            " LEFT JOIN units u ON u.id = c.unit_id",
            "c.opened_at",
            "c.opened_at, c.id",
            company_column="c.company_id",
            scoped_as_cases=True,
        ),
    )
}


class ExportParams(BaseModel):
    """What to export: the filters of the list endpoints, and the period (UTC instants)."""

    vehicle_id: int | None = Field(default=None, ge=1, le=2**62)
    company_id: int | None = Field(default=None, ge=1, le=2**62)
    yard_id: int | None = Field(default=None, ge=1, le=2**62)
    unit_id: int | None = Field(default=None, ge=1, le=2**62)  # cases: the unit's queue
    permit_id: str | None = Field(default=None, min_length=1, max_length=64)
    type: str | None = Field(default=None, min_length=1, max_length=64)
    status: str | None = Field(default=None, min_length=1, max_length=32)
    active: bool | None = None
    since: Instant | None = None
    until: Instant | None = None
    interval_s: int | None = Field(default=None, ge=1, le=86_400)  # tracks: one fix per interval
    include_flagged: bool = False  # tracks


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """One scoped export: its dataset, the WHERE clause and parameters, and a file name."""

    dataset: Dataset
    where: str
    params: dict[str, Any] = field(default_factory=dict)
    filename: str = "export"
    sample_s: int | None = None  # tracks: one fix per interval (DISTINCT ON a time bucket)

    def rows_sql(self) -> str:
        d = self.dataset
        if self.sample_s:
            bucket = "time_bucket(make_interval(secs => %(sample_s)s), p.fix_time, %(since)s)"
            return (
                f"{d.select.replace('SELECT ', f'SELECT DISTINCT ON ({bucket}) ', 1)}"
                f" WHERE {self.where} ORDER BY {bucket}, p.fix_time"
            )
        return f"{d.select} WHERE {self.where} ORDER BY {d.order}"

    def count_sql(self) -> str:
        return f"SELECT count(*) FROM ({self.rows_sql()}) q"


def _period(
    p: ExportParams, max_days: int, now: datetime, default_days: int
) -> tuple[datetime, datetime]:
    until = p.until or now
    since = p.since or until - timedelta(days=min(default_days, max_days))
    if since >= until:
        raise BadRequest("since must be before until", field="since")
    if until - since > timedelta(days=max_days):
        raise BadRequest(f"at most {max_days} days per export", field="until")
    return since, until


def build(kind: str, fmt: str, p: ExportParams, who: Principal, cfg: ExportSettings) -> ExportQuery:
    """The scoped query of one export; 400 naming the field for what cannot be exported."""
    dataset = DATASETS.get(kind)
    if dataset is None:
        raise BadRequest(f"unknown export {kind!r}: one of {sorted(DATASETS)}", field="kind")
    if fmt not in dataset.formats:
        raise BadRequest(f"{kind} exports as {', '.join(dataset.formats)}", field="format")
    if who.role == Role.department:
        raise BadRequest("department accounts pull their feeds", field="kind")
    now = datetime.now(UTC)
    is_track = kind == "track"
    max_days = cfg.track_max_days if is_track else cfg.max_days
    since, until = _period(p, max_days, now, 1 if is_track else 30)
    params: dict[str, Any] = {"since": since, "until": until}
    where = [f"{dataset.time_column} >= %(since)s", f"{dataset.time_column} < %(until)s"]
    company = who.company_id if who.role == Role.company_user else p.company_id
    if is_track:
        if p.vehicle_id is None:
            raise BadRequest("a track is one vehicle's: give vehicle_id", field="vehicle_id")
        where.append("p.vehicle_id = %(vehicle_id)s")
        if company is not None:  # the vehicle must be the company's (else: nothing, like a 404)
            where.append(
                "EXISTS (SELECT 1 FROM vehicles v WHERE v.id = p.vehicle_id"
                " AND v.company_id = %(company_id)s)"
            )
        if not p.include_flagged:
            where.append("p.flags = 0")
    elif dataset.scoped_as_cases:  # who sees which case: as the case queue decides
        scope, scope_params = case_scope(who)
        where.append(f"({scope})")
        params.update(scope_params)
        if p.company_id is not None and who.role != Role.company_user:
            where.append(f"{dataset.company_column} = %(company_id)s")
    elif dataset.company_column is not None and company is not None:
        where.append(f"{dataset.company_column} = %(company_id)s")
    params["company_id"] = company
    alias = dataset.time_column.split(".")[0]
    for name, value in (
        ("vehicle_id", p.vehicle_id),
        ("yard_id", p.yard_id),
        ("unit_id", p.unit_id),
        ("permit_id", p.permit_id),
        ("type", p.type),
        ("status", p.status),
    ):
        if value is None or (is_track and name == "vehicle_id"):
            continue
        column = _filter_column(dataset, alias, name)
        if column is None:
            raise BadRequest(f"{kind} exports do not filter by {name}", field=name)
        where.append(f"{column} = %({name})s")
        params[name] = str(value) if name == "yard_id" and kind == "trips" else value
    if kind == "yard-ledger" and p.yard_id is None:
        raise BadRequest("a ledger is one yard's: give yard_id", field="yard_id")
    if p.active is not None:
        if kind != "blacklist":
            raise BadRequest("only blacklist exports filter by active", field="active")
        live = "l.lifted_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now())"
        where.append(live if p.active else f"NOT ({live})")
    params["vehicle_id"] = p.vehicle_id
    params["sample_s"] = p.interval_s if is_track else None
    stamp = since.astimezone(UTC).strftime("%Y%m%d")
    subject = f"-{p.vehicle_id}" if is_track else f"-{p.yard_id}" if p.yard_id else ""
    return ExportQuery(
        dataset,
        " AND ".join(where),
        params,
        f"{kind}{subject}-{stamp}",
        params["sample_s"],
    )


_FILTERS: dict[str, frozenset[str]] = {
    "incidents": frozenset({"vehicle_id", "permit_id", "type", "status"}),
    "trips": frozenset({"vehicle_id", "permit_id", "yard_id"}),
    "blacklist": frozenset({"vehicle_id"}),
    "blacklist-history": frozenset({"vehicle_id", "type"}),
    "yard-ledger": frozenset({"yard_id", "type"}),
    "cases": frozenset({"vehicle_id", "unit_id", "type", "status"}),
}
_RENAMED = {
    ("blacklist-history", "type"): "action",
    ("yard-ledger", "type"): "kind",
    ("cases", "type"): "subtype",
    ("cases", "status"): "state",
}


def _filter_column(dataset: Dataset, alias: str, name: str) -> str | None:
    if name not in _FILTERS.get(dataset.kind, frozenset()):
        return None
    return f"{alias}.{_RENAMED.get((dataset.kind, name), name)}"
