-- Access hardening: every audit row names its entity by key. Incident ids are text
-- (vehicle:rule:start), so they never fitted entity_id (bigint); entity_key holds every
-- entity's key as text (a numeric id's decimal, an incident's id), and is what the audit
-- endpoint filters by when entity_id cannot.
ALTER TABLE audit_log ADD COLUMN entity_key text;
UPDATE audit_log SET entity_key = entity_id::text WHERE entity_id IS NOT NULL;
UPDATE audit_log SET entity_key = COALESCE(after ->> 'incident_id', before ->> 'incident_id')
 WHERE entity = 'incident' AND entity_key IS NULL;
CREATE INDEX audit_log_entity_key ON audit_log (entity, entity_key, at DESC);
