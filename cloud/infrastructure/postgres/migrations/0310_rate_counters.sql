-- Rate-limit counters shared by every worker on every host (docs/operations.md#workers): one row per key and
-- fixed window (window_start in Unix seconds). UNLOGGED: a bump writes no WAL, so it costs no fsync; after a
-- crash of the server the table comes back empty, which only forgets the current minute's counts.
-- (Background tasks are led with pg_try_advisory_lock, so no lease table is needed here.)
CREATE UNLOGGED TABLE rate_counters (
    key           TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counters_window ON rate_counters (window_start);
