-- An incident without a registered vehicle (unregistered_vehicle, from a plate camera's
-- sighting: migration 0022) names its plate in detail.plate; its outbox events carry that plate
-- instead of null. The function is 0015's otherwise.
CREATE OR REPLACE FUNCTION outbox_incident() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind    text;
    payload jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.late THEN
            RETURN NULL;
        END IF;
        kind := 'incident.opened';
    ELSIF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    ELSIF NEW.status = 'confirmed' THEN
        kind := 'incident.escalated';
    ELSIF NEW.status = 'dismissed' THEN
        kind := 'incident.retracted';
    ELSIF NEW.status = 'closed' THEN
        kind := 'incident.closed';
    ELSE
        RETURN NULL;
    END IF;
    payload := jsonb_build_object(
        'incident_id', NEW.incident_id, 'incident_type', NEW.type, 'status', NEW.status,
        'severity', NEW.severity,
        'plate', coalesce((SELECT plate FROM vehicles WHERE id = NEW.vehicle_id),
                          NEW.detail ->> 'plate'),
        'opened_at', NEW.opened_at, 'lon', NEW.lon, 'lat', NEW.lat, 'note', NEW.note);
    PERFORM outbox_emit(kind, CASE WHEN TG_OP = 'INSERT' THEN NEW.detected_at ELSE now() END,
                        NEW.company_id, NEW.vehicle_id, NULL, NULL, payload);
    IF TG_OP = 'INSERT' AND NEW.type = 'terminal_offline' THEN
        PERFORM outbox_emit('terminal.offline', NEW.detected_at, NEW.company_id, NEW.vehicle_id,
                            NULL, NULL, payload);
    END IF;
    RETURN NULL;
END $$;
