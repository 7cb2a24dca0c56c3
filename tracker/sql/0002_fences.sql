-- Geofences. The database is the truth: a worker builds its in-memory index from the active rows
-- and follows changes announced on the Redis channel tracker:fences ({"op","id","version"}),
-- re-reading the row by id. Every write bumps version, so a worker that lost its subscription
-- reloads exactly the rows whose version differs from what it holds.
CREATE TABLE fences (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('polygon', 'circle', 'corridor')),
    role         text NOT NULL CHECK (length(btrim(role)) > 0),  -- site, yard, zone, corridor...
    name         text,
    geometry     jsonb NOT NULL CHECK (jsonb_typeof(geometry) = 'object'), -- GeoJSON, lon/lat
    radius_m     double precision CHECK (radius_m > 0),          -- circles only
    half_width_m double precision CHECK (half_width_m > 0),      -- corridors only
    version      bigint NOT NULL DEFAULT 1,
    active       boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fences_circle_radius CHECK ((kind = 'circle') = (radius_m IS NOT NULL)),
    CONSTRAINT fences_corridor_width CHECK ((kind = 'corridor') = (half_width_m IS NOT NULL))
);
-- Start-up and resync read the active rows (ids and versions); lists go by role.
CREATE INDEX fences_active_version ON fences (id, version) WHERE active;
CREATE INDEX fences_role ON fences (role) WHERE active;
