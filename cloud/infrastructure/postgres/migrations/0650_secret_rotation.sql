-- Secret rotation (docs/cloud-api.md#rotating-a-secret): a credential holds its current secret
-- (secret_key_hash) and, for an overlap, the one it replaced (previous_key_hash, valid until
-- previous_expires_at, Unix milliseconds). Only SHA-256 hashes, as for the first secret. issued_secret_enc: a
-- device's new secret, sealed with the gateway's encryption key, kept only until the device first signs with
-- it, so a rotation whose answer was lost can be answered again (docs/cloud-api.md#rotating-a-device-secret).
ALTER TABLE credentials
    ADD COLUMN previous_key_hash TEXT CHECK (previous_key_hash IS NULL OR length(previous_key_hash) = 64),
    ADD COLUMN previous_expires_at BIGINT,
    ADD COLUMN rotated_at BIGINT,
    ADD COLUMN issued_secret_enc BYTEA;
CREATE INDEX credentials_partner ON credentials(partner_id, kind);

-- When each secret (by its hash) last authenticated a request: bookkeeping, written at most once a minute
-- per secret and process, in a table of its own so a use never invalidates the cached credentials.
CREATE TABLE credential_uses (
    api_key       TEXT NOT NULL,
    key_hash      TEXT NOT NULL CHECK (length(key_hash) = 64),
    last_used_at  BIGINT NOT NULL,
    PRIMARY KEY (api_key, key_hash)
);
