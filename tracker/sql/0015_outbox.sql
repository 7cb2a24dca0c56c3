-- The outbox (issue 16): everything that must reach someone outside the platform.
-- An event row is written in the transaction of the change that causes it (outbox_emit, called
-- by tracker.outbox.emit and by the triggers below), so a rolled-back change sends nothing and
-- a committed one is never lost. The deliverer fans events out to one delivery per matching
-- subscription and delivers them at least once, in order per subscription.

CREATE TABLE outbox_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    company_id  bigint,
    vehicle_id  bigint,
    yard_id     bigint,
    district    text,
    dedupe_key  text UNIQUE,                 -- set by producers that may emit twice (expiry)
    payload     jsonb NOT NULL DEFAULT '{}',
    fanned_at   timestamptz                  -- set when its deliveries were created
);
CREATE INDEX outbox_events_unfanned ON outbox_events (id) WHERE fanned_at IS NULL;
CREATE INDEX outbox_events_company ON outbox_events (company_id, id DESC);

-- Who hears what. kind company: its scope is always its own company (its own trucks' events).
CREATE TABLE outbox_subscriptions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    kind              text NOT NULL CHECK (kind IN ('department', 'company', 'unit', 'person')),
    company_id        bigint,
    channel           text NOT NULL CHECK (channel IN ('webhook', 'wecom', 'dingtalk', 'sms',
                                                       'email')),
    target            text NOT NULL CHECK (length(target) BETWEEN 1 AND 2000),
    secret            text,                  -- webhook HMAC key, DingTalk signing secret
    event_types       text[] NOT NULL DEFAULT '{}',   -- empty: every type
    scope_company_ids bigint[] NOT NULL DEFAULT '{}', -- empty: no restriction
    scope_vehicle_ids bigint[] NOT NULL DEFAULT '{}',
    scope_yard_ids    bigint[] NOT NULL DEFAULT '{}',
    scope_districts   text[] NOT NULL DEFAULT '{}',
    batch_max         integer NOT NULL DEFAULT 1 CHECK (batch_max BETWEEN 1 AND 500),
    active            boolean NOT NULL DEFAULT true,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_subscriptions_company CHECK ((kind = 'company') = (company_id IS NOT NULL))
);
CREATE INDEX outbox_subscriptions_company ON outbox_subscriptions (company_id);

-- One delivery per (subscription, event); its id is the order within the subscription.
CREATE TABLE outbox_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES outbox_subscriptions (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    created_at      timestamptz NOT NULL,    -- fan-out time; retried until + retry period
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT 'epoch',
    first_failed_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz,
    replays         integer NOT NULL DEFAULT 0,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX outbox_deliveries_pending ON outbox_deliveries (subscription_id, id)
    WHERE state = 'pending';
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX outbox_deliveries_dead ON outbox_deliveries (dead_at DESC) WHERE state = 'dead';
CREATE INDEX outbox_deliveries_event ON outbox_deliveries (event_id);

-- Message texts a city may edit (tracker/outbox/templates.py loads the defaults at install).
CREATE TABLE outbox_templates (
    event_type text NOT NULL,
    locale     text NOT NULL DEFAULT 'zh-CN',
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    updated_by text NOT NULL DEFAULT 'system',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_type, locale)
);

-- The last credit grade told per company (company.credit_changed fires when it moves).
CREATE TABLE outbox_credit_grades (
    company_id bigint PRIMARY KEY,
    grade      text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);

-- The one way an event enters the outbox, in the caller's transaction.
CREATE FUNCTION outbox_emit(
    p_type text, p_occurred_at timestamptz, p_company bigint, p_vehicle bigint, p_yard bigint,
    p_district text, p_payload jsonb, p_dedupe text DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO outbox_events (type, occurred_at, company_id, vehicle_id, yard_id, district,
                               payload, dedupe_key)
    VALUES (p_type, COALESCE(p_occurred_at, now()), p_company, p_vehicle, p_yard, p_district,
            COALESCE(p_payload, '{}'), p_dedupe)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
        PERFORM pg_notify('outbox_events', '');  -- sent at commit; wakes the deliverers
    END IF;
    RETURN new_id;
END $$;

-- Producers in the database: every path that changes these rows (API, engine, SQL functions
-- such as the automatic listing) emits through the same trigger, in the same transaction.

-- Incidents: opened (not late ones: stored, not alarmed), escalated (confirmed), retracted
-- (dismissed), closed; a terminal_offline incident also tells the company terminal.offline.
CREATE FUNCTION outbox_incident() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind    text;
    payload jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.late THEN
            RETURN NULL;
        END IF;
        kind := 'incident.opened';
    ELSIF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    ELSIF NEW.status = 'confirmed' THEN
        kind := 'incident.escalated';
    ELSIF NEW.status = 'dismissed' THEN
        kind := 'incident.retracted';
    ELSIF NEW.status = 'closed' THEN
        kind := 'incident.closed';
    ELSE
        RETURN NULL;
    END IF;
    payload := jsonb_build_object(
        'incident_id', NEW.incident_id, 'incident_type', NEW.type, 'status', NEW.status,
        'severity', NEW.severity, 'plate', (SELECT plate FROM vehicles WHERE id = NEW.vehicle_id),
        'opened_at', NEW.opened_at, 'lon', NEW.lon, 'lat', NEW.lat, 'note', NEW.note);
    PERFORM outbox_emit(kind, CASE WHEN TG_OP = 'INSERT' THEN NEW.detected_at ELSE now() END,
                        NEW.company_id, NEW.vehicle_id, NULL, NULL, payload);
    IF TG_OP = 'INSERT' AND NEW.type = 'terminal_offline' THEN
        PERFORM outbox_emit('terminal.offline', NEW.detected_at, NEW.company_id, NEW.vehicle_id,
                            NULL, NULL, payload);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_outbox AFTER INSERT OR UPDATE OF status ON incidents
    FOR EACH ROW EXECUTE FUNCTION outbox_incident();

-- Permits: approved, rejected, suspended (expiring: the permit-expiring maintenance task).
CREATE FUNCTION outbox_permit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS NOT DISTINCT FROM OLD.state
       OR NEW.state NOT IN ('approved', 'rejected', 'suspended') THEN
        RETURN NULL;
    END IF;
    PERFORM outbox_emit('permit.' || NEW.state, now(), NEW.company_id, NULL, NULL, NULL,
                        jsonb_build_object('permit_id', NEW.id, 'state', NEW.state,
                                           'valid_from', NEW.valid_from, 'valid_to', NEW.valid_to,
                                           'reason', NEW.reason));
    RETURN NULL;
END $$;
CREATE TRIGGER permits_outbox AFTER UPDATE OF state ON permits
    FOR EACH ROW EXECUTE FUNCTION outbox_permit();

-- Blacklist: listed (manual or automatic), delisted (manual, expired, appeal).
CREATE FUNCTION outbox_listing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.lifted_at IS NOT NULL OR NEW.lifted_at IS NULL) THEN
        RETURN NULL;
    END IF;
    SELECT plate, company_id INTO v FROM vehicles WHERE id = NEW.vehicle_id;
    PERFORM outbox_emit(
        CASE WHEN TG_OP = 'INSERT' THEN 'vehicle.listed' ELSE 'vehicle.delisted' END,
        COALESCE(NEW.lifted_at, NEW.listed_at), v.company_id, NEW.vehicle_id, NULL, NULL,
        jsonb_build_object('listing_id', NEW.id, 'plate', v.plate, 'source', NEW.source,
                           'reason', COALESCE(NEW.lifted_reason, NEW.reason),
                           'lifted_how', NEW.lifted_how, 'expires_at', NEW.expires_at));
    RETURN NULL;
END $$;
CREATE TRIGGER blacklist_outbox AFTER INSERT OR UPDATE OF lifted_at ON blacklist_listings
    FOR EACH ROW EXECUTE FUNCTION outbox_listing();

-- Points: the booking that takes a vehicle to the amber mark (below the listing threshold).
CREATE FUNCTION outbox_points() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg   credit_settings%ROWTYPE;
    total integer;
BEGIN
    SELECT * INTO cfg FROM credit_settings;
    SELECT COALESCE(sum(points), 0) INTO total FROM vehicle_points
     WHERE vehicle_id = NEW.vehicle_id AND voided_at IS NULL
       AND at > now() - make_interval(days => cfg.window_days);
    IF total >= cfg.amber_points AND total - NEW.points < cfg.amber_points
       AND total < cfg.threshold_points THEN
        PERFORM outbox_emit('vehicle.points_near_threshold', NEW.at, NEW.company_id,
                            NEW.vehicle_id, NULL, NULL,
                            jsonb_build_object('plate', (SELECT plate FROM vehicles
                                                          WHERE id = NEW.vehicle_id),
                                               'points', total,
                                               'threshold_points', cfg.threshold_points,
                                               'incident_id', NEW.incident_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER vehicle_points_outbox AFTER INSERT ON vehicle_points
    FOR EACH ROW EXECUTE FUNCTION outbox_points();

-- Yards at 80 / 95 / 100 %.
CREATE FUNCTION outbox_yard_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM outbox_emit('yard.fill', NEW.at, NULL, NULL, NEW.yard_id, NULL,
                        jsonb_build_object('yard', (SELECT name FROM yards WHERE id = NEW.yard_id),
                                           'level', NEW.level, 'fill_pct', NEW.fill_pct));
    RETURN NULL;
END $$;
CREATE TRIGGER yard_alerts_outbox AFTER INSERT ON yard_alerts
    FOR EACH ROW EXECUTE FUNCTION outbox_yard_alert();
