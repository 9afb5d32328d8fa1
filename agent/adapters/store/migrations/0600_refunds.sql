-- Refunds (issue 18; docs/settlement.md, docs/sync-protocol.md "Refund items"). Cash and card refunds are items of
-- the device's one hash chain: their seq is taken from the same sequence as the sales (a seq is in `sales` or in
-- `refunds`, never both; the chain writer hands them out). QR refunds are made online through the cloud refund
-- API and kept here with seq NULL and sync_state 'online' (they never ride a sync batch).
CREATE TABLE IF NOT EXISTS refunds (
    local_id           TEXT PRIMARY KEY,                   -- UUIDv7 of the refund
    seq                INTEGER UNIQUE CHECK (seq >= 1),    -- on the chain; NULL for an online (QR) refund
    created_at         INTEGER NOT NULL,                   -- unix ms
    prev_hash          TEXT,
    hash               TEXT,
    item_json          TEXT,                               -- canonical JSON of the item without "hash"
    sale_local_id      TEXT NOT NULL,                      -- the refunded sale (sales or qr_sales)
    method             TEXT NOT NULL,                      -- cash | card | qr_mpm | qr_cpm (of the sale)
    amount             INTEGER NOT NULL CHECK (amount > 0),
    currency           TEXT NOT NULL,
    reason             TEXT,
    merchant_refund_id TEXT NOT NULL UNIQUE,
    sync_state         TEXT NOT NULL DEFAULT 'queued'
                       CHECK (sync_state IN ('queued', 'sending', 'acked', 'rejected', 'expired', 'online')),
    sync_error         TEXT,
    cloud_refund_id    TEXT,                               -- re_… once the cloud holds it
    cloud_intent_id    TEXT,
    synced_at          INTEGER,
    trace_context      TEXT,
    settlement_id      TEXT                                -- the Z report it was counted in; NULL while open
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS refunds_sale ON refunds (sale_local_id);
CREATE INDEX IF NOT EXISTS refunds_sync_state_seq ON refunds (sync_state, seq);
CREATE INDEX IF NOT EXISTS refunds_open_day ON refunds (created_at) WHERE settlement_id IS NULL;

-- A queued refund counts against the offline caps like a queued sale (count and amount), through the same
-- trigger-kept pending_totals.
CREATE TRIGGER IF NOT EXISTS refunds_pending_insert AFTER INSERT ON refunds
WHEN NEW.sync_state IN ('queued', 'sending')
BEGIN
    INSERT INTO pending_totals (currency, count, amount) VALUES (NEW.currency, 1, NEW.amount)
    ON CONFLICT (currency) DO UPDATE SET count = count + excluded.count, amount = amount + excluded.amount;
END;

CREATE TRIGGER IF NOT EXISTS refunds_pending_leave AFTER UPDATE OF sync_state ON refunds
WHEN OLD.sync_state IN ('queued', 'sending') AND NEW.sync_state NOT IN ('queued', 'sending')
BEGIN
    UPDATE pending_totals SET count = count - 1, amount = amount - OLD.amount WHERE currency = OLD.currency;
END;

CREATE TRIGGER IF NOT EXISTS refunds_pending_enter AFTER UPDATE OF sync_state ON refunds
WHEN OLD.sync_state NOT IN ('queued', 'sending') AND NEW.sync_state IN ('queued', 'sending')
BEGIN
    INSERT INTO pending_totals (currency, count, amount) VALUES (NEW.currency, 1, NEW.amount)
    ON CONFLICT (currency) DO UPDATE SET count = count + excluded.count, amount = amount + excluded.amount;
END;

-- The cloud intent's provider, for QR takings by provider in the settlement (NULL: not known).
ALTER TABLE qr_sales ADD COLUMN provider TEXT;
