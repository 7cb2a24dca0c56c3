-- The enforcement engine: incidents (episodes with evidence), trips (the electronic manifest),
-- and checkpoints (per-vehicle state plus the stream position it reflects). The engine writes
-- its effects and its checkpoint in one transaction, so a restart resumes exactly after them.

CREATE TABLE incidents (
    incident_id text PRIMARY KEY,               -- deterministic: vehicle, rule key, start time
    type        text NOT NULL,
    vehicle_id  bigint NOT NULL,
    company_id  bigint,
    permit_id   text,
    trip_id     text,
    severity    text NOT NULL DEFAULT 'normal',
    -- officers move it: open -> confirmed | dismissed -> closed
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'confirmed', 'dismissed', 'closed')),
    note        text,
    status_by   text,
    opened_at   timestamptz NOT NULL,           -- when the condition began (episode start)
    detected_at timestamptz NOT NULL,           -- fix (or tick) time that opened it
    ended_at    timestamptz,                    -- the engine saw the condition end
    closed_at   timestamptz,                    -- an officer closed the case
    late        boolean NOT NULL DEFAULT false, -- revealed by late fixes: stored, not alarmed
    lon         double precision,
    lat         double precision,
    detail      jsonb NOT NULL DEFAULT '{}',
    evidence    jsonb NOT NULL DEFAULT '{"type": "FeatureCollection", "features": []}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incidents_opened ON incidents (opened_at DESC);
CREATE INDEX incidents_vehicle ON incidents (vehicle_id, opened_at DESC);
CREATE INDEX incidents_type_status ON incidents (type, status, opened_at DESC);

CREATE TABLE trips (
    trip_id       text PRIMARY KEY,             -- deterministic: vehicle and loading time
    vehicle_id    bigint NOT NULL,
    company_id    bigint,
    permit_id     text,
    origin_id     text,                         -- site id
    yard_id       text,
    loading_at    timestamptz,
    departed_at   timestamptz,
    arrived_at    timestamptz,
    completed_at  timestamptz,
    volume_m3     double precision,
    volume_source text,
    outcome       text,                         -- NULL while under way; yard | elsewhere
    late          boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trips_vehicle ON trips (vehicle_id, loading_at DESC);
CREATE INDEX trips_permit ON trips (permit_id, loading_at DESC);
CREATE INDEX trips_yard ON trips (yard_id, arrived_at DESC);

-- Where each shard's worker has consumed its stream up to (the last entry id it committed).
CREATE TABLE engine_shards (
    shard      integer PRIMARY KEY,
    stream_id  text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per-vehicle engine state as of the shard position committed with it.
CREATE TABLE engine_checkpoints (
    vehicle_id  bigint PRIMARY KEY,
    shard       integer NOT NULL,
    state       jsonb NOT NULL,
    stream_id   text NOT NULL,                  -- the last entry that touched this vehicle
    last_fix_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX engine_checkpoints_shard ON engine_checkpoints (shard);
