-- Outbound webhooks to ClientPartners (docs/cloud-api.md#webhooks), as in the SQLite schema: endpoints
-- (secret sealed with the cloud's key), the outbox of events, one delivery per (event, endpoint), the log.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    partner_id       TEXT NOT NULL REFERENCES client_partners(id),
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    secret_enc       BYTEA NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    created_at       BIGINT NOT NULL,
    failing_since    BIGINT,
    disabled_reason  TEXT
);
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_id);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    body        BYTEA NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id         TEXT NOT NULL REFERENCES webhook_events(id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_status      INTEGER,
    last_attempt_at  BIGINT,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);

CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    at           BIGINT NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT,
    excerpt      TEXT NOT NULL
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);
