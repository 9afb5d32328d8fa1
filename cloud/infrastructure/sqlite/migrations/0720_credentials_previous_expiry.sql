-- The sweep that forgets expired previous secrets (docs/cloud-api.md#rotating-a-secret) reads an index, not
-- the whole table: `previous_expires_at < ?` implies IS NOT NULL, so this partial index holds only the
-- credentials in a rotation's overlap.
CREATE INDEX credentials_previous_expiry ON credentials(previous_expires_at)
    WHERE previous_expires_at IS NOT NULL;
