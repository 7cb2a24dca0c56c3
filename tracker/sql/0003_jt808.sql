-- JT/T 808 gateway: the auth code handed out in 0x8100 and checked in 0x0102.
ALTER TABLE terminals ADD COLUMN IF NOT EXISTS jt808_auth_code text;
ALTER TABLE terminals ADD COLUMN IF NOT EXISTS jt808_registered_at timestamptz;
