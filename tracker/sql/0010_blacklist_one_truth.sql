-- One truth for "blacklisted": the listings (blacklist_listings, view blacklisted_vehicles).
-- The hand-set flag vehicles.blacklisted (migration 0004, a hook from before the listings) is
-- turned into manual listings and dropped. Each new listing gets its history and audit rows as
-- a manual listing by the blacklist service would; a vehicle already listed keeps its listing.

-- An open listing past its expiry would block the new one (one open listing per vehicle).
SELECT blacklist_lift_expired();

WITH listed AS (
    INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by)
    SELECT v.id, 'manual', 'carried over from the registry''s blacklisted flag', 'system'
      FROM vehicles v
     WHERE v.blacklisted
       AND NOT EXISTS (SELECT 1 FROM blacklist_listings l
                        WHERE l.vehicle_id = v.id AND l.lifted_at IS NULL)
    RETURNING id, vehicle_id, source, reason, listed_by, listed_at
), history AS (
    INSERT INTO blacklist_history (vehicle_id, actor, action, listing_id, detail)
    SELECT vehicle_id, 'system', 'listed', id,
           jsonb_build_object('source', source, 'reason', reason, 'from', 'vehicles.blacklisted')
      FROM listed
    RETURNING 1
)
INSERT INTO audit_log (actor, action, entity, entity_id, after)
SELECT 'system', 'list', 'blacklist_listing', id,
       jsonb_build_object('vehicle_id', vehicle_id, 'source', source, 'reason', reason,
                          'listed_by', listed_by, 'listed_at', listed_at)
  FROM listed;

ALTER TABLE vehicles DROP COLUMN blacklisted;
