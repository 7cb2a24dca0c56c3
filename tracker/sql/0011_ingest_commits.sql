-- The ingest commit log: which fixes each group commit stored, per shard, written in the SAME
-- transaction as the fixes themselves. The database, not Redis, says what the engine must see:
-- a stream entry carries its row's seq and xid, and the engine keeps per shard a watermark
-- (``engine_shards.commit_xid``): every commit row of the shard whose transaction id is below
-- it has been processed. Rows whose xid is below the oldest running transaction
-- (``pg_snapshot_xmin``) are final: no row below that can still appear (bigserial order is not
-- commit order, transaction order below the horizon is settled). Rows the engine processed
-- while their xid was above its watermark are listed in ``commit_done`` until it passes them.
CREATE TABLE ingest_commits (
    seq          bigserial PRIMARY KEY,
    xid          bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    shard        integer NOT NULL,
    vehicle_ids  bigint[] NOT NULL,              -- the fixes stored: (vehicle_ids[i],
    fix_times    timestamptz[] NOT NULL,         --                     fix_times[i])
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_commits_shard_xid ON ingest_commits (shard, xid);

ALTER TABLE engine_shards
    ADD COLUMN commit_xid bigint NOT NULL DEFAULT 0,
    ADD COLUMN commit_done_seqs bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN commit_done_xids bigint[] NOT NULL DEFAULT '{}';
