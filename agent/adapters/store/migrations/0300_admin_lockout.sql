-- The admin password lockout (docs/local-web.md, "Admin password and lockout"): one row, written through the
-- database's one writer, so parallel attempts are counted one after another and a restart keeps the lock.
CREATE TABLE IF NOT EXISTS admin_lockout (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    attempts     INTEGER NOT NULL,       -- counted before each check; reset by a right password or an expired lock
    locked_until INTEGER NOT NULL,       -- unix ms; 0 when not locked
    updated_at   INTEGER NOT NULL        -- unix ms
);
