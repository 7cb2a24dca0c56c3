-- The outbox (issue 16), continued: events carry their district, and emitting costs less.
--
-- 1. Every event gets the district (the code of a `district` jurisdiction, tracker.cases) of its
--    subject, so district-scoped subscriptions (outbox_subscriptions.scope_districts) hear them:
--    a case's district; else where an incident happened (payload lon, lat); else the yard's
--    place; else the company's district (companies.district, set in the registry). A producer
--    that names a district keeps it. Filled by a BEFORE INSERT trigger, so every producer (the
--    triggers of 0015, tracker.outbox.emit, the notices) gets it the same way.
-- 2. outbox_emit no longer calls pg_notify: no deliverer listens (they poll), and a NOTIFY takes
--    a database-wide lock at commit that serialises every committing transaction that emitted
--    an event (measured: half the commit rate of the same transactions without it).

-- The company's district: the code of a jurisdiction (checked when written; no foreign key,
-- so that reloading the areas never cascades into the registry).
ALTER TABLE companies ADD COLUMN district text CHECK (length(district) BETWEEN 1 AND 64);

CREATE FUNCTION companies_district_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.district IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM jurisdictions WHERE code = NEW.district) THEN
        RAISE EXCEPTION 'no area with code %', NEW.district
            USING ERRCODE = 'foreign_key_violation', COLUMN = 'district', TABLE = 'companies';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER companies_district BEFORE INSERT OR UPDATE OF district ON companies
    FOR EACH ROW EXECUTE FUNCTION companies_district_known();

-- Point in a GeoJSON ring (even-odd rule; a point on an edge may fall either way).
CREATE FUNCTION geojson_ring_holds(ring jsonb, x double precision, y double precision)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n      integer := jsonb_array_length(ring);
    inside boolean := false;
    xi double precision; yi double precision; xj double precision; yj double precision;
BEGIN
    IF n < 4 THEN
        RETURN false;
    END IF;
    xj := (ring -> (n - 1) ->> 0)::double precision;
    yj := (ring -> (n - 1) ->> 1)::double precision;
    FOR i IN 0 .. n - 1 LOOP
        xi := (ring -> i ->> 0)::double precision;
        yi := (ring -> i ->> 1)::double precision;
        IF (yi > y) <> (yj > y) THEN  -- nested: the division runs only for such an edge
            IF x < (xj - xi) * (y - yi) / (yj - yi) + xi THEN
                inside := NOT inside;
            END IF;
        END IF;
        xj := xi;
        yj := yi;
    END LOOP;
    RETURN inside;
END $$;

-- Point in a GeoJSON Polygon or MultiPolygon (inside an outer ring and in none of its holes).
CREATE FUNCTION geojson_area_holds(geom jsonb, x double precision, y double precision)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1
          FROM jsonb_array_elements(CASE geom ->> 'type'
                                        WHEN 'Polygon' THEN jsonb_build_array(geom -> 'coordinates')
                                        WHEN 'MultiPolygon' THEN geom -> 'coordinates'
                                        ELSE '[]'::jsonb END) AS p(rings)
         WHERE geojson_ring_holds(rings -> 0, x, y)
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(rings) WITH ORDINALITY AS r(ring, k)
                            WHERE k > 1 AND geojson_ring_holds(ring, x, y)))
$$;

-- The code of the district holding (lon, lat); NULL outside every district (or no place).
CREATE FUNCTION district_at(p_lon double precision, p_lat double precision)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT code FROM jurisdictions
     WHERE level = 'district' AND p_lon IS NOT NULL AND p_lat IS NOT NULL
       AND min_lon <= p_lon AND max_lon >= p_lon AND min_lat <= p_lat AND max_lat >= p_lat
       AND geojson_area_holds(geometry, p_lon, p_lat)
     ORDER BY id LIMIT 1
$$;

-- A place's representative point: a circle's centre, a polygon's outer-ring vertex mean.
CREATE FUNCTION geojson_anchor(geom jsonb, OUT lon double precision, OUT lat double precision)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE geom ->> 'type' WHEN 'Point' THEN (geom -> 'coordinates' ->> 0)::double precision
                ELSE avg((v ->> 0)::double precision) END,
           CASE geom ->> 'type' WHEN 'Point' THEN (geom -> 'coordinates' ->> 1)::double precision
                ELSE avg((v ->> 1)::double precision) END
      FROM jsonb_array_elements(CASE geom ->> 'type'
                                    WHEN 'Polygon' THEN geom -> 'coordinates' -> 0
                                    WHEN 'MultiPolygon' THEN geom -> 'coordinates' -> 0 -> 0
                                    ELSE '[null]'::jsonb END) AS pts(v)
$$;

CREATE FUNCTION outbox_event_district() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.district IS NOT NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.type LIKE 'case.%' AND NEW.payload ? 'case_id' THEN
        SELECT j.code INTO NEW.district
          FROM cases c JOIN jurisdictions j ON j.id = c.district_id
         WHERE c.id = (NEW.payload ->> 'case_id')::bigint;
    END IF;
    IF NEW.district IS NULL AND jsonb_typeof(NEW.payload -> 'lon') = 'number'
       AND jsonb_typeof(NEW.payload -> 'lat') = 'number' THEN
        NEW.district := district_at((NEW.payload ->> 'lon')::double precision,
                                    (NEW.payload ->> 'lat')::double precision);
    END IF;
    IF NEW.district IS NULL AND NEW.yard_id IS NOT NULL THEN
        SELECT district_at(a.lon, a.lat) INTO NEW.district
          FROM yards y JOIN fences f ON f.id = y.fence_id, geojson_anchor(f.geometry) a
         WHERE y.id = NEW.yard_id;
    END IF;
    IF NEW.district IS NULL AND NEW.company_id IS NOT NULL THEN
        SELECT district INTO NEW.district FROM companies WHERE id = NEW.company_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_events_district BEFORE INSERT ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION outbox_event_district();

CREATE OR REPLACE FUNCTION outbox_emit(
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
    RETURN new_id;
END $$;
