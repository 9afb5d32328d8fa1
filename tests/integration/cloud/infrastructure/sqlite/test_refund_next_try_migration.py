"""Migration 0740 on a database that already holds refunds (docs/cloud-api.md#refunds): a refund pending
before it gets its next try 30 s after its last one, finished ones get none, and the due read uses the new
index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cloud.infrastructure.refunds import _PENDING
from cloud.infrastructure.sqlite.db import migration_files

ROW = ("INSERT INTO refunds (id, intent_id, merchant_id, amount, currency, status, actor, created_at, "
       "updated_at) VALUES (?, 'pi_1', 'mer_1', 100, 'JPY', ?, 'partner:cp_1', ?, ?)")  # fmt: skip


def test_pending_refunds_of_before_get_their_next_try(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "pgw.sqlite3")  # foreign keys off: only the refunds table matters here
    before = [(name, sql) for name, sql in migration_files() if name < "0740"]
    after = [(name, sql) for name, sql in migration_files() if name >= "0740"]
    assert after and after[0][0] == "0740_refund_next_try.sql"
    for _name, sql in before:
        conn.executescript(sql)
    conn.executemany(ROW, [("re_pending", "pending", 1_000, 5_000), ("re_done", "succeeded", 1_000, 2_000)])
    for _name, sql in after:
        conn.executescript(sql)
    got = dict(conn.execute("SELECT id, next_try_at FROM refunds").fetchall())
    assert got == {"re_pending": 35_000, "re_done": None}
    due = [r[0] for r in conn.execute(_PENDING.replace("?", "{}").format(35_000, 20)).fetchall()]
    assert due == ["re_pending"]
    assert conn.execute(_PENDING.replace("?", "{}").format(34_999, 20)).fetchall() == []
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + _PENDING, (35_000, 20)))
    assert "refunds_due" in plan, plan
