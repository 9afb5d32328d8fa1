-- Sales: one row per cash or card sale, hash-chained per device (docs/sync-protocol.md). Never deleted.
CREATE TABLE sales (
    local_id            TEXT PRIMARY KEY,                 -- UUIDv7
    seq                 INTEGER NOT NULL UNIQUE CHECK (seq >= 1),  -- gap-free per device, from 1
    created_at          INTEGER NOT NULL,                 -- unix ms, device clock
    prev_hash           TEXT NOT NULL,
    hash                TEXT NOT NULL,
    item_json           TEXT NOT NULL,                    -- canonical JSON of the item without "hash"
    amount              INTEGER NOT NULL CHECK (amount > 0),
    currency            TEXT NOT NULL,
    processing_mode     TEXT NOT NULL,
    payment_method_type TEXT NOT NULL,
    merchant_ref_id     TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
    sync_state          TEXT NOT NULL DEFAULT 'queued'
                        CHECK (sync_state IN ('queued', 'sending', 'acked', 'rejected', 'expired')),
    sync_error          TEXT,
    cloud_intent_id     TEXT,
    synced_at           INTEGER,
    receipt_json        TEXT NOT NULL DEFAULT '{}'        -- receipt lines and tax; not part of the hash
) WITHOUT ROWID;

CREATE INDEX sales_pending_created ON sales (created_at) WHERE sync_state IN ('queued', 'sending');
CREATE INDEX sales_sync_state_seq ON sales (sync_state, seq);
CREATE INDEX sales_created_at ON sales (created_at);

-- Running count and succeeded amount per currency of sales not yet acknowledged (queued or sending),
-- kept by triggers so the offline caps cost O(1) whatever connection moves sync_state.
CREATE TABLE pending_totals (
    currency TEXT PRIMARY KEY,
    count    INTEGER NOT NULL,
    amount   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER sales_pending_insert AFTER INSERT ON sales
WHEN NEW.sync_state IN ('queued', 'sending')
BEGIN
    INSERT INTO pending_totals (currency, count, amount)
    VALUES (NEW.currency, 1, CASE WHEN NEW.status = 'succeeded' THEN NEW.amount ELSE 0 END)
    ON CONFLICT (currency) DO UPDATE SET count = count + excluded.count, amount = amount + excluded.amount;
END;

CREATE TRIGGER sales_pending_leave AFTER UPDATE OF sync_state ON sales
WHEN OLD.sync_state IN ('queued', 'sending') AND NEW.sync_state NOT IN ('queued', 'sending')
BEGIN
    UPDATE pending_totals
    SET count = count - 1, amount = amount - CASE WHEN OLD.status = 'succeeded' THEN OLD.amount ELSE 0 END
    WHERE currency = OLD.currency;
END;

CREATE TRIGGER sales_pending_enter AFTER UPDATE OF sync_state ON sales
WHEN OLD.sync_state NOT IN ('queued', 'sending') AND NEW.sync_state IN ('queued', 'sending')
BEGIN
    INSERT INTO pending_totals (currency, count, amount)
    VALUES (NEW.currency, 1, CASE WHEN NEW.status = 'succeeded' THEN NEW.amount ELSE 0 END)
    ON CONFLICT (currency) DO UPDATE SET count = count + excluded.count, amount = amount + excluded.amount;
END;
