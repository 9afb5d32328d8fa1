"""Benchmark: a 20-line receipt with a native QR — ours (drivers.escpos) vs python-escpos's Dummy printer.

Both sides build the same receipt in the same run: the same layout helpers (two_columns, money), the same
labels, the same commands (init, align, bold, size, text lines, native GS ( k QR, cut); the bench checks that
both print the same text (parsed back by the printer simulator's parser). python-escpos reuses one Dummy
(clear() per receipt), so its profile loading is not counted. Every call encodes a different SaleReceipt (own
receipt id, number, time, QR URL and mix of item lines) from a pool built before timing; a round never encodes
a sale twice and both sides walk the same sales in the same order. The sides alternate in ROUNDS rounds; each
side's best round counts (as timeit advises: other processes on a shared machine only add time) and the
median round is printed too. Contents:
  ascii    — English labels and ASCII item names, where both encoders produce correct bytes (the fair
             speed comparison);
  japanese — Japanese labels and items, the receipts we actually print; python-escpos's output there is wrong
             (GB18030 / '?'), so that ratio is shown only for information.
Run: .venv/bin/python bench/receipt_encode.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from escpos.printer import Dummy

from agent.domain.ports import ReceiptLine, SaleReceipt
from drivers.escpos.receipt import ENGLISH, JAPANESE, JST, Labels, build_receipt, money, two_columns
from drivers.simulators.escpos_parse import EscPosParser

WIDTH = 42


POOL = 20_000  # distinct sales per content; also the most calls a side makes in one round
_CATALOGUE = 997  # distinct item lines the sales draw their 20 lines from


def make_sale(japanese: bool, k: int = 0, catalogue: list[ReceiptLine] | None = None) -> SaleReceipt:
    """The k-th 20-line cash sale: its own id, number, time and lines."""
    if catalogue is None:
        catalogue = make_catalogue(japanese)
    lines = tuple(catalogue[(k * 20 + i) % len(catalogue)] for i in range(20))
    total = sum(line.amount for line in lines)
    rid = f"0193a1b2-c3d4-7e5f-8a9b-{k:012x}"
    store = "テスト商店" if japanese else "MPAC Store"
    return SaleReceipt(rid, 1234 + k, store, 1764034200000 + k * 37_000, "JPY", total, total // 11, "cash",
                       lines, total + 1000, 1000, qr_url=f"https://r.example/r/{rid}")


def make_catalogue(japanese: bool) -> list[ReceiptLine]:
    """Item lines: varied names, quantities 1-3 and amounts."""
    names = [f"おにぎり 鮭 {i}" if japanese else f"Onigiri salmon {i}" for i in range(_CATALOGUE)]
    return [ReceiptLine(name, 1 + i % 3, 150 * (1 + i % 7)) for i, name in enumerate(names)]


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


def measure(
    fn: Callable[[SaleReceipt], bytes], sales: list[SaleReceipt], seconds: float
) -> tuple[float, int]:
    """Mean seconds per call over one round (each sale at most once) bounded by count and time; runs done."""
    it: Iterator[SaleReceipt] = iter(sales)
    runs, start = 0, time.perf_counter()
    deadline = start + seconds
    for sale in it:
        fn(sale)
        runs += 1
        if time.perf_counter() >= deadline:
            break
    return (time.perf_counter() - start) / runs, runs


def main() -> None:
    """Print both timings and the ratio for ASCII and Japanese receipts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per side, content and round")
    args = parser.parse_args()
    printer = Dummy()
    for content in ("ascii", "japanese"):
        japanese = content == "japanese"
        catalogue = make_catalogue(japanese)
        sales = [make_sale(japanese, k, catalogue) for k in range(POOL)]
        labels = JAPANESE if japanese else ENGLISH
        sides: dict[str, Callable[[SaleReceipt], bytes]] = {
            "ours": lambda s, lb=labels: build_receipt(s, WIDTH, labels=lb),  # type: ignore[misc]
            "python-escpos": lambda s, lb=labels: python_escpos(printer, s, lb),  # type: ignore[misc]
        }
        rounds: dict[str, list[float]] = {name: [] for name in sides}
        runs = dict.fromkeys(sides, 0)
        for fn in sides.values():
            for sale in sales[:50]:  # warm-up, same for both
                fn(sale)
        for _ in range(ROUNDS):
            for name, fn in sides.items():
                mean, done = measure(fn, sales, args.seconds)
                rounds[name].append(mean)
                runs[name] += done
        ours, theirs = min(rounds["ours"]), min(rounds["python-escpos"])
        ours_med, theirs_med = statistics.median(rounds["ours"]), statistics.median(rounds["python-escpos"])
        sale = sales[0]
        print(f"[{content}] 20 lines + native QR, a different sale per call, {ROUNDS} alternating rounds")
        print(f"  ours (drivers.escpos.receipt)   {ours * 1e6:8.1f} us/receipt best,"
              f" {ours_med * 1e6:.1f} median  ({runs['ours']} runs, {len(sides['ours'](sale))} B)")
        print(f"  python-escpos Dummy (baseline)  {theirs * 1e6:8.1f} us/receipt best,"
              f" {theirs_med * 1e6:.1f} median  ({runs['python-escpos']} runs,"
              f" {len(sides['python-escpos'](sale))} B)")
        print(f"  ratio baseline/ours             {theirs / ours:8.1f}x best,"
              f" {theirs_med / ours_med:.1f}x median  (goal >= 10x)")
        # A fresh Dummy: a reused one skips re-selecting its code page after ESC @ (its encoder keeps state).
        same = printed(sides["ours"](sale)) == printed(python_escpos(Dummy(), sale, labels))
        print(f"  same printed text               {'yes' if same else 'no (python-escpos garbles Japanese)'}")


if __name__ == "__main__":
    main()
