-- Disposal-yard capacity ledger, blacklist and credit, and the public vehicle code.

-- ---------------------------------------------------------------------------------------------
-- Capacity ledger: one row per completed trip into a yard, plus audited manual adjustments.
-- Volumes are numeric so that the running fill and a full recomputation agree to the litre.
CREATE TABLE yard_ledger (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    yard_id       bigint NOT NULL REFERENCES yards (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('trip', 'survey', 'excavation', 'correction')),
    trip_id       text UNIQUE,                      -- set for kind 'trip' only
    volume_m3     numeric(14, 3) NOT NULL,          -- signed: adjustments may remove volume
    volume_source text,                             -- trip: rated | sensor | weighbridge ...
    reason        text,                             -- adjustments: why
    actor         text NOT NULL DEFAULT 'engine',
    at            timestamptz NOT NULL,             -- trip completion / adjustment effective time
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- false until the periodic fold has added the row to yard_fill.fill_m3
    folded        boolean NOT NULL DEFAULT false,
    CONSTRAINT yard_ledger_trip CHECK ((kind = 'trip') = (trip_id IS NOT NULL)),
    CONSTRAINT yard_ledger_reason CHECK (kind = 'trip' OR COALESCE(length(btrim(reason)), 0) > 0)
);
CREATE INDEX yard_ledger_yard_at ON yard_ledger (yard_id, at);
CREATE INDEX yard_ledger_unfolded ON yard_ledger (yard_id) WHERE NOT folded;

-- The running fill per yard: ledger rows are folded in by one UPDATE ... RETURNING, so the
-- engine's transactions never lock a shared counter row (two shards finishing trips into two
-- yards in opposite order would otherwise deadlock). Fill = fill_m3 + the unfolded rows.
CREATE TABLE yard_fill (
    yard_id     bigint PRIMARY KEY REFERENCES yards (id) ON DELETE CASCADE,
    fill_m3     numeric(14, 3) NOT NULL DEFAULT 0,
    alert_level integer NOT NULL DEFAULT 0,       -- highest alert level currently crossed
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Alerts at 80 / 95 / 100 %, one row per crossing (outbox: published_at set once sent).
CREATE TABLE yard_alerts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    yard_id      bigint NOT NULL REFERENCES yards (id) ON DELETE CASCADE,
    level        integer NOT NULL CHECK (level IN (80, 95, 100)),
    fill_pct     double precision NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX yard_alerts_yard ON yard_alerts (yard_id, at DESC);
CREATE INDEX yard_alerts_unpublished ON yard_alerts (id) WHERE published_at IS NULL;

-- A yard's current fill: the folded counter plus the rows not folded yet.
CREATE FUNCTION yard_fill_m3(p_yard bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT fill_m3 FROM yard_fill WHERE yard_id = p_yard), 0)
         + COALESCE((SELECT sum(volume_m3) FROM yard_ledger
                      WHERE yard_id = p_yard AND NOT folded), 0)
$$;

-- Fold the unfolded ledger rows into yard_fill (concurrent folds skip each other's rows).
CREATE FUNCTION yard_fill_fold() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH f AS (
        UPDATE yard_ledger SET folded = true WHERE NOT folded RETURNING yard_id, volume_m3
    ), s AS (
        SELECT yard_id, sum(volume_m3) AS v, count(*) AS c FROM f GROUP BY yard_id
    ), u AS (
        INSERT INTO yard_fill AS t (yard_id, fill_m3)
        SELECT yard_id, v FROM s
        ON CONFLICT (yard_id) DO UPDATE
            SET fill_m3 = t.fill_m3 + EXCLUDED.fill_m3, updated_at = now()
        RETURNING 1
    )
    SELECT COALESCE(sum(c), 0) INTO n FROM s;
    RETURN n;
END $$;

-- The trip volume the ledger books: the trip's own figure (a load sensor, a weighbridge), else
-- the truck's rated body volume. A figure outside (0, 1000] m³ is a broken sensor: it would
-- otherwise overflow the ledger and, inside the engine's transaction, stall its shard.
CREATE FUNCTION trip_ledger_m3(volume_m3 double precision, rated_m3 numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT round(CASE WHEN volume_m3 > 0 AND volume_m3 <= 1000 THEN volume_m3::numeric
                      ELSE rated_m3 END, 3)
$$;
CREATE FUNCTION trip_ledger_source(volume_m3 double precision, source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN volume_m3 > 0 AND volume_m3 <= 1000 THEN COALESCE(source, 'trip')
                ELSE 'rated' END
$$;

CREATE FUNCTION yard_ledger_book_trip() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.yard_id !~ '^[0-9]{1,18}$' THEN
        RETURN NULL;
    END IF;
    -- ON CONFLICT: the engine re-upserts the same trip when it replays after a restart
    INSERT INTO yard_ledger (yard_id, kind, trip_id, volume_m3, volume_source, at)
    SELECT y.id, 'trip', NEW.trip_id, trip_ledger_m3(NEW.volume_m3, v.rated_volume_m3),
           trip_ledger_source(NEW.volume_m3, NEW.volume_source), NEW.completed_at
      FROM yards y
      LEFT JOIN vehicles v ON v.id = NEW.vehicle_id
     WHERE y.id = NEW.yard_id::bigint
       AND trip_ledger_m3(NEW.volume_m3, v.rated_volume_m3) IS NOT NULL
    ON CONFLICT (trip_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER trips_yard_ledger
    AFTER INSERT OR UPDATE ON trips
    FOR EACH ROW
    WHEN (NEW.outcome = 'yard' AND NEW.completed_at IS NOT NULL AND NEW.yard_id IS NOT NULL)
    EXECUTE FUNCTION yard_ledger_book_trip();

-- ---------------------------------------------------------------------------------------------
-- Blacklist and credit.

-- Points a confirmed incident of each type costs its vehicle (defaults, editable by an admin).
CREATE TABLE credit_points_policy (
    incident_type text PRIMARY KEY,
    points        integer NOT NULL CHECK (points >= 0 AND points <= 100)
);

-- One row: the listing rule and the credit score weights.
CREATE TABLE credit_settings (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_points         integer NOT NULL DEFAULT 3,   -- a type missing from the policy
    threshold_points       integer NOT NULL DEFAULT 12 CHECK (threshold_points > 0),
    window_days            integer NOT NULL DEFAULT 365 CHECK (window_days > 0),
    listing_days           integer NOT NULL DEFAULT 90 CHECK (listing_days > 0),
    amber_points           integer NOT NULL DEFAULT 8 CHECK (amber_points > 0),
    score_points_weight    double precision NOT NULL DEFAULT 2.0,
    score_listing_penalty  double precision NOT NULL DEFAULT 10.0
);

-- The documented defaults (README, DOMAIN §4): used at install, and to restore them.
CREATE FUNCTION credit_policy_defaults() RETURNS void LANGUAGE sql AS $$
    DELETE FROM credit_points_policy;
    INSERT INTO credit_points_policy (incident_type, points) VALUES
        ('dumping', 12), ('wrong_yard', 6), ('no_permit', 6), ('terminal_offline', 6),
        ('blacklisted_vehicle', 12),
        ('route_deviation', 3), ('outside_hours', 3), ('no_go_zone', 3),
        ('speeding', 2), ('uncovered', 2);
    DELETE FROM credit_settings;
    INSERT INTO credit_settings DEFAULT VALUES;
$$;
SELECT credit_policy_defaults();

-- Vehicle points: one row per confirmed incident, booked by the trigger below.
CREATE TABLE vehicle_points (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id    bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    company_id    bigint,
    incident_id   text NOT NULL UNIQUE,
    incident_type text NOT NULL,
    points        integer NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    voided_at     timestamptz,                  -- an upheld appeal voids them
    voided_by     text
);
CREATE INDEX vehicle_points_vehicle ON vehicle_points (vehicle_id, at DESC);
CREATE INDEX vehicle_points_company ON vehicle_points (company_id, at DESC);

CREATE TABLE blacklist_listings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id    bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    source        text NOT NULL CHECK (source IN ('auto', 'manual')),
    reason        text NOT NULL CHECK (length(btrim(reason)) > 0),
    listed_by     text NOT NULL,
    listed_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,                  -- NULL: until delisted
    lifted_at     timestamptz,
    lifted_by     text,
    lifted_how    text CHECK (lifted_how IN ('manual', 'expired', 'appeal')),
    lifted_reason text,
    CONSTRAINT blacklist_lifted CHECK ((lifted_at IS NULL) = (lifted_how IS NULL)),
    CONSTRAINT blacklist_expiry CHECK (expires_at IS NULL OR expires_at > listed_at)
);
-- at most one listing per vehicle not yet lifted (an expired one is lifted before a new one)
CREATE UNIQUE INDEX blacklist_one_open ON blacklist_listings (vehicle_id) WHERE lifted_at IS NULL;
CREATE INDEX blacklist_vehicle ON blacklist_listings (vehicle_id, listed_at DESC);

-- Currently active listings. The enforcement engine raises incidents from this view; keep the
-- columns. An expired listing drops out at once; the expiry task records the lift afterwards.
CREATE VIEW blacklisted_vehicles AS
SELECT vehicle_id, id AS listing_id, listed_at AS since, reason
  FROM blacklist_listings
 WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- Appeals: filed by the company against a listing or a confirmed incident's points.
CREATE TABLE appeals (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id    bigint NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    vehicle_id    bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    listing_id    bigint REFERENCES blacklist_listings (id) ON DELETE CASCADE,
    incident_id   text,
    statement     text NOT NULL CHECK (length(btrim(statement)) > 0),
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'upheld', 'rejected')),
    filed_by      text NOT NULL,
    filed_at      timestamptz NOT NULL DEFAULT now(),
    decided_by    text,
    decided_at    timestamptz,
    decision_note text,
    CONSTRAINT appeals_target CHECK ((listing_id IS NULL) <> (incident_id IS NULL))
);
CREATE INDEX appeals_company ON appeals (company_id, filed_at DESC);
CREATE INDEX appeals_status ON appeals (status, filed_at);

-- Full history of every blacklist and credit event (the audit log has the same writes too).
CREATE TABLE blacklist_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL CHECK (action IN ('points', 'points_voided', 'listed', 'delisted',
                                               'expired', 'appeal_filed', 'appeal_upheld',
                                               'appeal_rejected')),
    listing_id bigint,
    appeal_id  bigint,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX blacklist_history_vehicle ON blacklist_history (vehicle_id, at DESC);

-- Lift listings whose expiry has passed (recorded as 'expired'); returns how many.
CREATE FUNCTION blacklist_lift_expired(p_vehicle bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH lifted AS (
        UPDATE blacklist_listings
           SET lifted_at = expires_at, lifted_by = 'system', lifted_how = 'expired',
               lifted_reason = 'expired'
         WHERE lifted_at IS NULL AND expires_at <= now()
           AND (p_vehicle IS NULL OR vehicle_id = p_vehicle)
        RETURNING id, vehicle_id, expires_at
    ), hist AS (
        INSERT INTO blacklist_history (vehicle_id, at, actor, action, listing_id)
        SELECT vehicle_id, expires_at, 'system', 'expired', id FROM lifted
        RETURNING 1
    ), audit AS (
        INSERT INTO audit_log (actor, action, entity, entity_id, after)
        SELECT 'system', 'expire', 'blacklist_listing', id,
               jsonb_build_object('vehicle_id', vehicle_id, 'expires_at', expires_at)
          FROM lifted
        RETURNING 1
    )
    SELECT count(*) INTO n FROM lifted;
    RETURN n;
END $$;

-- Points for a newly confirmed incident, exactly once (UNIQUE incident_id), and the automatic
-- listing when the vehicle's points in the window reach the threshold.
CREATE FUNCTION vehicle_points_book() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg    credit_settings%ROWTYPE;
    pts    integer;
    total  integer;
    booked bigint;
    lid    bigint;
BEGIN
    -- the vehicle's row lock serialises its confirmations and listings (one open listing)
    PERFORM 1 FROM vehicles WHERE id = NEW.vehicle_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO cfg FROM credit_settings;
    SELECT points INTO pts FROM credit_points_policy WHERE incident_type = NEW.type;
    pts := COALESCE(pts, cfg.default_points);
    INSERT INTO vehicle_points (vehicle_id, company_id, incident_id, incident_type, points)
    VALUES (NEW.vehicle_id, NEW.company_id, NEW.incident_id, NEW.type, pts)
    ON CONFLICT (incident_id) DO NOTHING
    RETURNING id INTO booked;
    IF booked IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO blacklist_history (vehicle_id, actor, action, detail)
    VALUES (NEW.vehicle_id, COALESCE(NEW.status_by, 'system'), 'points',
            jsonb_build_object('incident_id', NEW.incident_id, 'incident_type', NEW.type,
                               'points', pts));
    SELECT COALESCE(sum(points), 0) INTO total FROM vehicle_points
     WHERE vehicle_id = NEW.vehicle_id AND voided_at IS NULL
       AND at > now() - make_interval(days => cfg.window_days);
    IF total < cfg.threshold_points
       OR EXISTS (SELECT 1 FROM blacklisted_vehicles WHERE vehicle_id = NEW.vehicle_id) THEN
        RETURN NULL;
    END IF;
    PERFORM blacklist_lift_expired(NEW.vehicle_id);
    INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by, expires_at)
    VALUES (NEW.vehicle_id, 'auto',
            format('%s points in %s days (threshold %s)', total, cfg.window_days,
                   cfg.threshold_points),
            'system', now() + make_interval(days => cfg.listing_days))
    RETURNING id INTO lid;
    INSERT INTO blacklist_history (vehicle_id, actor, action, listing_id, detail)
    VALUES (NEW.vehicle_id, 'system', 'listed', lid,
            jsonb_build_object('source', 'auto', 'points', total));
    INSERT INTO audit_log (actor, action, entity, entity_id, after)
    VALUES ('system', 'list', 'blacklist_listing', lid,
            jsonb_build_object('vehicle_id', NEW.vehicle_id, 'source', 'auto', 'points', total));
    RETURN NULL;
END $$;

CREATE TRIGGER incidents_points_insert
    AFTER INSERT ON incidents
    FOR EACH ROW WHEN (NEW.status = 'confirmed')
    EXECUTE FUNCTION vehicle_points_book();
CREATE TRIGGER incidents_points_update
    AFTER UPDATE OF status ON incidents
    FOR EACH ROW WHEN (NEW.status = 'confirmed' AND OLD.status IS DISTINCT FROM 'confirmed')
    EXECUTE FUNCTION vehicle_points_book();

-- ---------------------------------------------------------------------------------------------
-- Public vehicle code: an unguessable token per vehicle for the page behind the painted QR code.
CREATE TABLE vehicle_codes (
    vehicle_id bigint PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    code       text NOT NULL UNIQUE
               DEFAULT replace(gen_random_uuid()::text, '-', ''),  -- 122 random bits
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO vehicle_codes (vehicle_id) SELECT id FROM vehicles;

CREATE FUNCTION vehicle_codes_issue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO vehicle_codes (vehicle_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER vehicles_code
    AFTER INSERT ON vehicles
    FOR EACH ROW EXECUTE FUNCTION vehicle_codes_issue();
