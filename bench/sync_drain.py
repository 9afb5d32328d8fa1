"""Drain 100,000 queued sales agent → cloud (SQLite) end to end, and PouchDB replicating the same documents.

    .venv/bin/python bench/sync_drain.py [--items 100000] [--cloud auto|real|reference] [--no-peer] [--no-tls]

Ours: the agent's SqliteOutbox + signed SyncClient + Uploader.drain() in this process, the cloud as its own
process on loopback: `mpac-pgw serve` on SQLite (the headline), then the reference endpoint of sync.testing on
SQLite (what the agent side alone can do); each line says which. Both ends synchronous=FULL: every batch
is fsynced twice on the agent (claim, results) and once on the cloud before the answer.
TLS cost: the headline cloud is drained once over plain HTTP and once over verified HTTPS (a throwaway CA,
sync.testing.pki, trusted through [cloud] ca_file's code path) in the same run; the ratio is the cost of TLS.
Peer: PouchDB 9 (leveldb on disk) replicating the same 100,000 item documents to express-pouchdb (leveldb on
disk) in another Node process over loopback, installed by npm into a temp dir. Setup (seeding, loading the
PouchDB source) is not timed; only the drain / the replication is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosqlite

from agent.adapters.store.database import AgentDatabase, migrate
from agent.adapters.store.outbox import SqliteOutbox
from sync.client import DeviceCredential, SyncClient
from sync.testing.processes import CloudProcess, provision_real_device, real_sync_endpoint_exists
from sync.testing.seed import seed_sales
from sync.uploader import Uploader, UploaderConfig

NPM_PACKAGES = ["pouchdb@9.0.0", "express-pouchdb@4.2.0", "express@5.3.0"]
PEER_TIMEOUT_S = 1800

PEER_JS = r"""
const [mode, dir, arg1, arg2] = process.argv.slice(2);
const PouchDB = require('pouchdb');
const fs = require('fs');
if (mode === 'server') {
  const express = require('express');
  const P = PouchDB.defaults({prefix: dir + '/'});
  const app = express();
  app.use('/', require('express-pouchdb')(P, {mode: 'minimumForPouchDB', logPath: dir + '/log.txt'}));
  const server = app.listen(0, '127.0.0.1',
    () => console.log('listening http://127.0.0.1:' + server.address().port));
} else {
  (async () => {
    const [url, batch] = [arg1, parseInt(arg2, 10)];
    const src = new PouchDB(dir + '/source');
    if ((await src.info()).doc_count === 0) {
      const lines = fs.readFileSync(dir + '/docs.ndjson', 'utf8').split('\n').filter(Boolean);
      for (let i = 0; i < lines.length; i += 5000) {
        await src.bulkDocs(lines.slice(i, i + 5000).map((l) => JSON.parse(l)));
      }
    }
    const target = url + '/target_' + batch;
    const t0 = process.hrtime.bigint();
    const res = await src.replicate.to(target, {batch_size: batch, batches_limit: 10});
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const info = await new PouchDB(target).info();
    console.log(JSON.stringify({docs_written: res.docs_written, seconds: secs, target_docs: info.doc_count}));
  })().catch((e) => { console.error(e); process.exit(1); });
}
"""


async def _start_cloud(kind: str, work: Path, tls: bool) -> tuple[CloudProcess, DeviceCredential, str] | None:
    """The real cloud (None if it has no sync endpoint) or the reference endpoint, started and provisioned."""
    work = work / f"{kind}-{'https' if tls else 'http'}"
    work.mkdir()
    cloud = CloudProcess.https(kind, work) if tls else CloudProcess(kind, work)
    if kind == "real":
        await cloud.start()
        if not await real_sync_endpoint_exists(cloud.url, cloud.trust()):
            await cloud.stop()
            return None
        return cloud, await provision_real_device(cloud, "BENCH-1"), "real cloud: mpac-pgw serve, SQLite"
    cred = DeviceCredential("dev_bench", "pk_dev_bench", "sk_dev_bench_secret")
    cloud.device_args = ["--device", json.dumps({"device_id": cred.device_id, "api_key": cred.api_key,
                                                 "secret_key": cred.secret_key})]
    await cloud.start()
    return cloud, cred, "reference endpoint: sync.testing, SQLite (agent-side ceiling)"


async def _seed(path: Path, n: int) -> float:
    await migrate(path)
    conn = await aiosqlite.connect(path)
    started = time.perf_counter()
    await seed_sales(conn, n, prefix="bench", created_at=int(time.time() * 1000))
    await conn.close()
    return time.perf_counter() - started


async def _drain(path: Path, cloud: CloudProcess, cred: DeviceCredential, n: int) -> dict[str, Any]:
    database = await AgentDatabase.open(path)
    outbox = SqliteOutbox(database, cred.device_id)
    client = SyncClient(cloud.url, cred, timeout=60, trust=cloud.trust())
    uploader = Uploader(outbox, client, cred.device_id, UploaderConfig())
    started = time.perf_counter()
    total = await uploader.drain(max_batches=n)  # bounded: one item per batch at worst
    seconds = time.perf_counter() - started
    await client.close()
    await database.close()
    with sqlite3.connect(path) as conn:
        acked, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT cloud_intent_id) FROM sales WHERE sync_state = 'acked'",
        ).fetchone()
    return {"seconds": seconds, "sent": total.sent, "acked": acked, "distinct_intents": distinct,
            "pending": total.pending, "items_per_s": total.acked / seconds}


def _export_docs(path: Path, out: Path) -> None:
    with sqlite3.connect(path) as conn, out.open("w", encoding="utf-8") as fh:
        rows = conn.execute("SELECT local_id, item_json, hash FROM sales ORDER BY seq")
        for local_id, item_json, digest in rows:
            doc = json.loads(item_json)
            doc["hash"], doc["_id"] = digest, local_id
            fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")


def _run_peer(agent_db: Path, work: Path, batches: list[int]) -> dict[int, dict[str, Any]] | str:
    """PouchDB → express-pouchdb replication of the same documents; or the exact reason it cannot run."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node/npm are not installed on this machine"
    peer = work / "pouchdb"
    peer.mkdir()
    started = time.perf_counter()
    npm_run = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(peer),
                              *NPM_PACKAGES], capture_output=True, text=True, timeout=600, check=False)
    if npm_run.returncode != 0:
        return f"npm install failed: {npm_run.stderr.strip()[-400:]}"
    took = time.perf_counter() - started
    print(f"  peer: npm install {' '.join(NPM_PACKAGES)} took {took:.1f}s", flush=True)
    (peer / "peer.js").write_text(PEER_JS, encoding="utf-8")
    _export_docs(agent_db, peer / "docs.ndjson")
    (peer / "server").mkdir()
    server = subprocess.Popen([node, "peer.js", "server", str(peer / "server")], cwd=peer,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if "listening" not in line:
            return f"express-pouchdb did not start: {line!r}"
        url = line.split()[-1]
        results: dict[int, dict[str, Any]] = {}
        for batch in batches:
            run = subprocess.run([node, "peer.js", "client", str(peer), url, str(batch)], cwd=peer,
                                 capture_output=True, text=True, timeout=PEER_TIMEOUT_S, check=False)
            if run.returncode != 0:
                return f"PouchDB replication failed: {run.stderr.strip()[-400:]}"
            results[batch] = json.loads(run.stdout.strip().splitlines()[-1])
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _ours(kind: str, work: Path, n: int, tls: bool = False) -> tuple[Path, dict[str, Any]] | None:
    """Seed a fresh agent database, drain it into a fresh cloud of `kind`, print the line."""
    agent_db = work / f"agent-{kind}-{'https' if tls else 'http'}.sqlite3"
    seed_s = await _seed(agent_db, n)
    started = await _start_cloud(kind, work, tls)
    if started is None:
        print(f"ours:  {kind} cloud skipped: mpac-pgw serve has no POST /v1/sync/batches")
        return None
    cloud, cred, label = started
    try:
        ours = await _drain(agent_db, cloud, cred, n)
    finally:
        await cloud.stop()
    print(f"ours:  {ours['acked']} acked ({ours['distinct_intents']} distinct intents, pending "
          f"{ours['pending']}) in {ours['seconds']:.2f}s = {ours['items_per_s']:,.0f} items/s  [{label}, "
          f"{'verified HTTPS' if tls else 'plain HTTP'}; "
          f"seeding {n} took {seed_s:.1f}s, not timed]", flush=True)
    if ours["acked"] != n or ours["distinct_intents"] != n:
        raise SystemExit("FAILED: not every sale was acknowledged exactly once")
    return agent_db, ours


async def _main(args: argparse.Namespace) -> int:
    kinds = ["real", "reference"] if args.cloud == "auto" else [args.cloud]
    with tempfile.TemporaryDirectory(prefix="sync-drain-") as tmp:
        work = Path(tmp)
        runs = [run for kind in kinds if (run := await _ours(kind, work, args.items)) is not None]
        if runs and not args.no_tls:
            await _tls_cost(kinds[0], work, args.items, runs[0][1])
        if not runs or args.no_peer:
            return 0 if runs else 1
        agent_db, ours = runs[0]  # the first run is the headline: the real cloud when it exists
        peer = _run_peer(agent_db, work, [100, 500])
        if isinstance(peer, str):
            print(f"peer:  PouchDB could not run: {peer}")
            return 0
        for batch, res in peer.items():
            rate = res["docs_written"] / res["seconds"]
            print(f"peer:  PouchDB 9 → express-pouchdb, batch_size={batch}: {res['docs_written']} docs "
                  f"({res['target_docs']} on target) in {res['seconds']:.2f}s = {rate:,.0f} docs/s; "
                  f"ours/peer = {ours['items_per_s'] / rate:.2f}x")
        best = max(res["docs_written"] / res["seconds"] for res in peer.values())
        print(f"goal ≥ 10,000 items/s: {'met' if ours['items_per_s'] >= 10_000 else 'MISSED'}; "
              f"goal ≥ 3x PouchDB (best batch size): {ours['items_per_s'] / best:.2f}x "
              f"{'met' if ours['items_per_s'] >= 3 * best else 'MISSED'}  (headline: first line above)")
    return 0


async def _tls_cost(kind: str, work: Path, n: int, plain: dict[str, Any]) -> None:
    """The same drain over verified HTTPS; prints both rates and their ratio (the TLS cost)."""
    run = await _ours(kind, work, n, tls=True)
    if run is None:
        return
    ratio = run[1]["items_per_s"] / plain["items_per_s"]
    print(f"tls:   {kind} cloud, plain HTTP {plain['items_per_s']:,.0f} items/s vs verified HTTPS "
          f"{run[1]['items_per_s']:,.0f} items/s: HTTPS/HTTP = {ratio:.2f}x "
          f"(TLS cost {100 * (1 - ratio):+.1f}% of throughput)", flush=True)


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--cloud", choices=["auto", "real", "reference"], default="auto",
                        help="auto: the real cloud (headline) and then the reference endpoint")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-tls", action="store_true", help="skip the HTTPS run (the TLS cost figure)")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
