-- The outbox purge (docs/operations.md#webhooks) reads events older than the retention, oldest first
-- (created_at, id), through this index rather than the whole table. Whether an event is finished depends on its
-- deliveries (looked up by their primary key), so it is not partial. In a migration of its own: building it
-- holds a lock on webhook_events only, so a transaction that writes credentials and then an outbox row (an
-- enrolment's device.activated) waits for the build instead of deadlocking with it.
CREATE INDEX webhook_events_created ON webhook_events (created_at, id);
