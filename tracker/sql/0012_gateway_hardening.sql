-- Gateway hardening (issue 14, items 3 and 9).
-- The JT/T 808 terminal id (the 0x0100 field) a terminal registered with, or the one an officer
-- recorded: a registration naming another device is refused. NULL: the first registration
-- binds it.
ALTER TABLE terminals ADD COLUMN IF NOT EXISTS jt808_device_id text;

-- The quarantine: every fix refused by the validator, the noise filters, or a conflicting
-- duplicate, aggregated per terminal, day (of receipt), reason and field, with a bounded
-- sample of the newest refused values. Rows are bounded by terminals × days × reasons × fields.
CREATE TABLE IF NOT EXISTS ingest_quarantine (
    terminal_id       bigint NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    day               date NOT NULL,
    reason            text NOT NULL,
    field             text NOT NULL,
    protocol          text NOT NULL,
    vehicle_id        bigint,
    refused           bigint NOT NULL CHECK (refused > 0),
    first_received_at timestamptz NOT NULL,
    last_received_at  timestamptz NOT NULL,
    samples           jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (terminal_id, day, reason, field, protocol)
);
CREATE INDEX IF NOT EXISTS ingest_quarantine_vehicle ON ingest_quarantine (vehicle_id, day);
CREATE INDEX IF NOT EXISTS ingest_quarantine_day ON ingest_quarantine (day);
