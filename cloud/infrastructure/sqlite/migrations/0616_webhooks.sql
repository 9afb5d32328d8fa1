-- Outbound webhooks to ClientPartners (docs/cloud-api.md#webhooks). Times are Unix milliseconds.
-- events: '*' or the subscribed types joined by ','; secret_enc: the Fernet token of {"secret": "whsec_…"}.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    partner_id       TEXT NOT NULL REFERENCES client_partners(id),
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    secret_enc       BLOB NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    created_at       INTEGER NOT NULL,
    failing_since    INTEGER,
    disabled_reason  TEXT
);
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints(partner_id);

-- The outbox: one row per event, written in the transaction of the change it announces; body is exactly
-- what is delivered (and signed), so every retry sends the same bytes.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    body        BLOB NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id         TEXT NOT NULL REFERENCES webhook_events(id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    last_status      INTEGER,
    last_attempt_at  INTEGER,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id);

-- The delivery log: one row per attempt (status_code NULL: no answer; excerpt: the first bytes answered).
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT,
    excerpt      TEXT NOT NULL
);
CREATE INDEX webhook_attempts_event ON webhook_attempts(event_id, id);
