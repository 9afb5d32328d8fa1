-- A small 24 h history for the status page's chart (issue 11): one row per minute, pruned after 24 h, so at most
-- 1,440 rows. queue_depth: sales not yet acknowledged when the minute was sampled; acked: sales the cloud
-- acknowledged during the minute (sync throughput); taken: sales of any method recorded during the minute.
CREATE TABLE IF NOT EXISTS activity_history (
    minute      INTEGER PRIMARY KEY,             -- unix ms at the start of the minute
    queue_depth INTEGER NOT NULL,
    acked       INTEGER NOT NULL,
    taken       INTEGER NOT NULL
) WITHOUT ROWID;
