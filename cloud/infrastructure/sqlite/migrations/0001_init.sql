-- Tenants, credentials, payment intents, transactions, tokens and idempotency records.
-- Times are Unix milliseconds (INTEGER); money is integer minor units.

CREATE TABLE client_partners (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One row per HMAC key. kind 'device' rows (with device_id, store_id) are added by device enrollment.
CREATE TABLE credentials (
    api_key          TEXT PRIMARY KEY,
    secret_key_hash  TEXT NOT NULL CHECK (length(secret_key_hash) = 64),
    kind             TEXT NOT NULL CHECK (kind IN ('partner', 'device')),
    partner_id       TEXT NOT NULL REFERENCES client_partners(id),
    merchant_id      TEXT REFERENCES merchants(id),
    store_id         TEXT REFERENCES stores(id),
    device_id        TEXT,
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at       INTEGER NOT NULL
);
CREATE INDEX credentials_device ON credentials(device_id) WHERE device_id IS NOT NULL;

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL REFERENCES client_partners(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX merchants_partner ON merchants(partner_id);

CREATE TABLE stores (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants(id),
    partner_id   TEXT NOT NULL REFERENCES client_partners(id),
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (merchant_id, code)
);
CREATE INDEX stores_partner_code ON stores(partner_id, code);

-- credentials_enc: Fernet token (AES-128-CBC + HMAC-SHA256) of the JSON credentials.
CREATE TABLE store_provider_configs (
    id               TEXT PRIMARY KEY,
    store_id         TEXT NOT NULL REFERENCES stores(id),
    provider         TEXT NOT NULL,
    credentials_enc  BLOB NOT NULL,
    updated_at       INTEGER NOT NULL,
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
    amount                INTEGER NOT NULL CHECK (amount > 0),
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
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    version               INTEGER NOT NULL,
    UNIQUE (merchant_id, merchant_ref_id)
);
CREATE INDEX payment_intents_partner ON payment_intents(partner_id, id);
CREATE INDEX payment_intents_store ON payment_intents(store_id, id);
CREATE INDEX payment_intents_expiry ON payment_intents(expires_at) WHERE status = 'requires_payment_method';

CREATE TABLE transactions (
    id           TEXT PRIMARY KEY,
    intent_id    TEXT NOT NULL REFERENCES payment_intents(id),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX transactions_intent ON transactions(intent_id, id);

CREATE TABLE payment_tokens (
    token_hash  TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    intent_id   TEXT NOT NULL REFERENCES payment_intents(id),
    expires_at  INTEGER NOT NULL
);
CREATE INDEX payment_tokens_expiry ON payment_tokens(expires_at);

-- scope is the credential (api_key, or 'token:<intent id>'); fingerprint = sha256(method, path, body).
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    body          BLOB NOT NULL,
    token_intent  TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
