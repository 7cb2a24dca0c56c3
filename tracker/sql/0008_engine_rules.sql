-- Engine rule overrides per permit and per zone (tracker.trips.config). The city's rules come
-- from settings (TRACKER_ENGINE__*); a row here overrides them for one permit's trips
-- (any RuleConfig field, plus corridor_half_width_m) or for one zone (speed_limit_kmh, no_go,
-- schedule). No foreign key: the scope decides the table; a row of a deleted permit or zone
-- is simply never read.
CREATE TABLE engine_rule_overrides (
    scope      text NOT NULL CHECK (scope IN ('permit', 'zone')),
    scope_id   bigint NOT NULL,
    rules      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rules) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_id)
);
