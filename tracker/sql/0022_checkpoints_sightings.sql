-- Checkpoints (卡点) and plate sightings from their cameras (issue 18).
-- A checkpoint is a registry place: a point (lon, lat), the directions its cameras watch, its
-- district and camera ids. `muck_lanes`: its cameras watch lanes only muck trucks use, so a
-- plate with no registered vehicle seen there is an unregistered muck truck.
CREATE TABLE checkpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    directions  jsonb NOT NULL DEFAULT '[]',  -- [{"name": "inbound", "bearing_deg": 90}]
    district    text,
    cameras     jsonb NOT NULL DEFAULT '[]',  -- camera ids (strings)
    muck_lanes  boolean NOT NULL DEFAULT true,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A camera system (one operator's plate cameras) posts sightings with its own bearer token;
-- only the token's SHA-256 is stored, as for terminals.
CREATE TABLE camera_systems (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(btrim(name)) > 0),
    note            text,
    token_hash      bytea UNIQUE,
    token_issued_at timestamptz,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per plate read. Idempotent twice over: the camera system's own sighting id, and the
-- plate at a checkpoint at one instant. `vehicle_id` is the registered vehicle of the plate when
-- it arrived (NULL: none). `review_after`: when the terminal is compared with it (a grace period
-- for late fixes); `reviewed_at` once done.
CREATE TABLE sightings (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera_system_id bigint NOT NULL REFERENCES camera_systems (id),
    external_id      text,
    plate            text NOT NULL,
    plate_colour     text NOT NULL,
    seen_at          timestamptz NOT NULL,
    checkpoint_id    bigint NOT NULL REFERENCES checkpoints (id),
    direction        text,
    camera_id        text,
    photo_ref        text,
    confidence       real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    loaded           boolean,
    vehicle_id       bigint REFERENCES vehicles (id) ON DELETE CASCADE,
    company_id       bigint,
    received_at      timestamptz NOT NULL DEFAULT now(),
    review_after     timestamptz NOT NULL,
    reviewed_at      timestamptz,
    findings         jsonb NOT NULL DEFAULT '[]',
    UNIQUE (camera_system_id, external_id),
    UNIQUE (plate, checkpoint_id, seen_at)
);
CREATE INDEX sightings_vehicle ON sightings (vehicle_id, seen_at DESC);
CREATE INDEX sightings_plate ON sightings (plate, seen_at DESC);
CREATE INDEX sightings_seen ON sightings (seen_at DESC);
CREATE INDEX sightings_review ON sightings (review_after) WHERE reviewed_at IS NULL;

-- An unregistered plate's incident has no vehicle: its plate is in the detail.
ALTER TABLE incidents ALTER COLUMN vehicle_id DROP NOT NULL;

-- unregistered_vehicle: a plate with no registered vehicle seen on a checkpoint's muck lanes;
-- its points go nowhere (no vehicle), the policy row keeps the type listed.
CREATE OR REPLACE FUNCTION credit_policy_defaults() RETURNS void LANGUAGE sql AS $$
    DELETE FROM credit_points_policy;
    INSERT INTO credit_points_policy (incident_type, points) VALUES
        ('dumping', 12), ('wrong_yard', 6), ('no_permit', 6), ('terminal_offline', 6),
        ('blacklisted_vehicle', 12), ('terminal_tampering', 12),
        ('closed_yard', 6), ('quota_exceeded', 6), ('inactive_site', 6),
        ('unregistered_vehicle', 12),
        ('route_deviation', 3), ('outside_hours', 3), ('no_go_zone', 3),
        ('speeding', 2), ('uncovered', 2);
    DELETE FROM credit_settings;
    INSERT INTO credit_settings DEFAULT VALUES;
$$;

INSERT INTO credit_points_policy (incident_type, points) VALUES ('unregistered_vehicle', 12)
    ON CONFLICT (incident_type) DO NOTHING;
