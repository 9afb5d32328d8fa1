"""All three simulators at once, for the demo and end-to-end tests: start, get the [devices] table, stop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.simulators.cardreader import CardReaderSimulator, CardRules
from drivers.simulators.printer import PrinterSimulator
from drivers.simulators.scanner import ScannerSimulator


@dataclass
class SimulatorRig:
    """Running simulators and the device paths (symlinks in `directory`) the agent should open."""

    printer: PrinterSimulator
    scanner: ScannerSimulator
    card_reader: CardReaderSimulator
    printer_tcp: tuple[str, int] | None = None

    def devices_config(self) -> dict[str, Any]:
        """The [devices] table pointing the agent at these simulators."""
        if self.printer_tcp is not None:
            host, port = self.printer_tcp
            printer: dict[str, Any] = {"transport": "tcp", "host": host, "port": port}
        else:
            printer = {"transport": "serial", "path": self.printer.path}
        return {
            "printer": printer,
            "scanner": {"transport": "serial", "path": self.scanner.path},
            "card_reader": {"transport": "serial", "path": self.card_reader.path},
        }

    async def stop(self) -> None:
        """Unplug everything and close the TCP listener."""
        await self.printer.stop()
        await self.scanner.stop()
        await self.card_reader.stop()


async def start_simulators(
    directory: Path, printer_over_tcp: bool = False, card_rules: CardRules | None = None
) -> SimulatorRig:
    """Start printer, scanner, card reader on ptys behind symlinks directory/{printer,scanner,card_reader}.

    `directory` must exist. Needs a running event loop (the simulators live on it). With printer_over_tcp the
    printer listens on 127.0.0.1:<free port> instead of a pty.
    """
    rig = SimulatorRig(PrinterSimulator(), ScannerSimulator(), CardReaderSimulator(card_rules))
    if printer_over_tcp:
        rig.printer_tcp = await rig.printer.start_tcp()
    else:
        rig.printer.start_pty(directory / "printer")
    rig.scanner.start_pty(directory / "scanner")
    rig.card_reader.start_pty(directory / "card_reader")
    return rig
