"""Small helpers shared by the cloud integration tests."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

from cloud.testing import PgwClient
from tests.pgserver import on_thread

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cloud"
_refs = itertools.count(1)


def fixture(name: str) -> dict[str, Any]:
    """A JSON payload from tests/fixtures/cloud."""
    value: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return value


def intent_body(method: str = "qr_mpm", **extra: Any) -> dict[str, Any]:
    """A valid create body with a fresh merchant_ref_id."""
    return {
        "amount": 1000,
        "currency": "JPY",
        "payment_method_types": [method],
        "merchant_ref_id": f"order-{next(_refs)}",
        **extra,
    }


async def create(client: PgwClient, method: str = "qr_mpm", **extra: Any) -> dict[str, Any]:
    """Create an intent and return its JSON (asserting 201)."""
    resp = await client.post("/v1/payment_intents", intent_body(method, **extra))
    assert resp.status == 201, resp.body
    body: dict[str, Any] = resp.body
    return body


def rows(db_path: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Committed rows: read with plain sqlite3 from the file, or from a postgresql:// URL (`?` marks become
    `$1`, `$2`, …; SQL that both engines read the same way works on both)."""
    if isinstance(db_path, str):
        return on_thread(_pg_rows(db_path, sql, params))
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def transitions(db_path: Path | str, intent_id: str) -> list[tuple[str | None, str, str]]:
    """(from, to, actor) of every Transaction of an intent, in order (written order: rowid / pos)."""
    written = "pos" if isinstance(db_path, str) else "rowid"
    found = rows(
        db_path,
        "SELECT from_status, to_status, actor FROM transactions WHERE intent_id=? "  # noqa: S608 — constants
        f"ORDER BY created_at, {written}",
        (intent_id,),
    )
    return [(r[0], r[1], r[2]) for r in found]


def execute(db_path: Path | str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """One write from another connection (as another process or a fault would), on either backend."""
    if isinstance(db_path, str):
        rows(db_path, sql, params)
        return
    with sqlite3.connect(db_path) as conn:
        conn.execute(sql, params)


async def _pg_rows(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    marks = itertools.count(1)
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(re.sub(r"\?", lambda _: f"${next(marks)}", sql), *params)]
    finally:
        await conn.close()
