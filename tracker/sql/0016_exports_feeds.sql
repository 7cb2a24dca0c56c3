-- Exports and department feeds (tracker.exports): export jobs with progress, share grants that
-- give a department account a pull feed, and the commit-order stamps the incident and trip
-- feeds page by.

-- A department account reads its feeds and nothing else (not a staff role).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'permit_officer', 'enforcement_officer', 'viewer', 'company_user',
                    'department'));

-- An export run off the request: its progress, and the file it wrote (deleted at expires_at).
CREATE TABLE export_jobs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    actor       text NOT NULL,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,  -- NULL: the bootstrap token
    company_id  bigint,                                          -- a company user's scope
    kind        text NOT NULL,
    format      text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',
    state       text NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'done', 'failed', 'expired')),
    rows_total  bigint,
    rows_done   bigint NOT NULL DEFAULT 0,
    bytes       bigint,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX export_jobs_expiry ON export_jobs (expires_at) WHERE state <> 'expired';

-- A department's share grant: what it may pull (kinds) and where (companies, vehicles, bbox).
CREATE TABLE share_grants (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department          text NOT NULL CHECK (length(btrim(department)) BETWEEN 1 AND 200),
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kinds               text[] NOT NULL CHECK (cardinality(kinds) > 0
                            AND kinds <@ ARRAY['positions', 'incidents', 'trips']::text[]),
    company_ids         bigint[] NOT NULL DEFAULT '{}',
    vehicle_ids         bigint[] NOT NULL DEFAULT '{}',
    bbox                double precision[],   -- min_lon, min_lat, max_lon, max_lat
    position_interval_s integer NOT NULL DEFAULT 30 CHECK (position_interval_s BETWEEN 1 AND 86400),
    daily_files         boolean NOT NULL DEFAULT true,
    active              boolean NOT NULL DEFAULT true,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT share_grants_scope CHECK (cardinality(company_ids) + cardinality(vehicle_ids) > 0
                                         OR bbox IS NOT NULL),
    CONSTRAINT share_grants_bbox CHECK (bbox IS NULL OR cardinality(bbox) = 4)
);
CREATE INDEX share_grants_user ON share_grants (user_id) WHERE active;

-- Commit order for the incident and trip feeds: every insert or update of one stamps it here
-- with its transaction id and a sequence number (a side table: the engine's tables keep their
-- shape). A feed serves only stamps below the oldest running transaction (pg_snapshot_xmin), in
-- (xid, seq) order, so a page never passes a row whose transaction commits later (a sequence
-- alone is not commit order). A row changed again moves to the end of its feed.
CREATE TABLE feed_stamps (
    entity text NOT NULL CHECK (entity IN ('incident', 'trip')),
    key    text NOT NULL,
    xid    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq    bigserial,
    PRIMARY KEY (entity, key)
);
CREATE INDEX feed_stamps_order ON feed_stamps (entity, xid, seq);

CREATE FUNCTION feed_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV: the entity, and the column holding its key
    INSERT INTO feed_stamps (entity, key) VALUES (TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[1])
    ON CONFLICT (entity, key) DO UPDATE
        SET xid = pg_current_xact_id(), seq = nextval('feed_stamps_seq_seq');
    RETURN NULL;
END $$;

INSERT INTO feed_stamps (entity, key) SELECT 'incident', incident_id FROM incidents;
INSERT INTO feed_stamps (entity, key) SELECT 'trip', trip_id FROM trips;
CREATE TRIGGER incidents_feed_stamp AFTER INSERT OR UPDATE ON incidents
    FOR EACH ROW EXECUTE FUNCTION feed_stamp('incident', 'incident_id');
CREATE TRIGGER trips_feed_stamp AFTER INSERT OR UPDATE ON trips
    FOR EACH ROW EXECUTE FUNCTION feed_stamp('trip', 'trip_id');
