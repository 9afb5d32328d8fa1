-- Refunds and settlements (docs/cloud-api.md#refunds, docs/cloud-api.md#settlements). Times are Unix ms.

-- What has been refunded (or is reserved by a pending provider refund); the CHECK is the last guard of
-- "a refund never exceeds what was paid", under the guarded UPDATE the repositories run.
ALTER TABLE payment_intents ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0
    CHECK (amount_refunded >= 0 AND amount_refunded <= amount);

-- One row per refund; (device_id, local_id) is the exactly-once key of a refund synced by a device.
CREATE TABLE refunds (
    id                  TEXT PRIMARY KEY,
    intent_id           TEXT NOT NULL REFERENCES payment_intents(id),
    merchant_id         TEXT NOT NULL REFERENCES merchants(id),
    amount              INTEGER NOT NULL CHECK (amount > 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    reason              TEXT,
    merchant_refund_id  TEXT,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_ref        TEXT,
    failure_code        TEXT,
    actor               TEXT NOT NULL,
    device_id           TEXT REFERENCES devices(id),
    local_id            TEXT,
    seq                 INTEGER,
    hash                TEXT,
    batch_id            TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (merchant_id, merchant_refund_id),
    UNIQUE (device_id, local_id)
);
CREATE INDEX refunds_intent ON refunds(intent_id, id);

-- Z reports uploaded by devices, kept as sent (canonical JSON) with its SHA-256 to tell a re-send from a change.
CREATE TABLE settlements (
    device_id      TEXT NOT NULL REFERENCES devices(id),
    settlement_id  TEXT NOT NULL,
    partner_id     TEXT NOT NULL REFERENCES client_partners(id),
    store_id       TEXT NOT NULL REFERENCES stores(id),
    store_code     TEXT NOT NULL,
    z_number       INTEGER NOT NULL,
    business_date  TEXT NOT NULL,
    report         TEXT NOT NULL,
    digest         TEXT NOT NULL CHECK (length(digest) = 64),
    received_at    INTEGER NOT NULL,
    PRIMARY KEY (device_id, settlement_id),
    UNIQUE (device_id, z_number)
);
CREATE INDEX settlements_store ON settlements(store_id, received_at, settlement_id);
