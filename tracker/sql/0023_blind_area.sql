-- A fix that came in a JT/T 808 0x0704 blind-area upload (type 1, 盲区补报): the terminal
-- recorded it and held it back (issue 18). Not noise (flags stay 0: history, exports and the
-- latest position keep it); the engine reads it as history, and as a terminal holding back.
ALTER TABLE pings ADD COLUMN IF NOT EXISTS blind_area boolean NOT NULL DEFAULT false;
