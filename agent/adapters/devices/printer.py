"""Receipt printer service: ReceiptPrinterPort over the durable print queue, one worker per printer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from agent.adapters.devices.config import PrinterConfig
from agent.adapters.devices.link import DeviceLink, present
from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.print_jobs import PrintJob, PrintJobs
from agent.domain.errors import StoreUnavailable
from agent.domain.ports import SaleReceipt, Slip
from agent.services.print_queue import PrintQueue
from drivers.errors import DeviceDisconnected, DeviceTimeout, DriverError, ProtocolError
from drivers.escpos import encode
from drivers.escpos.receipt import build_receipt, build_slip
from drivers.escpos.status import UNKNOWN, PrinterStatus, parse_answer
from drivers.transport import Transport
from drivers.transport.serial import SerialTransport
from drivers.transport.tcp import TcpTransport
from drivers.transport.usblp import UsbLpTransport
from sync.telemetry import span, traced

_log = logging.getLogger("agent.adapters.devices.printer")
MESSAGES = {
    "unplugged": "Printer cable unplugged: reconnect the printer's cable.",
    "off": "Printer is switched off or not answering: switch it on.",
    "network": "Printer is switched off or its network cable is unplugged.",
    "paper_out": "Printer is out of paper: load a new roll.",
    "cover_open": "Printer cover is open: close the cover.",
    "near_end": "Printer paper is running low: have a new roll ready.",
    "garbled": "Printer answers with garbled data: switch it off and on.",
}
_STATUS_QUERY = encode.status_request(1) + encode.status_request(2) + encode.status_request(4)


def make_printer_transport(cfg: PrinterConfig) -> Transport:
    """The transport the config names."""
    if cfg.transport == "tcp":
        return TcpTransport(str(cfg.host), cfg.port)
    if cfg.transport == "usblp":
        return UsbLpTransport(str(cfg.path))
    return SerialTransport(str(cfg.path), cfg.baudrate)


class PrinterService:
    """Prints queued jobs exactly once; health tells the cashier what is wrong with the printer."""

    def __init__(
        self, cfg: PrinterConfig, database: AgentDatabase, name: str = "printer", reopen_max_s: float = 5.0
    ) -> None:
        self.cfg = cfg
        self.link = DeviceLink(
            name, "printer", lambda: make_printer_transport(cfg),
            path=cfg.path if cfg.transport != "tcp" else None,
            debounce_s=cfg.debounce_s, reopen_max_s=reopen_max_s,
        )
        self.queue = PrintQueue(PrintJobs(database, name))
        self._wake = asyncio.Event()
        # On a link without status answers the last real exchange is the last write: after one the printer
        # did not take (timed out), a reopened port proves nothing until a write goes through again.
        self._write_stuck = False

    @traced("device.print.enqueue")
    async def print_receipt(self, receipt: SaleReceipt) -> str:
        """Queue the receipt (committed) and return the job id; the same sale twice gives the same job."""
        kick = self.cfg.kick_drawer_on_cash and receipt.payment_method == "cash"
        payload = build_receipt(receipt, width=self.cfg.columns, kick_drawer=kick)
        job_id = await self.queue.enqueue(payload, "receipt", receipt.receipt_id)
        self._wake.set()
        return job_id

    async def print_slip(self, slip: Slip, document_id: str) -> str:
        """Queue a report slip (committed) as the receipt of `document_id`: asked twice, the same job."""
        job_id = await self.queue.enqueue(build_slip(slip, width=self.cfg.columns), "receipt", document_id)
        self._wake.set()
        return job_id

    async def test_print(self) -> str:
        """Queue a short test page."""
        payload = encode.init() + encode.japanese_setup() + encode.textln("TEST PRINT テスト印字")
        return await self.print_raw(payload + encode.cut(feed_lines=4))

    async def print_raw(self, payload: bytes) -> str:
        """Queue ready-made ESC/POS bytes (test pages, diagnostics) as a 'test' job."""
        job_id = await self.queue.enqueue(payload, "test")
        self._wake.set()
        return job_id

    async def reprint(self, job_id: str) -> str | None:
        """Cashier: print a held/failed job, or a copy of a printed one; returns the job that will print."""
        new_id = await self.queue.reprint(job_id)
        self._wake.set()
        return new_id

    async def drop(self, job_id: str) -> bool:
        """Cashier: cancel a job that has not printed."""
        return await self.queue.drop(job_id)

    async def jobs(self, limit: int = 50) -> list[PrintJob]:
        """Recent jobs, newest first."""
        return await self.queue.jobs(limit)

    async def start(self) -> None:
        """Hold jobs a crash left mid-print, start the worker."""
        await self.queue.recover_interrupted()
        self.link.start_task(self._run())

    async def stop(self) -> None:
        """Stop the worker and close the printer (the queue lives in the agent database)."""
        await self.link.stop_task()

    async def _run(self) -> None:
        while not self.link.stopping.is_set():
            try:
                await self.print_once()
            except DriverError as err:
                await self.link.fail(err, self._message_for(err))
                self.link.faulty = isinstance(err, ProtocolError)
                await self.link.wait_retry(self.link.stopping)
                continue
            except (StoreUnavailable, sqlite3.Error, OSError) as err:
                # The queue's database failed (locked past busy_timeout, disk full): keep the worker alive.
                _log.error("print queue of %s failed: %s", self.link.name, err)
                self.link.problem(f"Print queue error ({type(err).__name__}); jobs wait.")
                await self.link.wait_retry(self.link.stopping)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.cfg.status_poll_s)

    async def print_once(self) -> int:
        """One bounded pass: open, check status, print every queued job; returns how many printed."""
        transport = await self.link.ensure_open()
        status = await self._status(transport)
        blocked = "cover_open" if status.cover_open else "paper_out" if status.paper == "out" else None
        if blocked is not None:
            self.link.ok(status.paper)
            self.link.problem(MESSAGES[blocked])
            return 0
        if self._answers(transport) or not self._write_stuck:  # answered DLE EOT just now, or nothing stuck
            self.link.ok(status.paper, MESSAGES["near_end"] if status.paper == "near_end" else None)
        await self.queue.hold_stale(self.cfg.hold_after_s)
        printed = 0
        while (job := await self.queue.next_queued()) is not None:
            job_id, payload = job
            if not await self.queue.move(job_id, "printing", ("queued",)):
                continue
            try:
                with span("device.print", {"mpac.print.job_id": job_id, "mpac.print.bytes": len(payload)}):
                    await transport.write(payload)
            except DriverError as err:
                # Some bytes may be on paper already: never resend by itself; the cashier decides.
                self._write_stuck = isinstance(err, DeviceTimeout)
                await self.queue.move(job_id, "failed", ("printing",), self._message_for(err))
                raise
            await self.queue.move(job_id, "printed", ("printing",))
            printed += 1
            if self._write_stuck:
                self._write_stuck = False
                self.link.ok(status.paper)
        return printed

    async def _status(self, transport: Transport) -> PrinterStatus:
        """DLE EOT 1, 2 and 4 on two-way links; no answer = switched off, a bad byte = garbled."""
        if not self._answers(transport):
            return UNKNOWN
        for _ in range(8):  # drop stale bytes (late answers) so replies line up with this query
            if not await transport.read(256, 0.01):
                break
        await transport.write(_STATUS_QUERY)
        answer = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while len(answer) < 3 and (left := deadline - loop.time()) > 0:
            answer += await transport.read(3 - len(answer), left)
        if len(answer) < 3:
            raise DeviceTimeout("no answer to DLE EOT")
        return parse_answer(answer)

    def _answers(self, transport: Transport) -> bool:
        """Whether this printer is asked for its status (so its health comes from its answers)."""
        return self.cfg.query_status and transport.two_way

    def _message_for(self, err: DriverError) -> str:
        if not present(self.cfg.path):
            return MESSAGES["unplugged"]
        if isinstance(err, ProtocolError):
            return MESSAGES["garbled"]
        if isinstance(err, DeviceTimeout):
            return MESSAGES["off"]
        if isinstance(err, DeviceDisconnected) and self.cfg.transport == "tcp":
            return MESSAGES["network"]
        return MESSAGES["unplugged"] if isinstance(err, DeviceDisconnected) else MESSAGES["off"]
