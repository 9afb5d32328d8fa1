-- The sweeper's two purges (cloud/api/app.py sweep_once) read through an index, not the whole table, as in
-- the SQLite schema.
-- Outbox purge (docs/operations.md#webhooks): events older than the retention, oldest first (created_at, id).
-- Whether an event is finished depends on its deliveries (looked up by their primary key), so not partial.
CREATE INDEX webhook_events_created ON webhook_events (created_at, id);
-- Expired previous secrets (docs/cloud-api.md#rotating-a-secret): `previous_expires_at < $1` implies IS NOT
-- NULL, so this partial index holds only the credentials in a rotation's overlap.
CREATE INDEX credentials_previous_expiry ON credentials (previous_expires_at)
    WHERE previous_expires_at IS NOT NULL;
