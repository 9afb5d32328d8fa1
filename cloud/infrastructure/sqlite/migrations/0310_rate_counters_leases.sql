-- What every worker must share beside the replay records (docs/operations.md#workers).
-- Rate-limit counters: one row per key and fixed window (window_start in Unix seconds); the key names the
-- limit (merchant, activation address, wrong-signature address). The sweeper drops windows past use.
CREATE TABLE rate_counters (
    key           TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
CREATE INDEX rate_counters_window ON rate_counters(window_start);

-- Background-task leases: the worker named in holder leads the task until `until` (Unix milliseconds).
CREATE TABLE worker_leases (
    task    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   INTEGER NOT NULL
);
