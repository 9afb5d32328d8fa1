-- Durable uploader status (issue 5): last ack, last error, clock offset, connected — one row per key, so
-- `mpac-agent status` in another process reads what the running uploader last saw.
CREATE TABLE IF NOT EXISTS sync_meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL          -- unix ms
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS sales_rejected_seq ON sales (seq) WHERE sync_state = 'rejected';
