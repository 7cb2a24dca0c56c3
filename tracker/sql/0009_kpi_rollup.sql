-- KPI rollup (tracker.kpi.rollup): the data-quality figures of each vehicle's fixes per UTC hour,
-- so GET /api/v1/kpi reads a day or a month from here and only the window's edges from pings.
-- Steps (time since the previous fix) are counted inside the hour; the step that crosses into
-- the hour is joined at query time from the previous hour's last fix and this hour's first.
CREATE TABLE kpi_vehicle_hours (
    vehicle_id   bigint NOT NULL,
    hour         timestamptz NOT NULL,              -- UTC hour start
    fixes        integer NOT NULL,
    invalid      integer NOT NULL,
    filtered     integer NOT NULL,
    drift        integer NOT NULL,
    good         integer NOT NULL,
    short_steps  integer NOT NULL,                  -- in-hour steps up to 60 s
    short_step_s double precision NOT NULL,         -- their summed length
    long_step_s  double precision[] NOT NULL,       -- each in-hour step over 60 s ...
    long_moved_m double precision[] NOT NULL,       -- ... and how far the truck moved over it
    first_fix    timestamptz NOT NULL,
    first_lon    double precision NOT NULL,
    first_lat    double precision NOT NULL,
    last_fix     timestamptz NOT NULL,
    last_lon     double precision NOT NULL,
    last_lat     double precision NOT NULL,
    PRIMARY KEY (vehicle_id, hour)
);

-- The same per vehicle and UTC day, built from the hour rows of days whose 24 hours are all rolled
-- up (the steps between the day's hours moved into short_steps / long_step_s): a month's
-- figures read a row per vehicle and day.
CREATE TABLE kpi_vehicle_days (LIKE kpi_vehicle_hours INCLUDING ALL);

-- Concatenates arrays (of the long steps of a day's hours).
CREATE AGGREGATE kpi_array_cat (double precision[]) (
    SFUNC = array_cat, STYPE = double precision[], INITCOND = '{}'
);

-- The hours [rolled_from, rolled_to) are rolled up (every vehicle's, one row per vehicle with fixes).
CREATE TABLE kpi_rollup_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    rolled_from timestamptz NOT NULL,
    rolled_to   timestamptz NOT NULL CHECK (rolled_to >= rolled_from),
    rolled_at   timestamptz NOT NULL DEFAULT now()
);
