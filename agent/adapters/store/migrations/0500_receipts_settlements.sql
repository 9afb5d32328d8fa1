-- Receipt numbers and end-of-day settlements (issue 18; docs/receipts.md, docs/settlement.md).

-- One number per issued receipt document, per device (this database is the device's), from 1 without gaps:
-- a number is taken in the same writer job that decides it, and a sale asking again gets its own number back.
CREATE TABLE IF NOT EXISTS receipt_numbers (
    number      INTEGER PRIMARY KEY CHECK (number >= 1),
    document_id TEXT NOT NULL UNIQUE,          -- the sale's local_id (cash, card or QR)
    issued_at   INTEGER NOT NULL               -- unix ms
);

-- Z reports: one per business day, numbered 1, 2, 3 … per device; the stored report is the sync payload.
CREATE TABLE IF NOT EXISTS settlements (
    settlement_id TEXT PRIMARY KEY,            -- 'st_' + ULID
    z_number      INTEGER NOT NULL UNIQUE CHECK (z_number >= 1),
    business_date TEXT NOT NULL UNIQUE,        -- YYYY-MM-DD in the store's time zone: a day closes once
    created_at    INTEGER NOT NULL,            -- unix ms
    report_json   TEXT NOT NULL,               -- canonical JSON of the report (docs/settlement.md)
    sync_state    TEXT NOT NULL DEFAULT 'queued'
                  CHECK (sync_state IN ('queued', 'sending', 'acked', 'rejected')),
    sync_error    TEXT,
    synced_at     INTEGER
) WITHOUT ROWID;

-- The Z report a sale was counted in; NULL while its business day is open. Not part of the hashed item.
ALTER TABLE sales ADD COLUMN settlement_id TEXT;
ALTER TABLE qr_sales ADD COLUMN settlement_id TEXT;
CREATE INDEX IF NOT EXISTS sales_open_day ON sales (created_at) WHERE settlement_id IS NULL;
CREATE INDEX IF NOT EXISTS qr_sales_open_day ON qr_sales (created_at) WHERE settlement_id IS NULL;
