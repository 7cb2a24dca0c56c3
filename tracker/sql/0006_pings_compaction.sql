-- Chunks of pings whose index was rebuilt compact after their day ended (tracker.history.compaction).
CREATE TABLE pings_compacted (
    chunk        text PRIMARY KEY,          -- schema-qualified chunk table
    compacted_at timestamptz NOT NULL DEFAULT now(),
    duration_s   double precision NOT NULL
);
