-- Staff accounts, API tokens, the audit log; origin sites, disposal yards, no-go zones; permits.

-- Accounts. Passwords are argon2id hashes; API tokens are random and stored as sha256.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{2,64}$'),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'permit_officer', 'enforcement_officer',
                                                'viewer', 'company_user')),
    company_id    bigint REFERENCES companies (id),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_company_role CHECK ((role = 'company_user') = (company_id IS NOT NULL))
);

CREATE TABLE user_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

-- Every write, in the transaction of the write. actor is the username ('bootstrap' for the
-- static staff token, 'cli' or 'system' for commands and periodic tasks).
CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    user_id   bigint,
    action    text NOT NULL,
    entity    text NOT NULL,
    entity_id bigint,
    before    jsonb,
    after     jsonb
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, at DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC);

ALTER TABLE companies ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE vehicles ADD COLUMN terminal_model text;
-- Hook for the blacklist issue: until its table lands, officers may set this flag by hand.
ALTER TABLE vehicles ADD COLUMN blacklisted boolean NOT NULL DEFAULT false;

-- The four points: geometry lives in fences (role site / yard / zone); the row keeps fence_id.
CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    kind        text NOT NULL CHECK (kind IN ('construction', 'quarry', 'mixing')),
    company_id  bigint REFERENCES companies (id),
    fence_id    bigint NOT NULL REFERENCES fences (id),
    active_from date,
    active_to   date,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sites_dates CHECK (active_to IS NULL OR active_from IS NULL
                                  OR active_from <= active_to)
);

CREATE TABLE yards (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL CHECK (length(btrim(name)) > 0),
    fence_id           bigint NOT NULL REFERENCES fences (id),
    capacity_m3        numeric(12, 1) NOT NULL CHECK (capacity_m3 > 0),
    opening_hours      jsonb NOT NULL DEFAULT '[]',  -- [{"start": "HH:MM", "end": "HH:MM"}]
    accepted_materials text[] NOT NULL DEFAULT '{}',
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE zones (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(btrim(name)) > 0),
    fence_id        bigint NOT NULL REFERENCES fences (id),
    -- weekly windows [{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}]; empty = always
    schedule        jsonb NOT NULL DEFAULT '[]',
    speed_limit_kmh real CHECK (speed_limit_kmh > 0),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Transport permits (核准证). Corridors keep their line here; the corridor fence exists while
-- the permit is approved.
CREATE TABLE permits (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  bigint NOT NULL REFERENCES companies (id),
    state       text NOT NULL DEFAULT 'draft'
                CHECK (state IN ('draft', 'submitted', 'approved', 'rejected', 'suspended',
                                 'revoked', 'expired')),
    valid_from  date NOT NULL,
    valid_to    date NOT NULL,
    windows     jsonb NOT NULL DEFAULT '[]',      -- daily [{"start": "HH:MM", "end": "HH:MM"}]
    quota_m3    numeric(12, 1) NOT NULL CHECK (quota_m3 > 0),
    note        text,
    reason      text,                             -- why it was rejected, suspended, revoked
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX permits_company ON permits (company_id);
CREATE INDEX permits_state ON permits (state);

CREATE TABLE permit_vehicles (
    permit_id  bigint NOT NULL REFERENCES permits (id) ON DELETE CASCADE,
    vehicle_id bigint NOT NULL REFERENCES vehicles (id),
    PRIMARY KEY (permit_id, vehicle_id)
);
CREATE INDEX permit_vehicles_vehicle ON permit_vehicles (vehicle_id);

CREATE TABLE permit_sites (
    permit_id bigint NOT NULL REFERENCES permits (id) ON DELETE CASCADE,
    site_id   bigint NOT NULL REFERENCES sites (id),
    PRIMARY KEY (permit_id, site_id)
);

CREATE TABLE permit_yards (
    permit_id bigint NOT NULL REFERENCES permits (id) ON DELETE CASCADE,
    yard_id   bigint NOT NULL REFERENCES yards (id),
    PRIMARY KEY (permit_id, yard_id)
);

CREATE TABLE permit_corridors (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    permit_id    bigint NOT NULL REFERENCES permits (id) ON DELETE CASCADE,
    geometry     jsonb NOT NULL,                  -- GeoJSON LineString, lon/lat
    half_width_m double precision NOT NULL CHECK (half_width_m > 0),
    fence_id     bigint REFERENCES fences (id)    -- set while the permit is approved
);
CREATE INDEX permit_corridors_permit ON permit_corridors (permit_id);
