"""The engine worker process: owns shards, reads their streams, runs the pure core
(``tracker.trips.core``), stores effects and checkpoints in one transaction per batch."""
