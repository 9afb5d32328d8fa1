-- When the sweeper next asks the provider about a pending QR refund (docs/cloud-api.md#refunds): set at insert
-- (30 s on) and at each try (later as the refund ages, cloud/domain/refunds.py RETRY_BACKOFF). Reading the due
-- ones is then a range on this partial index, however long an outage's backlog; it replaces 0710's index.
ALTER TABLE refunds ADD COLUMN next_try_at INTEGER;
UPDATE refunds SET next_try_at = updated_at + 30000 WHERE status = 'pending';
DROP INDEX refunds_pending;
CREATE INDEX refunds_due ON refunds(next_try_at, id) WHERE status = 'pending';
