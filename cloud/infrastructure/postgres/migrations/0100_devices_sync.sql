-- Devices, activation codes and the sync intake (docs/sync-protocol.md, docs/cloud-api.md).

CREATE TABLE devices (
    id             TEXT PRIMARY KEY,
    partner_id     TEXT NOT NULL REFERENCES client_partners(id),
    merchant_id    TEXT NOT NULL REFERENCES merchants(id),
    store_id       TEXT NOT NULL REFERENCES stores(id),
    api_key        TEXT NOT NULL UNIQUE REFERENCES credentials(api_key),
    serial_number  TEXT NOT NULL,
    model          TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at     BIGINT NOT NULL,
    suspended_at   BIGINT
);
CREATE INDEX devices_store ON devices(store_id);

-- Only the hex SHA-256 of a code is kept; used_at/device_id are set once, by the activation that won.
CREATE TABLE activation_codes (
    code_hash   TEXT PRIMARY KEY CHECK (length(code_hash) = 64),
    store_id    TEXT NOT NULL REFERENCES stores(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    device_id   TEXT REFERENCES devices(id)
);

-- The exactly-once key: one row per (device, local_id), pointing at the intent it became.
CREATE TABLE sync_items (
    device_id          TEXT NOT NULL REFERENCES devices(id),
    local_id           TEXT NOT NULL,
    payment_intent_id  TEXT NOT NULL UNIQUE REFERENCES payment_intents(id),
    seq                BIGINT NOT NULL,
    hash               TEXT NOT NULL,
    batch_id           TEXT NOT NULL,
    received_at        BIGINT NOT NULL,
    PRIMARY KEY (device_id, local_id)
);

-- Rejections are final: a re-sent rejected item gets the same answer.
CREATE TABLE sync_rejections (
    device_id    TEXT NOT NULL REFERENCES devices(id),
    local_id     TEXT NOT NULL,
    seq          BIGINT,
    error        TEXT NOT NULL,
    batch_id     TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (device_id, local_id)
);

-- Per-device chain head, flags and clock offset; every batch bumps version (concurrent batches of one
-- device are serialized on this row).
CREATE TABLE device_sync_state (
    device_id        TEXT PRIMARY KEY REFERENCES devices(id),
    last_seq         BIGINT NOT NULL,
    last_hash        TEXT NOT NULL,
    chain_broken     SMALLINT NOT NULL CHECK (chain_broken IN (0, 1)),
    seq_gaps         BIGINT NOT NULL,
    anomalies        BIGINT NOT NULL,
    clock_offset_ms  BIGINT,
    last_batch_id    TEXT,
    last_batch_at    BIGINT,
    accepted_total   BIGINT NOT NULL,
    version          BIGINT NOT NULL
);

CREATE TABLE sync_anomalies (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    TEXT NOT NULL REFERENCES devices(id),
    kind         TEXT NOT NULL CHECK (kind IN ('chain_broken', 'bad_hash', 'seq_gap', 'seq_regression')),
    local_id     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    detail       TEXT NOT NULL,
    batch_id     TEXT NOT NULL,
    detected_at  BIGINT NOT NULL
);
CREATE INDEX sync_anomalies_device ON sync_anomalies(device_id, id);

CREATE TABLE sync_batches (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id     TEXT NOT NULL,
    device_id    TEXT NOT NULL REFERENCES devices(id),
    sent_at      BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    items        INTEGER NOT NULL,
    accepted     INTEGER NOT NULL,
    duplicates   INTEGER NOT NULL,
    rejected     INTEGER NOT NULL
);
CREATE INDEX sync_batches_device ON sync_batches(device_id, id);
