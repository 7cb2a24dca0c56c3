-- Cases (案件): jurisdictions and units, the case taxonomy, cases with their hash-chained events,
-- and the notices the party sees in the company portal (tracker.cases, docs/DECISIONS.md "Cases").

-- City -> district -> street (-> grid) polygons. The geometry is GeoJSON (lon, lat); the bbox
-- columns let a point lookup read only the areas whose box holds it.
CREATE TABLE jurisdictions (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code      text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 64),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    level     text NOT NULL CHECK (level IN ('city', 'district', 'street', 'grid')),
    parent_id bigint REFERENCES jurisdictions (id),
    geometry  jsonb NOT NULL,
    min_lon   double precision NOT NULL,
    min_lat   double precision NOT NULL,
    max_lon   double precision NOT NULL,
    max_lat   double precision NOT NULL,
    CONSTRAINT jurisdictions_depth CHECK ((level = 'city') = (parent_id IS NULL))
);
CREATE INDEX jurisdictions_bbox ON jurisdictions (min_lon, max_lon, min_lat, max_lat);

-- Departments and street offices, each with its area and its own queue.
CREATE TABLE units (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 64),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind IN ('urban_management', 'traffic_police',
                                                  'environment', 'housing', 'transport',
                                                  'street_office')),
    jurisdiction_id bigint NOT NULL REFERENCES jurisdictions (id),
    active          boolean NOT NULL DEFAULT true
);
CREATE INDEX units_jurisdiction ON units (jurisdiction_id);

-- Officers scoped to a unit or to an area; two new roles.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN (
    'admin', 'permit_officer', 'enforcement_officer', 'viewer', 'company_user',
    'grid_staff', 'department'));
ALTER TABLE users ADD COLUMN unit_id bigint REFERENCES units (id);
ALTER TABLE users ADD COLUMN area_id bigint REFERENCES jurisdictions (id);

-- The taxonomy: categories and subtypes with their penalty range (yuan) and legal basis.
CREATE TABLE case_categories (
    code    text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,64}$'),
    name_zh text NOT NULL,
    name_en text NOT NULL
);
CREATE TABLE case_subtypes (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,64}$'),
    category        text NOT NULL REFERENCES case_categories (code),
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    penalty_min_cny numeric(12, 2) NOT NULL CHECK (penalty_min_cny >= 0),
    penalty_max_cny numeric(12, 2) NOT NULL,
    legal_basis     text NOT NULL,
    unit_kind       text NOT NULL,
    incident_types  text[] NOT NULL DEFAULT '{}',
    CHECK (penalty_max_cny >= penalty_min_cny)
);

CREATE TABLE cases (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subtype          text NOT NULL REFERENCES case_subtypes (code),
    state            text NOT NULL DEFAULT 'opened' CHECK (state IN (
                         'opened', 'reviewed', 'dispatched', 'notified', 'stated', 'accepted',
                         'decided', 'delivered', 'executed', 'closed', 'dismissed')),
    source           text NOT NULL CHECK (source IN ('incident', 'clue', 'hand')),
    source_ref       text,
    company_id       bigint REFERENCES companies (id) ON DELETE CASCADE,
    vehicle_id       bigint REFERENCES vehicles (id) ON DELETE CASCADE,
    lon              double precision,
    lat              double precision,
    district_id      bigint REFERENCES jurisdictions (id),
    area_id          bigint REFERENCES jurisdictions (id),   -- the deepest area holding the place
    unit_id          bigint REFERENCES units (id),
    facts            text NOT NULL DEFAULT '',
    penalty_cny      numeric(12, 2),                         -- proposed at notice, then decided
    hearing_requested boolean NOT NULL DEFAULT false,
    decision         jsonb,
    opened_at        timestamptz NOT NULL,
    state_at         timestamptz NOT NULL,
    due_at           timestamptz,                            -- this stage's deadline
    party_due_at     timestamptz,                            -- the party's statement deadline
    escalated_at     timestamptz,                            -- overdue in this stage, escalated
    reopened         integer NOT NULL DEFAULT 0,
    closed_at        timestamptz,
    last_hash        text NOT NULL,
    events           integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX cases_source ON cases (source, source_ref) WHERE source_ref IS NOT NULL;
-- A unit's queue, filtered by state and paged by (opened_at, id) keys.
CREATE INDEX cases_unit_queue ON cases (unit_id, state, opened_at DESC, id DESC);
CREATE INDEX cases_unit_opened ON cases (unit_id, opened_at DESC, id DESC);
CREATE INDEX cases_area ON cases (area_id, opened_at DESC, id DESC);
CREATE INDEX cases_district ON cases (district_id);
CREATE INDEX cases_company ON cases (company_id, opened_at DESC, id DESC);
CREATE INDEX cases_due ON cases (due_at) WHERE escalated_at IS NULL AND due_at IS NOT NULL;

-- Each event as the JSON that was hashed (tracker.evidence.chain) and its hash.
CREATE TABLE case_events (
    case_id bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    at      timestamptz NOT NULL,
    action  text NOT NULL,
    event   jsonb NOT NULL,
    hash    text NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- What must reach a person (tracker.cases.notify): the party sees these in the company portal.
CREATE TABLE case_notices (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('notice', 'decision', 'delivery', 'escalation')),
    company_id bigint REFERENCES companies (id) ON DELETE CASCADE,
    unit_id    bigint REFERENCES units (id),
    at         timestamptz NOT NULL,
    body       jsonb NOT NULL,
    read_at    timestamptz
);
CREATE INDEX case_notices_company ON case_notices (company_id, at DESC);
CREATE INDEX case_notices_case ON case_notices (case_id);

-- The party's written consent to electronic delivery (Art. 61), given in the company portal.
ALTER TABLE companies ADD COLUMN e_delivery_consent_at timestamptz;
