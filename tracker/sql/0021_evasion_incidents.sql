-- Incident types for evasions (issue 18) and their credit points; the defaults include them.
-- terminal_tampering (车机分离, apart from a plain terminal_offline): a loaded departure silent
-- from the site gate, power/antenna-cut alarms, an impossible reappearance, reports that jump
-- to another truck's pattern; its points are those of illegal dumping, the usual reason to cut
-- a terminal. closed_yard: tipping into a full yard or outside its opening hours.
-- quota_exceeded: a load beyond the permit's quota. inactive_site: a load from a site outside
-- its active dates.
CREATE OR REPLACE FUNCTION credit_policy_defaults() RETURNS void LANGUAGE sql AS $$
    DELETE FROM credit_points_policy;
    INSERT INTO credit_points_policy (incident_type, points) VALUES
        ('dumping', 12), ('wrong_yard', 6), ('no_permit', 6), ('terminal_offline', 6),
        ('blacklisted_vehicle', 12), ('terminal_tampering', 12),
        ('closed_yard', 6), ('quota_exceeded', 6), ('inactive_site', 6),
        ('route_deviation', 3), ('outside_hours', 3), ('no_go_zone', 3),
        ('speeding', 2), ('uncovered', 2);
    DELETE FROM credit_settings;
    INSERT INTO credit_settings DEFAULT VALUES;
$$;

INSERT INTO credit_points_policy (incident_type, points) VALUES
    ('terminal_tampering', 12), ('closed_yard', 6), ('quota_exceeded', 6), ('inactive_site', 6)
    ON CONFLICT (incident_type) DO NOTHING;
