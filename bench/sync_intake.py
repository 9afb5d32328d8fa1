"""Items/s of `POST /v1/sync/batches` alone (500-item batches, SQLite), against plain sqlite3 in the same run.

A real `mpac-pgw serve` process on a temp SQLite file (WAL, synchronous=FULL); one enrolled device posts
pre-built hash-chained batches one at a time (as the agent's uploader does), each signed at send time. The
items are built and encoded exactly as the agent builds them (sync.testing.seed + sync.batch).

Baseline, same run: the very rows the endpoint wrote (payment_intents, transactions, sync_items), copied from
its database and inserted with plain sqlite3 executemany, one transaction per 500 items, on the same schema
and pragmas. The ratio says what HTTP, auth, validation and the per-item logic cost on top of the storage
floor.

    .venv/bin/python bench/sync_intake.py [--batches 200] [--seconds 120]

200 batches (100,000 items, as bench/sync_drain.py drains) by default: 40 batches ran ~2 s and
varied by ±40% between runs on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from ulid import ULID

from cloud.infrastructure.sqlite.db import migration_files
from sync.batch import OutboxItem, encode_batch, item_wire_bytes
from sync.signing import authorization_header
from sync.testing.seed import sale_row
from sync.wire import GENESIS_HASH

BATCH = 500
PATH = "/v1/sync/batches"
PY = sys.executable


def admin(db: str, *args: str) -> dict[str, str]:
    """`mpac-pgw admin …` as a subprocess."""
    out = subprocess.run([PY, "-m", "cloud.cli", "admin", *args, "--db", db], check=True, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    result: dict[str, str] = json.loads(out.stdout)
    return result


def build_batches(device_id: str, batches: int) -> list[list[bytes]]:
    """Hash-chained cash sales, as wire items, 500 per batch."""
    prev, created, out = GENESIS_HASH, int(time.time() * 1000), []
    seq = 0
    for b in range(batches):
        wire = []
        for _ in range(BATCH):
            seq += 1
            row = sale_row(seq, prev, created + seq, f"bench-{seq}", 100 + seq % 9000)
            prev = row[4]
            wire.append(item_wire_bytes(OutboxItem(row[0], seq, row[5].encode("utf-8"), row[4])))
        out.append(wire)
        del b
    return out


async def post_all(url: str, code: str, batch_count: int, seconds: float) -> tuple[int, float]:
    """Enroll, then post every batch in order, one in flight; returns (items accepted, seconds)."""
    accepted = 0
    async with aiohttp.ClientSession() as session:
        body = {"code": code, "serial_number": "B1", "model": "bench"}
        async with session.post(url + "/v1/devices/activate", json=body) as resp:
            cred = await resp.json()
        batches = build_batches(cred["device_id"], batch_count)  # built before the clock starts
        start = time.perf_counter()
        for wire in batches:
            if time.perf_counter() - start > seconds:
                print("time bound reached; stopping early")
                break
            raw = encode_batch(str(ULID()), cred["device_id"], int(time.time() * 1000), wire)
            auth = authorization_header(cred["api_key"], cred["secret_key"], "POST", PATH, int(time.time()),
                                        raw)  # fmt: skip
            headers = {"Authorization": auth, "Content-Type": "application/json"}
            async with session.post(url + PATH, data=raw, headers=headers) as resp:
                got = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"batch refused: {resp.status} {got}")
            accepted += sum(r["status"] == "accepted" for r in got["results"])
        return accepted, time.perf_counter() - start


def baseline(src: Path, dst: Path) -> tuple[int, float]:
    """The same rows, plain sqlite3 executemany, one transaction per 500 items (same schema, same pragmas)."""
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst, isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"):
        d.execute(pragma)
    for _, sql in migration_files():
        d.executescript(sql)
    for table in ("client_partners", "merchants", "stores", "credentials", "devices"):
        rows = s.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 — fixed table names
        d.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)  # noqa: S608
    intents = s.execute("SELECT * FROM payment_intents ORDER BY id").fetchall()
    txns: dict[str, list[tuple[object, ...]]] = {}
    for t in s.execute("SELECT * FROM transactions ORDER BY rowid"):
        txns.setdefault(t[1], []).append(t)
    items = {r[2]: r for r in s.execute("SELECT * FROM sync_items")}
    width = len(intents[0])
    start = time.perf_counter()
    for i in range(0, len(intents), BATCH):
        chunk = intents[i:i + BATCH]
        d.execute("BEGIN IMMEDIATE")
        d.executemany(f"INSERT INTO payment_intents VALUES ({','.join('?' * width)})", chunk)  # noqa: S608
        d.executemany("INSERT INTO transactions VALUES (?,?,?,?,?,?,?)",
                      [t for r in chunk for t in txns[r[0]]])  # fmt: skip
        d.executemany("INSERT INTO sync_items VALUES (?,?,?,?,?,?,?)", [items[r[0]] for r in chunk])
        d.execute("COMMIT")
    return len(intents), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200, help="500-item batches to post (default 200)")
    parser.add_argument("--seconds", type=float, default=120.0, help="time bound of the timed phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "pgw.sqlite3"
        db = f"sqlite:///{db_path}"
        partner = admin(db, "partner", "create", "--name", "bench")
        merchant = admin(db, "merchant", "create", "--partner", partner["client_partner_id"], "--name", "m")
        store = admin(db, "store", "create", "--merchant", merchant["merchant_id"], "--code", "s1")
        code = admin(db, "activation-code", "--store", store["store_id"])["activation_code"]
        argv = [PY, "-m", "cloud.cli", "serve", "--port", "0", "--db", db,
                "--rate-limit-per-minute", "1000000"]  # fmt: skip
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            found = re.search(r"http://[0-9.]+:\d+", server.stdout.readline())
            assert found is not None, "mpac-pgw serve printed no URL"
            n, secs = asyncio.run(post_all(found.group(0), code, args.batches, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
        base_n, base_secs = baseline(db_path, Path(tmp) / "baseline.sqlite3")
    api, floor = n / secs, base_n / base_secs
    print(f"endpoint : {n} items in {secs:.2f} s = {api:,.0f} items/s ({n // BATCH} batches of {BATCH}, "
          "one in flight, mpac-pgw serve on SQLite)")  # fmt: skip
    print(f"baseline : {base_n} items in {base_secs:.2f} s = {floor:,.0f} items/s (plain sqlite3 "
          "executemany of the same rows, one transaction per 500)")  # fmt: skip
    print(f"ratio    : endpoint / baseline = {api / floor:.2f}")


if __name__ == "__main__":
    main()
