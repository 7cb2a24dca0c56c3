-- Foundation: companies, vehicles, terminals and the pings hypertable.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE companies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(btrim(name)) > 0),
    credit_code text UNIQUE,                       -- unified social credit code (统一社会信用代码)
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vehicles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plate           text NOT NULL UNIQUE CHECK (length(btrim(plate)) > 0),
    company_id      bigint NOT NULL REFERENCES companies (id),
    rated_volume_m3 numeric(6, 2) NOT NULL CHECK (rated_volume_m3 > 0 AND rated_volume_m3 <= 100),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicles_company ON vehicles (company_id);

CREATE TABLE terminals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identity        text NOT NULL UNIQUE CHECK (length(btrim(identity)) > 0), -- serial or JT/T 808 phone
    vehicle_id      bigint REFERENCES vehicles (id),
    model           text,
    token_hash      bytea UNIQUE,                  -- sha256 of the HTTP bearer token
    token_issued_at timestamptz,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX terminals_vehicle ON terminals (vehicle_id);

-- One row per stored fix. No foreign keys: a per-row FK check would cost ingest speed, and the
-- writer only ever stores fixes of vehicles it resolved from an authenticated terminal.
CREATE TABLE pings (
    vehicle_id   bigint NOT NULL,
    fix_time     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    terminal_id  bigint NOT NULL,
    lon          double precision NOT NULL,
    lat          double precision NOT NULL,
    h3_cell      bigint NOT NULL,                  -- H3 cell (resolution per settings) as bigint
    speed_kmh    real,
    heading_deg  real,
    altitude_m   real,
    satellites   smallint,
    hdop         real,
    valid        boolean NOT NULL,
    ignition     boolean,
    loaded       boolean,
    body_lifted  boolean,
    cover_closed boolean,
    alarm_bits   bigint NOT NULL DEFAULT 0,        -- JT/T 808 alarm DWORD (unsigned 32 bit)
    flags        smallint NOT NULL DEFAULT 0,      -- noise filter flags (tracker.ingest.models.FixFlag)
    source       smallint NOT NULL,                -- 1 http, 2 jt808
    extra        jsonb
);

-- Daily chunks: 10,000 trucks at 30 s make ~29 M rows (~5 GB with the index) a day, which
-- fits in a quarter of memory. The default time index is not created. One unique index serves
-- idempotency (vehicle, fix time), track queries and latest-per-vehicle at once: each extra
-- B-tree costs ingest speed. It INCLUDEs the columns a track shows, so a track is an
-- index-only scan of a few dozen adjacent pages instead of one random heap page per fix (rows
-- arrive in time order across all trucks, so one truck's rows are spread over the heap).
SELECT create_hypertable('pings', by_range('fix_time', INTERVAL '1 day'),
                         create_default_indexes => false);
CREATE UNIQUE INDEX pings_vehicle_time ON pings (vehicle_id, fix_time DESC)
    INCLUDE (lon, lat, speed_kmh, heading_deg, valid, ignition, loaded, body_lifted,
             cover_closed, flags);
-- Index-only scans need the visibility map: vacuum append-only chunks often.
ALTER TABLE pings SET (autovacuum_vacuum_insert_scale_factor = 0.02,
                       autovacuum_vacuum_insert_threshold = 100000);
