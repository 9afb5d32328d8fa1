-- Signatures of accepted signed POSTs, for refusing replays across restarts and workers (docs/cloud-api.md).
-- Only hashes are kept: the hex SHA-256 of the signature and of the Idempotency-Key it was first accepted with
-- (NULL: none). The primary key lets the database decide which of two concurrent requests came first.
-- expires_at (Unix milliseconds) is past the signature's timestamp window; the sweeper purges older rows.
CREATE TABLE signature_replays (
    signature_hash  TEXT PRIMARY KEY CHECK (length(signature_hash) = 64),
    key_hash        TEXT CHECK (key_hash IS NULL OR length(key_hash) = 64),
    expires_at      INTEGER NOT NULL
);
CREATE INDEX signature_replays_expiry ON signature_replays(expires_at);
