-- Clues from people (issue 15): reports from the public vehicle page, from grid staff's phones
-- and entered by officers. An officer verifies a clue, then it becomes a case (case_id, no FK
-- until the cases tables exist) or is closed with a reason. The reporter follows the status
-- with a receipt code, of which only the SHA-256 is kept.

CREATE TABLE clues (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receipt_hash  bytea NOT NULL UNIQUE CHECK (octet_length(receipt_hash) = 32),
    source        text NOT NULL CHECK (source IN ('public', 'grid', 'officer')),
    vehicle_id    bigint REFERENCES vehicles (id),
    company_id    bigint REFERENCES companies (id),
    plate         text CHECK (length(plate) <= 32),  -- as reported when no vehicle is known
    kind          text NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    lon           double precision CHECK (lon BETWEEN -180 AND 180),
    lat           double precision CHECK (lat BETWEEN -90 AND 90),
    accuracy_m    double precision CHECK (accuracy_m >= 0),
    observed_at   timestamptz NOT NULL,
    contact       text CHECK (length(contact) <= 100),  -- optional; staff only ever see it
    reporter_id   bigint REFERENCES users (id),          -- grid staff / officer; NULL: public
    source_addr   text CHECK (length(source_addr) <= 64), -- public reports: for abuse review
    status        text NOT NULL DEFAULT 'new'
                  CHECK (status IN ('new', 'verified', 'to_case', 'closed')),
    verified_by   bigint REFERENCES users (id),
    verified_at   timestamptz,
    verify_note   text CHECK (length(verify_note) <= 2000),
    close_reason  text CHECK (length(close_reason) <= 2000),
    case_id       bigint,                                -- the case it became (no FK yet)
    case_request  jsonb,                                 -- the conversion asked for, while no case
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clues_closed_reason CHECK ((status = 'closed') = (close_reason IS NOT NULL))
);
CREATE INDEX clues_status ON clues (status, created_at DESC);
CREATE INDEX clues_vehicle ON clues (vehicle_id, created_at DESC);

-- Photos in the database: a few per clue, each capped (the cap is also the settings' limit).
CREATE TABLE clue_photos (
    clue_id    bigint NOT NULL REFERENCES clues (id) ON DELETE CASCADE,
    n          smallint NOT NULL CHECK (n BETWEEN 0 AND 15),
    media_type text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png')),
    data       bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 4194304),
    sha256     text NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (clue_id, n)
);
