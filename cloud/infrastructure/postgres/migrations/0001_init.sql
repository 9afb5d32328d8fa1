-- The gateway's schema on PostgreSQL (docs/operations.md#running-on-postgresql): the same tables, columns and
-- rules as the SQLite schema, so both backends answer alike. Times are Unix milliseconds (BIGINT); money is
-- integer minor units (BIGINT); JSON documents are stored as their text.

CREATE TABLE client_partners (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL REFERENCES client_partners(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX merchants_partner ON merchants(partner_id);

CREATE TABLE stores (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants(id),
    partner_id   TEXT NOT NULL REFERENCES client_partners(id),
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (merchant_id, code)
);
CREATE INDEX stores_partner_code ON stores(partner_id, code);

-- One row per HMAC key: kind 'partner', or 'device' (with device_id and store_id) from enrollment.
CREATE TABLE credentials (
    api_key          TEXT PRIMARY KEY,
    secret_key_hash  TEXT NOT NULL CHECK (length(secret_key_hash) = 64),
    kind             TEXT NOT NULL CHECK (kind IN ('partner', 'device')),
    partner_id       TEXT NOT NULL REFERENCES client_partners(id),
    merchant_id      TEXT REFERENCES merchants(id),
    store_id         TEXT REFERENCES stores(id),
    device_id        TEXT,
    active           SMALLINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at       BIGINT NOT NULL
);
CREATE INDEX credentials_device ON credentials(device_id) WHERE device_id IS NOT NULL;

-- credentials_enc: Fernet token of the JSON credentials.
CREATE TABLE store_provider_configs (
    id               TEXT PRIMARY KEY,
    store_id         TEXT NOT NULL REFERENCES stores(id),
    provider         TEXT NOT NULL,
    credentials_enc  BYTEA NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (store_id, provider)
);

CREATE TABLE payment_intents (
    id                    TEXT PRIMARY KEY,
    partner_id            TEXT NOT NULL REFERENCES client_partners(id),
    merchant_id           TEXT NOT NULL REFERENCES merchants(id),
    store_id              TEXT NOT NULL REFERENCES stores(id),
    store_code            TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('requires_payment_method', 'requires_action',
                              'processing', 'requires_capture', 'succeeded', 'failed', 'cancelled')),
    amount                BIGINT NOT NULL CHECK (amount > 0),
    currency              TEXT NOT NULL CHECK (length(currency) = 3),
    payment_method_types  TEXT NOT NULL,
    payment_method_type   TEXT,
    processing_mode       TEXT CHECK (processing_mode IN ('pgw_processed', 'external', 'manual')),
    capture_method        TEXT NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
    merchant_ref_id       TEXT NOT NULL,
    order_id              TEXT,
    merchant_terminal_id  TEXT,
    description           TEXT,
    metadata              TEXT NOT NULL,
    qr_content            TEXT,
    provider              TEXT,
    provider_ref          TEXT,
    details               TEXT NOT NULL,
    failure_code          TEXT,
    cancellation_reason   TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    version               INTEGER NOT NULL,
    CONSTRAINT payment_intents_merchant_ref_id UNIQUE (merchant_id, merchant_ref_id)
);
CREATE INDEX payment_intents_partner ON payment_intents(partner_id, id);
CREATE INDEX payment_intents_store ON payment_intents(store_id, id);
CREATE INDEX payment_intents_expiry ON payment_intents(expires_at) WHERE status = 'requires_payment_method';

-- pos keeps the order Transactions were written in (SQLite's rowid).
CREATE TABLE transactions (
    id           TEXT PRIMARY KEY,
    intent_id    TEXT NOT NULL REFERENCES payment_intents(id),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    created_at   BIGINT NOT NULL,
    pos          BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX transactions_intent ON transactions(intent_id, pos);

CREATE TABLE payment_tokens (
    token_hash  TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    intent_id   TEXT NOT NULL REFERENCES payment_intents(id),
    expires_at  BIGINT NOT NULL
);
CREATE INDEX payment_tokens_expiry ON payment_tokens(expires_at);

-- scope is the credential (api_key, or 'token:<intent id>'); fingerprint = sha256(method, path, body).
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    body          BYTEA NOT NULL,
    token_intent  TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- Hashes of accepted signed POSTs (docs/cloud-api.md#replays); the primary key decides who was first.
CREATE TABLE signature_replays (
    signature_hash  TEXT PRIMARY KEY CHECK (length(signature_hash) = 64),
    key_hash        TEXT CHECK (key_hash IS NULL OR length(key_hash) = 64),
    expires_at      BIGINT NOT NULL
);
CREATE INDEX signature_replays_expiry ON signature_replays(expires_at);
