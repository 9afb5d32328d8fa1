-- The sweep that forgets expired previous secrets (docs/cloud-api.md#rotating-a-secret) reads an index, not
-- the whole table: `previous_expires_at < $1` implies IS NOT NULL, so this partial index holds only the
-- credentials in a rotation's overlap. Its own migration (one transaction each): see 0730 for why.
CREATE INDEX credentials_previous_expiry ON credentials (previous_expires_at)
    WHERE previous_expires_at IS NOT NULL;
