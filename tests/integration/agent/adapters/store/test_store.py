"""The agent store on a real SQLite file: migrations, group commit, hash chain, expiry, storage full."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent.adapters.store import Store
from agent.adapters.store.database import migrations as migration_files
from agent.domain.errors import SaleRefused, StoreUnavailable
from agent.domain.sale import NewSale
from agent.settings import OfflineSection, load_settings
from sync.sqlite import MigrationError
from sync.wire import GENESIS_HASH, item_hash

CAPS = load_settings(overrides={"offline": {"max_count": 100_000, "max_total_amount": 10**12}}).offline


def cash(ref: str, amount: int = 100) -> NewSale:
    """A finished cash sale."""
    return NewSale(ref, amount, "JPY", "cash", "succeeded", {"cash_received": amount, "change": 0})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store on a temp file with caps out of the way."""
    opened = await Store.open(tmp_path / "agent.sqlite3", CAPS)
    yield opened
    await opened.close()


def verify_chain(path: Path) -> int:
    """Recompute every hash from item_json and check seq is 1..n with each prev_hash the hash before."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, prev_hash, hash, item_json FROM sales ORDER BY seq").fetchall()
    prev = GENESIS_HASH
    for expected_seq, (seq, prev_hash, digest, item_json) in enumerate(rows, start=1):
        item = json.loads(item_json)
        assert (seq, prev_hash, item["seq"], item["prev_hash"]) == (expected_seq, prev, seq, prev)
        assert item_hash(prev, item) == digest
        prev = digest
    return len(rows)


class TestMigrations:
    async def test_every_file_applied_once_in_order(self, store: Store, tmp_path: Path) -> None:
        """schema_migrations lists every migrations/*.sql in lexical order; reopening applies nothing new."""
        names = [name for name, _sql in migration_files()]
        assert names == sorted(names) and names[0] == "0001_sales.sql"
        with sqlite3.connect(tmp_path / "agent.sqlite3") as conn:
            recorded = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY rowid")]
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert recorded == names and mode == "wal"
        await store.close()
        again = await Store.open(tmp_path / "agent.sqlite3", CAPS)
        with sqlite3.connect(tmp_path / "agent.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (len(names),)
        await again.close()

    async def test_writer_runs_synchronous_full(self, store: Store) -> None:
        """The writer connection commits with synchronous=FULL (2)."""
        level = await store.writer.outside_transaction(
            lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert level == 2


class TestGroupCommit:
    async def test_concurrent_sales_share_commits_and_chain_is_gap_free(
        self, store: Store, tmp_path: Path
    ) -> None:
        """300 concurrent sales: fewer commits than sales, seq 1..300 without gaps, every hash recomputes."""
        recorded = await asyncio.gather(*(store.record(cash(f"g-{i}")) for i in range(300)))
        assert sorted(r.sale.seq for r in recorded) == list(range(1, 301))
        assert store.writer.batches < 300
        assert verify_chain(tmp_path / "agent.sqlite3") == 300

    async def test_chain_continues_after_reopen(self, store: Store, tmp_path: Path) -> None:
        """A reopened store continues at seq n+1 from the last hash."""
        last = (await store.record(cash("r-1"))).sale
        await store.close()
        again = await Store.open(tmp_path / "agent.sqlite3", CAPS)
        nxt = (await again.record(cash("r-2"))).sale
        await again.close()
        assert (nxt.seq, nxt.prev_hash) == (2, last.hash)

    async def test_refused_sale_in_a_batch_leaves_no_gap(self, tmp_path: Path) -> None:
        """A cap refusal inside a concurrent batch takes no seq: the others stay gap-free."""
        caps = OfflineSection(max_sale_amount=50_000, max_total_amount=250, max_count=100, max_age_hours=24)
        opened = await Store.open(tmp_path / "agent.sqlite3", caps)
        results = await asyncio.gather(
            *(opened.record(cash(f"b-{i}", 100)) for i in range(4)), return_exceptions=True
        )
        await opened.close()
        assert sum(isinstance(r, SaleRefused) for r in results) == 2
        assert verify_chain(tmp_path / "agent.sqlite3") == 2


class TestExpiry:
    async def test_old_queued_sales_expire_and_stay(self, tmp_path: Path) -> None:
        """Queued sales older than the max age become expired; newer, sending and acked ones do not."""
        now = [1_800_000_000_000]
        clock: Callable[[], int] = lambda: now[0]  # noqa: E731 -- a settable clock
        caps = CAPS.model_copy(update={"max_age_hours": 1000.0})  # the age cap is not under test here
        opened = await Store.open(tmp_path / "agent.sqlite3", caps, clock_ms=clock)
        for ref in ("old-queued", "old-sending", "old-acked"):
            await opened.record(cash(ref))
        now[0] += 25 * 3_600_000
        await opened.record(cash("new-queued"))
        with sqlite3.connect(tmp_path / "agent.sqlite3") as conn:
            conn.execute("UPDATE sales SET sync_state = 'sending' WHERE merchant_ref_id = 'old-sending'")
            conn.execute("UPDATE sales SET sync_state = 'acked' WHERE merchant_ref_id = 'old-acked'")
        assert await opened.expire_stale(24 * 3_600_000) == 1
        pending = await opened.pending()
        await opened.close()
        with sqlite3.connect(tmp_path / "agent.sqlite3") as conn:
            states = dict(conn.execute("SELECT merchant_ref_id, sync_state FROM sales"))
            error = conn.execute("SELECT sync_error FROM sales WHERE sync_state = 'expired'").fetchone()[0]
        assert states == {
            "old-queued": "expired",
            "old-sending": "sending",
            "old-acked": "acked",
            "new-queued": "queued",
        }
        assert json.loads(error)["code"] == "expired"
        assert pending.count == 2 and pending.amounts == {"JPY": 200}


class TestStorageFull:
    async def test_db_quota_refuses_with_store_unavailable(self, tmp_path: Path) -> None:
        """Past max_db_mb SQLite reports the database full: StoreUnavailable, nothing half-written."""
        path = tmp_path / "agent.sqlite3"
        opened = await Store.open(path, CAPS, max_db_bytes=1024 * 1024)
        big = {"note": "x" * 4000}
        stored, refused = 0, None
        for i in range(2000):  # bounded: 1 MiB fills long before this
            try:
                await opened.record(NewSale(f"f-{i}", 100, "JPY", "cash", "succeeded", {}, big))
                stored += 1
            except StoreUnavailable as err:
                refused = err
                break
        await opened.close()
        assert refused is not None and "full" in refused.message
        assert verify_chain(path) == stored > 0
        bigger = await Store.open(path, CAPS)  # quota lifted: the chain continues at stored + 1
        assert (await bigger.record(cash("after"))).sale.seq == stored + 1
        await bigger.close()

    async def test_full_disk_refuses_then_recovers(self, tmp_path: Path) -> None:
        """On a real small tmpfs filled to the last byte, sales fail (StoreUnavailable), then work again."""
        mount = tmp_path / "disk"
        mount.mkdir()
        if (
            shutil.which("mount") is None
            or subprocess.run(  # noqa: ASYNC221 -- mount/umount take milliseconds
                ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                capture_output=True,
                check=False,
            ).returncode
            != 0
        ):
            pytest.skip("cannot mount a tmpfs here (needs root)")
        try:
            opened = await Store.open(mount / "agent.sqlite3", CAPS)
            first = (await opened.record(cash("before"))).sale
            filler = mount / "filler"
            with filler.open("wb") as fh, pytest.raises(OSError):
                for _ in range(64):  # bounded: 64 MiB > the 4 MiB disk
                    fh.write(b"\0" * 1024 * 1024)
                    fh.flush()
            with pytest.raises(StoreUnavailable):
                for i in range(200):  # bounded; the WAL needs new pages within a few sales
                    await opened.record(
                        NewSale(f"full-{i}", 100, "JPY", "cash", "succeeded", {}, {"pad": "y" * 3000})
                    )
            filler.unlink()
            after = (await opened.record(cash("after"))).sale
            await opened.close()
            assert after.seq > first.seq and verify_chain(mount / "agent.sqlite3") == after.seq
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)  # noqa: ASYNC221


class TestMigrationRunner:
    async def test_new_file_is_picked_up_on_next_open(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A migration file that appears later (say another engineer's 9999_*.sql) is applied at next open."""
        path = tmp_path / "agent.sqlite3"
        await (await Store.open(path, CAPS)).close()
        extra = [*migration_files(), ("9999_extra.sql", "CREATE TABLE extra (x INTEGER);")]
        monkeypatch.setattr("agent.adapters.store.database.migrations", lambda: extra)
        await (await Store.open(path, CAPS)).close()
        with sqlite3.connect(path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
            assert conn.execute("SELECT COUNT(*) FROM extra").fetchone() == (0,)
        assert names[-1] == "9999_extra.sql"

    async def test_failing_file_is_not_half_applied(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A migration failing midway leaves neither its tables nor its record; the open fails clearly."""
        path = tmp_path / "agent.sqlite3"
        await (await Store.open(path, CAPS)).close()
        broken = [
            *migration_files(),
            ("0301_broken.sql", "CREATE TABLE half (x INTEGER); CREATE TABLE oops (;"),
        ]
        monkeypatch.setattr("agent.adapters.store.database.migrations", lambda: broken)
        with pytest.raises(MigrationError, match=r"0301_broken\.sql"):
            await Store.open(path, CAPS)
        with sqlite3.connect(path) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            recorded = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        assert "half" not in tables and "0301_broken.sql" not in recorded
