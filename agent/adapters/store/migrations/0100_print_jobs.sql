-- Durable print queue, one logical queue per printer (issue 6). A job's bytes are stored once; the state moves
-- queued -> printing -> printed | failed | cancelled, and queued -> held when it waited too long while the printer
-- was away (the cashier then reprints -> queued, or drops -> cancelled). A job is never sent twice on its own:
-- 'printing' left behind by a crash or a link lost mid-write becomes 'held'/'failed', not 'queued'.
-- Idempotent (IF NOT EXISTS) because the device layer may create it before the agent's runner records it.
CREATE TABLE IF NOT EXISTS print_jobs (
    job_id        TEXT PRIMARY KEY,                  -- 'pj_' + ULID
    printer       TEXT NOT NULL,                     -- device name from [devices]
    receipt_id    TEXT,                              -- the sale's local_id (NULL for test prints)
    kind          TEXT NOT NULL CHECK (kind IN ('receipt', 'reprint', 'test')),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'printing', 'printed', 'failed', 'cancelled', 'held')),
    payload       BLOB NOT NULL,                     -- the exact ESC/POS bytes (no card number is ever in them)
    attempts      INTEGER NOT NULL DEFAULT 0,        -- times the bytes were handed to the printer
    last_error    TEXT,                              -- cashier-readable reason of the last failure/hold
    created_at    INTEGER NOT NULL,                  -- unix ms
    queued_at     INTEGER NOT NULL,                  -- unix ms; the age that decides 'held'
    updated_at    INTEGER NOT NULL,                  -- unix ms
    printed_at    INTEGER                            -- unix ms
);

-- One original receipt per sale and printer: a repeated print request returns the same job.
CREATE UNIQUE INDEX IF NOT EXISTS print_jobs_receipt_once ON print_jobs (printer, receipt_id) WHERE kind = 'receipt';
CREATE INDEX IF NOT EXISTS print_jobs_pending ON print_jobs (printer, state, queued_at);
