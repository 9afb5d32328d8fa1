"""Benchmark: a 20-line receipt with a native QR — ours (drivers.escpos) vs python-escpos's Dummy printer.

Both sides build the same receipt in the same run: the same layout helpers (two_columns, money), the same
labels, the same commands (init, align, bold, size, text lines, native GS ( k QR, cut); the bench checks that
both print the same text (parsed back by the printer simulator's parser). python-escpos reuses one Dummy
(clear() per receipt), so its profile loading is not counted. The sides alternate in ROUNDS rounds and each
side's best round counts (as timeit advises: other processes on a shared machine only add time). Contents:
  ascii    — English labels and ASCII item names, where both encoders produce correct bytes (the fair
             speed comparison);
  japanese — Japanese labels and items, the receipts we actually print; python-escpos's output there is wrong
             (GB18030 / '?'), so that ratio is shown only for information.
Run: .venv/bin/python bench/receipt_encode.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime

from escpos.printer import Dummy

from agent.ports import ReceiptLine, SaleReceipt
from drivers.escpos.receipt import ENGLISH, JAPANESE, JST, Labels, build_receipt, money, two_columns
from drivers.simulators.escpos_parse import EscPosParser

WIDTH = 42


def make_sale(japanese: bool) -> SaleReceipt:
    """A 20-line cash sale."""
    names = [f"おにぎり 鮭 {i}" if japanese else f"Onigiri salmon {i}" for i in range(20)]
    lines = tuple(ReceiptLine(name, 1 + i % 3, 150 * (1 + i % 7)) for i, name in enumerate(names))
    total = sum(line.amount for line in lines)
    rid = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    store = "テスト商店" if japanese else "MPAC Store"
    return SaleReceipt(rid, 1234, store, 1764034200000, "JPY", total, total // 11, "cash", lines,
                       total + 1000, 1000, qr_url=f"https://r.example/r/{rid}")


def python_escpos(printer: Dummy, r: SaleReceipt, labels: Labels) -> bytes:
    """The same receipt (layout, labels, commands) through python-escpos: magic text encoder, native QR."""
    printer.clear()
    p, cur = printer, r.currency
    p.hw("INIT")
    p.set(align="center", bold=True, custom_size=True, width=2, height=2)
    p.textln(r.store_name)
    p.set(custom_size=True, width=1, height=1)
    p.textln(labels.title)
    p.set(align="left", bold=False)
    when = datetime.fromtimestamp(r.created_at_ms / 1000, JST).strftime("%Y-%m-%d %H:%M")
    p.textln(two_columns(when, f"No.{r.receipt_number:06d}", WIDTH))
    p.textln("-" * WIDTH)
    for line in r.lines:
        qty = f"x{line.quantity} " if line.quantity != 1 else ""
        p.textln(two_columns(line.name, qty + money(line.amount, cur), WIDTH))
    p.textln("-" * WIDTH)
    p.set(bold=True, custom_size=True, width=1, height=2)
    p.textln(two_columns(labels.total, money(r.total, cur), WIDTH))
    p.set(bold=False, custom_size=True, width=1, height=1)
    p.textln(two_columns(labels.tax, money(r.tax, cur), WIDTH))
    p.textln(two_columns(labels.method, labels.methods[r.payment_method], WIDTH))
    p.textln(two_columns(labels.tendered, money(r.cash_received or 0, cur), WIDTH))
    p.textln(two_columns(labels.change, money(r.change or 0, cur), WIDTH))
    p.textln("-" * WIDTH)
    p.set(align="center")
    p.qr(r.qr_url, ec=1, size=4, native=True)
    p.ln()
    p.textln(r.receipt_id)
    p.set(align="left")
    p.cut("PART")
    return bytes(p.output)


ROUNDS = 5


def printed(data: bytes) -> list[str]:
    """The receipt text as the printer would print it, trailing blanks ignored."""
    parser = EscPosParser()
    parser.feed(data)
    return [line.rstrip() for line in parser.paper.text().splitlines() if line.strip()]


def measure(fn: Callable[[], bytes], seconds: float, max_runs: int) -> tuple[float, int]:
    """Mean seconds per call over one round bounded by count and time; runs done."""
    runs, start = 0, time.perf_counter()
    deadline = start + seconds
    while runs < max_runs and time.perf_counter() < deadline:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs, runs


def main() -> None:
    """Print both timings and the ratio for ASCII and Japanese receipts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per side, content and round")
    args = parser.parse_args()
    printer = Dummy()
    for content in ("ascii", "japanese"):
        sale = make_sale(content == "japanese")
        labels = JAPANESE if content == "japanese" else ENGLISH
        sides: dict[str, Callable[[], bytes]] = {
            "ours": lambda s=sale, lb=labels: build_receipt(s, WIDTH, labels=lb),  # type: ignore[misc]
            "python-escpos": lambda s=sale, lb=labels: python_escpos(printer, s, lb),  # type: ignore[misc]
        }
        best = {name: float("inf") for name in sides}
        runs = dict.fromkeys(sides, 0)
        for fn in sides.values():
            for _ in range(50):  # warm-up, same for both
                fn()
        for _ in range(ROUNDS):
            for name, fn in sides.items():
                mean, done = measure(fn, args.seconds, 100_000)
                best[name], runs[name] = min(best[name], mean), runs[name] + done
        ours, theirs = best["ours"], best["python-escpos"]
        print(f"[{content}] 20 lines + native QR, best of {ROUNDS} alternating rounds")
        print(f"  ours (drivers.escpos.receipt)   {ours * 1e6:8.1f} us/receipt"
              f"  ({runs['ours']} runs, {len(sides['ours']())} B)")
        print(f"  python-escpos Dummy (baseline)  {theirs * 1e6:8.1f} us/receipt"
              f"  ({runs['python-escpos']} runs, {len(sides['python-escpos']())} B)")
        print(f"  ratio baseline/ours             {theirs / ours:8.1f}x  (goal >= 10x)")
        # A fresh Dummy: a reused one skips re-selecting its code page after ESC @ (its encoder keeps state).
        same = printed(sides["ours"]()) == printed(python_escpos(Dummy(), sale, labels))
        print(f"  same printed text               {'yes' if same else 'no (python-escpos garbles Japanese)'}")


if __name__ == "__main__":
    main()
