-- The sweeper's retry of QR refunds whose provider answer was lost (docs/cloud-api.md#refunds): it reads the
-- pending refunds least recently tried first; this partial index keeps that read off the whole refunds table.
CREATE INDEX refunds_pending ON refunds(updated_at, id) WHERE status = 'pending';
