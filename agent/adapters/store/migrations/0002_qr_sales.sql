-- QR MPM sales: created and confirmed on the cloud directly, so outside the offline sales chain.
-- Each row mirrors the cloud PaymentIntent it created.
CREATE TABLE qr_sales (
    local_id        TEXT PRIMARY KEY,                      -- UUIDv7
    merchant_ref_id TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,                      -- unix ms
    updated_at      INTEGER NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    cloud_intent_id TEXT NOT NULL UNIQUE,                  -- pi_…
    status          TEXT NOT NULL,                         -- the cloud intent's status
    qr_content      TEXT,
    metadata_json   TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;

CREATE INDEX qr_sales_created_at ON qr_sales (created_at);
