"""Settings, one class per concern, all read from ``TRACKER_*`` environment variables.

Settings are built once (``Settings.load()``) and passed in; nothing reads the environment at
import time.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_STAFF_TOKEN = "dev-staff-token"
MIN_STAFF_TOKEN_CHARS = (
    32  # in prod; `python -c 'import secrets; print(secrets.token_urlsafe(32))'`
)
MIN_STAFF_TOKEN_BITS = 128  # estimated: length x the Shannon entropy of its characters


def token_bits(token: str) -> float:
    """A rough strength estimate: length times the per-character Shannon entropy."""
    if not token:
        return 0.0
    counts = Counter(token)
    per_char = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return per_char * len(token)


class LoginSettings(BaseModel):
    """Login throttling (tracker.accounts.throttle): after ``max_failures`` failed logins in a
    row an account (or a source address, at ``source_max_failures``) is locked for
    ``lockout_s``, doubling with each further lockout up to ``lockout_max_s``; a success clears
    the account's count. Held in Redis, so every API process sees the same counts."""

    max_failures: int = Field(default=5, ge=1)
    source_max_failures: int = Field(default=20, ge=1)
    lockout_s: float = Field(default=60.0, gt=0)
    lockout_max_s: float = Field(default=3600.0, gt=0)
    forget_after_s: float = Field(default=86_400.0, gt=0)  # failures older than this are forgotten


class FilterSettings(BaseModel):
    """Noise filters in the spirit of Traccar's FilterHandler.

    Each filter either ``reject``s a fix (it is answered as refused and not stored), ``flag``s it
    (stored with a flag bit set, so history shows it but rules may skip it) or is ``off``.
    """

    zero: Literal["reject", "flag", "off"] = "reject"
    future: Literal["reject", "flag", "off"] = "reject"
    future_limit_s: int = 86_400
    past: Literal["reject", "flag", "off"] = "reject"
    past_limit_s: int = 90 * 86_400
    invalid: Literal["reject", "flag", "off"] = "flag"
    jump: Literal["reject", "flag", "off"] = "flag"
    jump_max_speed_kmh: float = 200.0
    jump_min_distance_m: float = 300.0
    accuracy: Literal["reject", "flag", "off"] = "flag"
    accuracy_max_hdop: float = 10.0


class Jt808Settings(BaseModel):
    """The JT/T 808 TCP gateway (``tracker gateway``, its own process)."""

    host: str = "127.0.0.1"
    port: int = Field(default=6808, ge=0, le=65535)
    idle_timeout_s: float = Field(default=300.0, gt=0)
    strict_checksum: bool = True
    require_auth: bool = True  # refuse locations before a successful 0x0102
    auto_register: bool = False  # register unknown terminals whose plate names a known vehicle
    utc_offset_h: float = Field(default=8.0, ge=-14, le=14)  # zone of terminals' BCD times
    max_connections: int = Field(default=20_000, ge=1)
    # 0x0100 must name the plate of the terminal's vehicle (cities that bind terminal and plate)
    registration_binds_plate: bool = True
    auto_register_max_terminals: int = Field(default=1, ge=1)  # per vehicle (auto_register)
    # sub-package reassembly (docs/JT808.md §4.3): partial messages, per connection and in total
    subpacket_max_messages: int = Field(default=8, ge=1)  # per connection
    subpacket_max_bytes: int = Field(default=262_144, ge=1024)  # per connection
    subpacket_total_messages: int = Field(default=2_048, ge=1)
    subpacket_total_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    subpacket_retransmit_after_s: float = Field(default=10.0, gt=0)  # then 0x8003
    subpacket_max_age_s: float = Field(default=120.0, gt=0)
    # terminal model -> {"loaded"|"body_lifted"|"cover_closed": source}; "default" for the rest
    models: dict[str, dict[str, str | None]] = {
        # the simulator's terminals (`tracker simulate --protocol jt808`)
        "SIM-ZT": {"body_lifted": "status:29", "cover_closed": "!status:28"},
    }


class EngineSettings(BaseModel):
    """Enforcement engine rules for this deployment's city (tracker.trips.core.config): the city
    preset, single thresholds over docs/DOMAIN.md §2 defaults (``rules``, e.g.
    ``TRACKER_ENGINE__RULES='{"dumping_dwell_s": 240}'``), and the sensors trusted per
    terminal model (others: GPS only). Per permit and per zone: table engine_rule_overrides."""

    city: str = "default"
    rules: dict[str, float | int | bool | None] = {}
    sensors: dict[str, list[str]] = {"SIM-ZT": ["lift", "cover"]}  # the simulator's terminals


class LimitSettings(BaseModel):
    """Input limits (tracker.limits, docs/DECISIONS.md "Input limits"): request bodies per
    route, measured while they arrive (413 beyond), and the vertices of fences per polygon or
    line and per request (400 naming the field, counted before any geometry is built).
    ``POST /positions`` keeps ``TRACKER_MAX_BODY_BYTES``."""

    body_bytes: int = Field(default=64 * 1024, ge=1024)  # every other route
    login_body_bytes: int = Field(default=4 * 1024, ge=1024)  # POST /auth/token
    geometry_body_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)  # places, permits
    fence_vertices: int = Field(default=20_000, ge=4)  # per fence: all its rings, or its line
    request_vertices: int = Field(default=100_000, ge=4)  # all geometry of one request


class ClueSettings(BaseModel):
    """Clues from people (tracker.clues): the public report's limits, per source address and per
    vehicle code within ``window_s`` (429 beyond), receipt look-ups per address, and the size
    of every field and photo. A report's body is bounded by ``body_bytes`` (413 beyond)."""

    window_s: int = Field(default=3600, ge=1)
    reports_per_source: int = Field(default=5, ge=1)  # per window and source address
    reports_per_code: int = Field(default=20, ge=1)  # per window and vehicle code
    lookups_per_source: int = Field(default=30, ge=1)  # receipt status, per window and address
    max_photos: int = Field(default=3, ge=0, le=16)
    photo_bytes: int = Field(default=1024 * 1024, ge=1024, le=4 * 1024 * 1024)  # each, decoded
    text_chars: int = Field(default=1000, ge=1, le=2000)
    contact_chars: int = Field(default=64, ge=1, le=100)
    body_bytes: int = Field(default=6 * 1024 * 1024, ge=64 * 1024)  # a report with its photos
    max_age_days: int = Field(default=30, ge=1)  # how long ago the thing seen may have been
    # Personal data of public reporters is kept only while needed (the clue-privacy round):
    # the source address for abuse review, the contact until the clue is settled.
    source_addr_days: int = Field(default=30, ge=1)  # from the report
    contact_days: int = Field(default=180, ge=1)  # from the clue's case or closure


class EvidenceSettings(BaseModel):
    """Evidence packs (tracker.evidence): how many fixes a pack's track holds at most, and the
    largest pack built (a bigger incident is refused, 413). The case file's times are shown in
    the city's zone (``TRACKER_CITY_TZ``)."""

    max_fixes: int = Field(default=20_000, ge=10)
    max_pack_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)


class OutboxSettings(BaseModel):
    """The outbox and its deliverer (tracker.outbox, ``tracker deliver``): how long a failing
    delivery is retried (exponential back-off from ``backoff_base_s`` up to ``backoff_max_s``)
    before it is dead-lettered, how often the deliverer looks for work, how many subscriptions
    it serves at once and how many deliveries it takes per subscription and round; the SMS
    gateway and SMTP server; the notice days of permit.expiring."""

    retry_period_s: float = Field(default=86_400.0, gt=0)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=600.0, gt=0)
    poll_interval_s: float = Field(default=0.2, gt=0)
    concurrency: int = Field(default=16, ge=1, le=256)
    batch_deliveries: int = Field(default=500, ge=1, le=5000)
    fanout_batch: int = Field(default=5000, ge=1)
    http_timeout_s: float = Field(default=10.0, gt=0)
    sms_gateway_url: str | None = None  # POST JSON: PhoneNumbers, SignName, TemplateCode, ...
    sms_gateway_token: str | None = None  # sent as a bearer token
    sms_sign_name: str = "渣土监管"
    sms_templates: dict[str, str] = {}  # event type -> the gateway's template id ("*": the rest)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "muck-tracker@localhost"
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    permit_expiring_days: int = Field(default=3, ge=1, le=90)


Basemap = Literal["offline", "osm", "amap", "tianditu", "baidu"]


class MapSettings(BaseModel):
    """The pages' basemaps (tracker.config_api, ``GET /api/v1/config``): the one shown first and
    those offered, in order (``TRACKER_MAP__DEFAULT_BASEMAP=amap``). ``offline`` is the road
    layer drawn from the imported network, and the fallback when tiles cannot be fetched.
    Tianditu needs a browser key (``TRACKER_MAP__TIANDITU_KEY``); it travels in every tile URL,
    so it is no secret: restrict it to the site's domain at Tianditu. Without a key Tianditu is
    not offered."""

    default_basemap: Basemap = "offline"
    basemaps: list[Basemap] = Field(
        default=["offline", "amap", "tianditu", "baidu", "osm"], min_length=1, max_length=5
    )
    tianditu_key: str = Field(default="", max_length=64, pattern=r"^[0-9A-Za-z]*$")


class CaseSettings(BaseModel):
    """Cases (tracker.cases, docs/DECISIONS.md "Cases"): days per stage (the law's where it sets
    one: decision within 90 days of opening, hearing request within 5 days of the notice,
    delivery within 7 days of the decision), the fine from which a hearing may be asked, and the
    engine incident types that open a case by themselves (others when an officer confirms)."""

    review_days: float = Field(default=3.0, gt=0)
    dispatch_days: float = Field(default=2.0, gt=0)
    statement_days: float = Field(default=5.0, gt=0)
    decision_days: float = Field(default=90.0, gt=0)
    delivery_days: float = Field(default=7.0, gt=0)
    execution_days: float = Field(default=15.0, gt=0)
    large_fine_cny: float = Field(default=10_000.0, ge=0)
    auto_open_types: list[str] = []


class ExportSettings(BaseModel):
    """Exports and department feeds (tracker.exports): where job files and the daily files are
    written, how long a job's file is kept, the limits of one export (rows; days of a period;
    the track's own 31 days are the track API's), how many exports one API process streams at
    once (each holds a pool connection while it streams), and how long the positions feed waits
    before a time bucket is served (fixes stored later than that are in exports, not the feed)."""

    dir: str = ".data/exports"
    job_ttl_h: float = Field(default=24.0, gt=0, le=24 * 30)
    max_rows: int = Field(default=1_000_000, ge=1, le=1_048_575)  # an XLSX sheet's limit
    max_days: int = Field(default=366, ge=1, le=3660)
    track_max_days: int = Field(default=31, ge=1, le=366)
    concurrent: int = Field(default=2, ge=1, le=64)
    batch_rows: int = Field(default=5_000, ge=100, le=100_000)
    feed_page_max: int = Field(default=5_000, ge=1, le=50_000)
    feed_settle_s: float = Field(default=60.0, ge=0)
    stale_job_s: float = Field(default=600.0, gt=0)  # a running job not heard of since: failed


class SightingSettings(BaseModel):
    """Plate sightings from checkpoint cameras (tracker.sightings, README "Checkpoints and
    sightings"): a batch's size and field limits, the confidence below which a plate read raises
    nothing, and how a sighting is compared with its terminal: fixes within ``window_s`` of
    it; farther than ``base_distance_m`` plus ``max_speed_kmh`` times the time apart is a
    contradiction; the comparison waits ``grace_s`` after the end of that window (or the
    sighting's arrival, if later) so that fixes a terminal held back can arrive first."""

    max_batch: int = Field(default=500, ge=1, le=10_000)
    body_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)  # POST /api/v1/sightings
    photo_ref_chars: int = Field(default=500, ge=16, le=2000)
    min_confidence: float = Field(default=0.8, ge=0, le=1)
    window_s: float = Field(default=300.0, gt=0, le=3600)
    base_distance_m: float = Field(default=2000.0, ge=0)
    max_speed_kmh: float = Field(default=100.0, gt=0, le=300)
    grace_s: float = Field(default=600.0, ge=0, le=86_400)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRACKER_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "postgresql://postgres@127.0.0.1:55432/tracker"
    redis_url: str = "redis://127.0.0.1:56379/0"
    # Bootstrap admin bearer token (staff accounts: `tracker user add`).
    staff_token: str = DEV_STAFF_TOKEN
    # Staff accounts: lifetime of an API token from POST /api/v1/auth/token.
    token_ttl_h: float = Field(default=12.0, gt=0, le=24 * 90)
    # Where the road network for corridor proposals is read from (monaco.osm.pbf by default).
    data_dir: str = ".data"
    permit_expiry_interval_s: float = Field(default=300.0, gt=0)
    road_network_pbf: str | None = None
    shards: int = Field(default=8, ge=1, le=1024)
    stream_maxlen: int = Field(default=200_000, ge=1000)
    # Groups held for Redis while it is away; beyond, the oldest are dropped (the engine takes
    # them from the ingest commit log).
    stream_backlog_groups: int = Field(default=1000, ge=1)
    h3_resolution: int = Field(default=9, ge=0, le=15)
    max_batch_fixes: int = Field(default=5_000, ge=1)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    writer_max_rows: int = Field(default=5_000, ge=100)
    writer_connections: int = Field(default=2, ge=1, le=16)
    # `tracker serve` applies migrations on start; the gateway and the maintenance process never
    # do: they wait up to schema_wait_s for them (tracker.db.wait_for_schema).
    migrate_on_start: bool = True
    schema_wait_s: float = Field(default=60.0, ge=0)
    # Run the periodic maintenance tasks (tracker.maintenance) in every API worker. Turn it off
    # when a `tracker maintenance` process runs them.
    maintenance_in_api: bool = True
    # rebuild finished days' pings index compact (tracker.history.compaction); 0: off.
    # `tracker serve` and `tracker maintenance` turn it on (900 s) unless set (tracker.processes).
    compaction_interval_s: float = Field(default=0.0, ge=0)
    # `tracker serve` and `tracker gateway` turn it on (tracker.runtime, tracker.processes)
    tune_gc: bool = False
    db_pool_size: int = Field(default=8, ge=1)
    # Back-pressure (README "Back-pressure"): how long a request waits for a pool connection;
    # statement and lock timeouts of the pool's sessions (a KPI query sets its own, longer);
    # the writer's queue bound in rows, an ingest request's deadline and the writer sessions'
    # timeouts; the Retry-After of a 503. Past any of them: 503, nothing acknowledged.
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_s: float = Field(default=30.0, gt=0)
    db_lock_timeout_s: float = Field(default=5.0, gt=0)
    writer_max_queued_rows: int = Field(default=100_000, ge=1)
    ingest_deadline_s: float = Field(default=10.0, gt=0)
    writer_statement_timeout_s: float = Field(default=10.0, gt=0)
    writer_lock_timeout_s: float = Field(default=5.0, gt=0)
    retry_after_s: int = Field(default=2, ge=1)
    # Readiness (tracker.health): the API answers GET /readyz; the gateway and engine processes
    # answer it on their own small HTTP listener at health_port (0: none). A check that does
    # not answer within readiness_timeout_s fails; the writer is stalled when work has waited
    # longer than writer_stall_s.
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, ge=0, le=65535)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # Prometheus metrics (tracker.metrics): the API's GET /metrics takes this scrape token as a
    # bearer (or an admin's); the health listener's /metrics is for the internal network.
    metrics_token: str = ""
    writer_stall_s: float = Field(default=5.0, gt=0)
    # Capacity ledger, blacklist and the public vehicle code (tracker.capacity / .blacklist /
    # .public): how often alerts are checked and expired listings recorded, the inflow window of
    # the days-to-full forecast, and the base URL the QR codes point at.
    capacity_interval_s: float = Field(default=30.0, gt=0)
    capacity_inflow_days: int = Field(default=14, ge=1, le=365)
    blacklist_expiry_interval_s: float = Field(default=60.0, gt=0)
    # KPI hourly rollup (tracker.kpi.rollup): how often finished hours are rolled up; 0: off.
    kpi_rollup_interval_s: float = Field(default=300.0, ge=0)
    # outbox notices found by looking (tracker.outbox.notices): permit.expiring, credit grades
    outbox_notices_interval_s: float = Field(default=300.0, ge=0)

    # Cases (tracker.cases.escalation): overdue escalation and auto-opening rounds; 0: off.
    case_escalation_interval_s: float = Field(default=300.0, ge=0)
    case_intake_interval_s: float = Field(default=60.0, ge=0)
    # Public reporters' addresses and contacts forgotten past their keeping periods; 0: off.
    clue_privacy_interval_s: float = Field(default=3600.0, ge=0)
    public_base_url: str = "http://127.0.0.1:8000"
    # The city's time zone (IANA name): permit windows, zone schedules and permit dates are its
    # local wall-clock times and days; pages (GET /api/v1/config), exports and daily files show
    # times in it.
    city_tz: str = "Asia/Shanghai"
    # Exports and feeds (tracker.exports): job files expired and stale jobs failed; each grant's
    # daily files for yesterday written (both 0: off).
    export_expiry_interval_s: float = Field(default=300.0, ge=0)
    daily_export_interval_s: float = Field(default=3600.0, ge=0)
    login: LoginSettings = LoginSettings()
    # Web pages and the websocket (tracker.security, tracker.live.api): origins besides the API's
    # own that may open the live websocket, and tile servers the pages' CSP lets images load from
    # (the map's `tiles=` URL must be on one of them), e.g. '["https://tile.openstreetmap.org"]'.
    web_allowed_origins: list[str] = []
    web_tile_origins: list[str] = []
    filters: FilterSettings = FilterSettings()
    jt808: Jt808Settings = Jt808Settings()
    engine: EngineSettings = EngineSettings()
    limits: LimitSettings = LimitSettings()
    clues: ClueSettings = ClueSettings()
    evidence: EvidenceSettings = EvidenceSettings()

    outbox: OutboxSettings = OutboxSettings()

    map: MapSettings = MapSettings()

    @model_validator(mode="after")
    def _known_city_tz(self) -> Settings:
        try:
            ZoneInfo(self.city_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TRACKER_CITY_TZ: unknown time zone {self.city_tz!r}") from exc
        return self

    cases: CaseSettings = CaseSettings()

    exports: ExportSettings = ExportSettings()

    # Checkpoint sightings (tracker.sightings): how often pending sightings past their grace
    # period are compared with their terminals (0: off).
    sighting_review_interval_s: float = Field(default=30.0, ge=0)
    sightings: SightingSettings = SightingSettings()

    @model_validator(mode="after")
    def _no_default_secret_in_prod(self) -> Settings:
        if self.env == "prod" and self.staff_token == DEV_STAFF_TOKEN:
            raise ValueError("TRACKER_STAFF_TOKEN must be set outside dev")
        if self.env == "prod" and (
            len(self.staff_token) < MIN_STAFF_TOKEN_CHARS
            or token_bits(self.staff_token) < MIN_STAFF_TOKEN_BITS
        ):
            raise ValueError(
                f"TRACKER_STAFF_TOKEN is too weak for prod: at least {MIN_STAFF_TOKEN_CHARS} "
                f"random characters (about {MIN_STAFF_TOKEN_BITS} bits), e.g. "
                "secrets.token_urlsafe(32)"
            )
        return self

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        return cls(**overrides)  # type: ignore[arg-type]
