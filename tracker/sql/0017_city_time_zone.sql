-- The city's time zone (issue 17): permit windows, zone schedules and yard opening hours are the
-- city's local wall-clock times (they were UTC), permit dates its local days.
--
-- city_tz() is the zone the sessions name (`-c tracker.city_tz=...`, set from TRACKER_CITY_TZ by
-- tracker.db), Asia/Shanghai when they name none; city_today() its current local date.
CREATE OR REPLACE FUNCTION city_tz() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('tracker.city_tz', true), ''), 'Asia/Shanghai')
$$;

CREATE OR REPLACE FUNCTION city_today() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT (now() AT TIME ZONE city_tz())::date
$$;

-- Stored windows move from UTC to local time by the zone's current offset: the start and end
-- shift, and a window's weekdays follow its start when the shift carries it past midnight
-- (a Monday 20:00 UTC window starts on Tuesday 04:00 in Shanghai).
CREATE FUNCTION pg_temp.hhmm_shift(hhmm text, offset_min int) RETURNS text LANGUAGE sql AS $$
    SELECT to_char(make_time(m / 60, m % 60, 0), 'HH24:MI')
      FROM (SELECT ((split_part(hhmm, ':', 1)::int * 60 + split_part(hhmm, ':', 2)::int
                     + offset_min) % 1440 + 1440) % 1440 AS m) x
$$;

CREATE FUNCTION pg_temp.window_local(w jsonb, offset_min int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN w ? 'days' THEN
                    jsonb_set(moved, '{days}', coalesce((
                        SELECT jsonb_agg(((d::int - 1 + carry) % 7 + 7) % 7 + 1 ORDER BY ord)
                          FROM jsonb_array_elements_text(w -> 'days') WITH ORDINALITY AS e(d, ord)
                    ), '[]'::jsonb))
                ELSE moved END
      FROM (SELECT jsonb_set(jsonb_set(w, '{start}',
                       to_jsonb(pg_temp.hhmm_shift(w ->> 'start', offset_min))),
                       '{end}', to_jsonb(pg_temp.hhmm_shift(w ->> 'end', offset_min))) AS moved,
                   floor((split_part(w ->> 'start', ':', 1)::int * 60
                          + split_part(w ->> 'start', ':', 2)::int + offset_min) / 1440.0)::int
                       AS carry) x
$$;

CREATE FUNCTION pg_temp.windows_local(ws jsonb, offset_min int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN jsonb_typeof(ws) = 'array' THEN coalesce((
               SELECT jsonb_agg(pg_temp.window_local(w, offset_min) ORDER BY ord)
                 FROM jsonb_array_elements(ws) WITH ORDINALITY AS e(w, ord)), '[]'::jsonb)
           ELSE ws END
$$;

CREATE TEMP TABLE city_offset ON COMMIT DROP AS
SELECT (extract(epoch FROM (now() AT TIME ZONE city_tz()) - (now() AT TIME ZONE 'UTC')) / 60)::int
       AS minutes;

UPDATE permits SET windows = pg_temp.windows_local(windows, (SELECT minutes FROM city_offset))
 WHERE jsonb_array_length(windows) > 0;
UPDATE zones SET schedule = pg_temp.windows_local(schedule, (SELECT minutes FROM city_offset))
 WHERE jsonb_array_length(schedule) > 0;
UPDATE yards
   SET opening_hours = pg_temp.windows_local(opening_hours, (SELECT minutes FROM city_offset))
 WHERE jsonb_array_length(opening_hours) > 0;
UPDATE engine_rule_overrides
   SET rules = jsonb_set(rules, '{schedule}',
                         pg_temp.windows_local(rules -> 'schedule',
                                               (SELECT minutes FROM city_offset)))
 WHERE scope = 'zone' AND jsonb_typeof(rules -> 'schedule') = 'array';
